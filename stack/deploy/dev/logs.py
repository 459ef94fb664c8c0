"""The app containers' logs in `stack dev`'s terminal, each line prefixed by its container.

A container's stream ends when it stops (a restart, a recreate): it is followed again from
where it ended for as long as the container exists.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from stack.deploy.docker.client import Container, DockerClient
from stack.errors import StackError

Say = Callable[[str, str], None]  # (container name, line)


class LogStreams:
    def __init__(self, docker: DockerClient, say: Say) -> None:
        self.docker = docker
        self.say = say
        self.following: set[str] = set()  # container ids
        self.lock = threading.Lock()

    def follow(self, containers: list[Container], since: float | None = None) -> None:
        """Stream each container not streamed yet, from since (default: now)."""
        start = time.time() if since is None else since
        for container in containers:
            with self.lock:
                if container.id in self.following:
                    continue
                self.following.add(container.id)
            threading.Thread(
                target=self._run, args=(container, start), name="stack-dev-logs", daemon=True
            ).start()

    def _run(self, container: Container, since: float) -> None:
        try:
            while True:
                pending = b""
                try:
                    stream = self.docker.logs(container, tail="all", follow=True, since=since)
                except StackError:  # removed meanwhile
                    return
                for chunk in stream:
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    for line in complete:
                        self.say(container.name, line.decode("utf-8", "replace"))
                if pending:
                    self.say(container.name, pending.decode("utf-8", "replace"))
                since = time.time()
                time.sleep(0.2)  # stopped: restarted by Docker or by `stack dev`, or gone
                if not self._exists(container):
                    return
        finally:
            with self.lock:
                self.following.discard(container.id)

    def _exists(self, container: Container) -> bool:
        try:
            self.docker.reload(container)
        except StackError:  # removed: a recreate streams its new container
            return False
        return True
