"""`stack logs`: the logs of every replica, or one service's, prefixed by container name."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

from stack.deploy.docker import client as docker_client
from stack.deploy.docker import labels
from stack.deploy.docker.client import Container, DockerClient
from stack.errors import StackError
from stack.topology.load import load

_DONE = object()


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", "replace").splitlines()


def _follow(
    docker: DockerClient, container: Container, out: queue.Queue[object], tail: int | str
) -> None:
    pending = b""
    try:
        for chunk in docker.logs(container, tail=tail, follow=True):
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                out.put((container.name, line.decode("utf-8", "replace")))
        if pending:
            out.put((container.name, pending.decode("utf-8", "replace")))
    except StackError as exc:
        out.put((container.name, f"(logs ended: {exc})"))
    finally:
        out.put(_DONE)


def logs(
    path: str | Path | None = None,
    service: str | None = None,
    follow: bool = False,
    tail: int | None = None,
) -> Iterator[tuple[str, str]]:
    """(container name, line) pairs: each container's lines in order; --follow interleaves."""
    topology = load(path, full=False).topology
    docker = docker_client.get()
    containers = docker.containers(topology.name, service)
    if service is not None and not containers:
        known = sorted({c.labels.get(labels.SERVICE, "") for c in docker.containers(topology.name)})
        if not known:
            raise StackError(f"the stack '{topology.name}' is not running: run `stack up`")
        raise StackError(
            f"no service {service!r} in {topology.name}: services are {', '.join(known)}"
        )
    since: int | str = "all" if tail is None else tail
    if not follow:
        for container in containers:
            for line in _lines(bytes(docker.logs(container, tail=since))):
                yield container.name, line
        return
    out: queue.Queue[object] = queue.Queue()
    for container in containers:
        threading.Thread(target=_follow, args=(docker, container, out, since), daemon=True).start()
    running = len(containers)
    while running:
        item = out.get()
        if item is _DONE:
            running -= 1
            continue
        assert isinstance(item, tuple)
        yield str(item[0]), str(item[1])
