"""Where things are inside an app container: the image's layout, defined once.

The Dockerfile template (deploy/context.py fills it from here), the Helm chart (its
`container:` values, from render/helm_values.py) and the code on both sides of the image
read these. The module lives in container/ because it describes the container's file
system and must import in the image with nothing but the standard library; host code
imports it the way it imports container.health's probes, and settings/ needs none of it
(the snapshot reader takes its paths as arguments).
"""

from __future__ import annotations

APP_DIR = "/app"  # the user's code: the working directory, the user's home
TOPOLOGY = "/etc/stack/topology.yaml"  # the topology file ($STACK_TOPOLOGY)
KIT_DIR = "/opt/stack"  # on PYTHONPATH: holds the kit's package, stack/
SNAPSHOT = f"{KIT_DIR}/topology.snapshot"  # settings taken at build time ($STACK_SNAPSHOT)
VENV = "/opt/venv"  # Celery, the kit's and the app's requirements
DATA_DIR = "/var/lib/stack"  # the kit's persistent state, owned by UID
BEAT_DIR = f"{DATA_DIR}/beat"  # beat's schedule file (a volume)
# Writable even with a read-only root file system: the chart mounts an emptyDir here.
TMP_DIR = "/tmp"
STATE_DIR = f"{TMP_DIR}/stack"  # the health files ($STACK_STATE_DIR)
# The non-root user the app runs as: numeric, so Kubernetes' runAsNonRoot can check it.
USER = "stack"
UID = 10001
GID = 10001
# `stack dev` only (deploy/dev/): the host's checked copy of the app, mounted read-only over
# APP_DIR; the next copy, imported once before it goes live; where each process records
# the app modules it imported, so the host reloads only the processes an edit concerns.
DEV_DIR = "/opt/stack-dev"
DEV_NEXT = f"{DEV_DIR}/next"
DEV_STATE = f"{DEV_DIR}/state"
