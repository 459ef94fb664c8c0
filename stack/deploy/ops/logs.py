"""`stack logs`: the logs of every replica, or one service's, prefixed by container name;
`interleave` follows several streams at once (the Swarm edge follows services with it)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import partial
from pathlib import Path

from stack.deploy.docker import client as docker_client
from stack.deploy.docker import labels
from stack.errors import StackError
from stack.topology.load import load

_DONE = object()
Stream = Callable[[], Iterable[bytes]]  # opens a stream of byte chunks


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", "replace").splitlines()


def _pump(name: str, open_stream: Stream, out: queue.Queue[object]) -> None:
    pending = b""
    try:
        for chunk in open_stream():
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                out.put((name, line))
        if pending:
            out.put((name, pending))
    except Exception as exc:  # a stream cut off (engine gone): said in a line, the rest go on
        out.put((name, f"(logs ended: {exc})".encode()))
    finally:
        out.put(_DONE)


def interleave(streams: Mapping[str, Stream]) -> Iterator[tuple[str, bytes]]:
    """(name, line) of several byte streams at once, each opened and read in a thread of
    its own: one stream's lines in order, the streams' as they arrive; until all end."""
    out: queue.Queue[object] = queue.Queue()
    for name, open_stream in streams.items():
        threading.Thread(target=_pump, args=(name, open_stream, out), daemon=True).start()
    running = len(streams)
    while running:
        item = out.get()
        if item is _DONE:
            running -= 1
            continue
        assert isinstance(item, tuple)
        yield str(item[0]), bytes(item[1])


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
    streams = {c.name: partial(docker.logs, c, tail=since, follow=True) for c in containers}
    for name, data in interleave(streams):
        yield name, data.decode("utf-8", "replace")
