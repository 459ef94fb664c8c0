"""What each service and Docker resource of a stack is for, and the sets of roles code acts on.

A StrEnum: the values are the strings that io.stack.role labels and rendered files carry,
so a member compares and hashes equal to its label text. Every set of roles lives in the
table below; code asks `role in APP_ROLES`, never `role == "worker"`.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    # Services of the plan (stack.deploy.services).
    BROKER = "broker"
    BACKEND = "backend"  # a result backend server that is not also the broker
    WORKER = "worker"
    BEAT = "beat"
    MONITOR = "monitor"  # Flower
    METRICS = "metrics"  # the Prometheus exporter (container/exporter.py)
    # The do-nothing container whose network namespace workers and beat share (netns.py).
    NETNS = "netns"
    # A one-off run of the app image that lists the app's registered tasks (ops/registered.py).
    TASKS = "tasks"
    # Resources that are not containers.
    NETWORK = "network"
    VOLUME = "volume"
    IMAGE = "image"


# Run the app image: built from the user's code, hashed by revision.app_revisions.
APP_ROLES = frozenset({Role.WORKER, Role.BEAT, Role.MONITOR, Role.METRICS})
# The servers the apps connect to: `stack up` starts them alongside the apps, not after.
INFRA_ROLES = frozenset({Role.BROKER, Role.BACKEND})
# Publish nothing and are connected to by nobody: they join the holder's namespace.
JOINING_ROLES = frozenset({Role.WORKER, Role.BEAT})
# `stack down` stops these after the apps, which finish and ack their tasks through the
# broker, from the holder's namespace.
STOPPED_LAST = INFRA_ROLES | {Role.NETNS}
# Run the app from `stack dev`'s mounted copy and restart on its edits (deploy/dev/).
DEV_ROLES = frozenset({Role.WORKER, Role.BEAT})
