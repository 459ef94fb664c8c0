"""`stack dev`: `stack up` with the app mounted, then watch, check and reload, with the logs.

Each burst of saves is one batch: the app's files are read as the image build reads them
(.dockerignore and the kit's exclusions), compared with the running copy, and then:
requirements or topology changed -> `stack up` rebuilds; a file that does not compile or
import -> one line per group concerned, the old code keeps serving; else the new copy goes
live and only the processes that imported a changed file restart (plan.py).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from kombu.exceptions import KombuError

from stack.container import paths
from stack.deploy.context import EXCLUDED, app_files, app_root
from stack.deploy.dev.logs import LogStreams
from stack.deploy.dev.mirror import sync
from stack.deploy.dev.mounts import DevDirs, DevMode, chosen_groups
from stack.deploy.dev.plan import Process, Reload, changed_files, plan_reload, syntax_errors
from stack.deploy.docker import client as docker_client
from stack.deploy.docker import labels
from stack.deploy.docker.client import Container
from stack.deploy.ops import steer
from stack.deploy.ops.control import Control
from stack.deploy.ops.endpoints import host_urls
from stack.deploy.ops.project import Project, open_project
from stack.deploy.ops.up import UpResult, up
from stack.deploy.roles import APP_ROLES, DEV_ROLES, Role
from stack.errors import StackError

Say = Callable[[str], None]
RELOAD_TIMEOUT = 60.0  # seconds for a process to start again once its old one has stopped
POLL = 0.05


@dataclass
class Settings:
    path: Path | None
    groups: list[str] | None
    timeout: float
    poll: bool


class DevSession:
    def __init__(self, settings: Settings, say: Say, log: Callable[[str, str], None]) -> None:
        self.settings = settings
        self.say = say
        self.project: Project = open_project(settings.path)
        self.mode = DevMode(
            DevDirs.of(self.project.loaded.base_dir, self.project.name),
            chosen_groups(self.project.services, settings.groups),
        )
        self.docker = docker_client.get()
        self.streams = LogStreams(self.docker, log)
        self.live: dict[str, bytes] = {}
        self.topology_text = b""
        self.refused: list[str] = []  # the last batch's errors, said once

    @property
    def dirs(self) -> DevDirs:
        return self.mode.dirs

    # -- start ------------------------------------------------------------------------------

    def start(self) -> UpResult:
        self.dirs.create()
        files = app_files(self.project.loaded)
        changed = sync(self.dirs.live, files)
        sync(self.dirs.next, files)
        self.live = files
        result = self._up()
        # Containers `stack up` kept may have run an older copy (edits made between sessions).
        if changed:
            kept = {c.container for c in result.changes if c.action == "unchanged"}
            self._reload(changed, only=kept)
        return result

    def _up(self) -> UpResult:
        self.topology_text = self.project.loaded.path.read_bytes()
        started = time.time()
        result = up(self.settings.path, timeout=self.settings.timeout, dev=self.mode)
        self.project = open_project(self.settings.path)
        self.streams.follow(self._containers(APP_ROLES), since=started)
        return result

    # -- one batch of edits -------------------------------------------------------------------

    def watched(self) -> list[Path]:
        """What to watch: the app's directory, and the topology file if it lies outside."""
        root = app_root(self.project.loaded)
        topology = self.project.loaded.path.resolve()
        return [root] if root in topology.parents else [root, topology]

    def rebuild_on(self) -> set[str]:
        """The app's files that the image's layers below the code are built from."""
        loaded = self.project.loaded
        root = app_root(loaded)
        out = set()
        if loaded.topology.image.requirements:
            out.add(loaded.topology.image.requirements)
        topology = loaded.path.resolve()
        if root in topology.parents:
            out.add(topology.relative_to(root).as_posix())
        return out

    def handle(self) -> None:
        """Apply what changed since the last batch."""
        try:
            files = app_files(self.project.loaded)
            topology_text = self.project.loaded.path.read_bytes()
        except OSError as exc:  # a file removed while it was read: the next batch sees it
            self.say(f"could not read the app: {exc}")
            return
        changed = changed_files(self.live, files)
        if topology_text != self.topology_text:
            changed.add(self.project.loaded.path.name)
        if not changed:
            return
        errors = syntax_errors(files, changed)
        plan = plan_reload(changed, self._processes(), self.rebuild_on())
        if errors:
            self._refuse(errors, plan)
            return
        self.refused = []
        if plan.rebuild or topology_text != self.topology_text:
            self._rebuild(files, changed, plan)
            return
        if not plan.restart:
            self._go_live(files)
            names = ", ".join(sorted(changed))
            self.say(f"{names} changed: no running worker or beat imports it; nothing restarted")
            return
        sync(self.dirs.next, files, before=self.live)
        failures = self._check(plan)
        if failures:
            sync(self.dirs.next, self.live, before=files)
            self._say_once(
                [
                    f"{service}: {line} (still running the previous code)"
                    for service, lines in failures.items()
                    for line in lines
                ]
            )
            return
        self._go_live(files)
        self._restart(plan)

    def _go_live(self, files: dict[str, bytes]) -> None:
        sync(self.dirs.live, files, before=self.live)
        if self.dirs.next.exists():
            sync(self.dirs.next, files)
        self.live = files

    def _refuse(self, errors: list[str], plan: Reload) -> None:
        """Report what does not compile, for the groups that import it."""
        groups = ", ".join(sorted(plan.restart)) or "no running process imports it"
        self._say_once([f"{groups}: {line} (still running the previous code)" for line in errors])

    def _say_once(self, lines: list[str]) -> None:
        if lines != self.refused:  # a save elsewhere meanwhile: said already
            for line in lines:
                self.say(line)
        self.refused = lines

    def _rebuild(self, files: dict[str, bytes], changed: set[str], plan: Reload) -> None:
        what = ", ".join(plan.rebuild or sorted(changed))
        self.say(f"{what} changed: rebuilding the image and running `stack up`")
        self._go_live(files)
        try:
            result = self._up()
        except StackError as exc:  # an invalid topology, a failed build: keep watching
            self.say(f"stack up failed: {exc}")
            return
        counts = ", ".join(
            f"{result.count(a)} {a}" for a in ("created", "recreated", "removed", "unchanged")
        )
        built = "image built; " if result.image_built else ""
        self.say(f"up in {result.seconds:.1f} s ({built}{counts})")
        kept = {c.container for c in result.changes if c.action == "unchanged"}
        code = changed - set(plan.rebuild) - {self.project.loaded.path.name}
        if code:
            self._reload(code, only=kept)

    # -- processes ----------------------------------------------------------------------------

    def _containers(self, roles: frozenset[Role], running: bool = True) -> list[Container]:
        """The project's containers of roles; running=False: also those that exited (a
        process that failed to start on an earlier copy starts again on the next)."""
        return [
            c
            for c in self.docker.containers(self.project.name)
            if c.labels.get(labels.ROLE) in roles and (c.status == "running" or not running)
        ]

    def _record(self, name: str) -> dict[str, object] | None:
        try:
            data = json.loads((self.dirs.state / f"{name}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _processes(self) -> list[Process]:
        out = []
        for container in self._containers(DEV_ROLES, running=False):
            record = self._record(container.name) if container.status == "running" else None
            files = record.get("files") if record else None
            out.append(
                Process(
                    container=container.name,
                    service=container.labels.get(labels.SERVICE, ""),
                    imported=frozenset(files) if isinstance(files, list) else None,
                )
            )
        return out

    def _reload(self, changed: set[str], only: set[str]) -> None:
        processes = [p for p in self._processes() if p.container in only]
        plan = plan_reload(changed, processes, set())
        if plan.restart:
            self._restart(plan)

    def _check(self, plan: Reload) -> dict[str, list[str]]:
        """Import the next copy in one container of each group concerned, in parallel."""
        by_name = {c.name: c for c in self._containers(DEV_ROLES)}
        processes = {p.container: p for p in self._processes()}
        available = set(self.next_files())

        def one(service: str) -> tuple[str, list[str]]:
            running = [name for name in plan.restart[service] if name in by_name]
            if not running:  # none runs: its start on the new copy is the check
                return service, []
            container = by_name[running[0]]
            imported = processes[container.name].imported or frozenset()
            modules = sorted((imported | set(plan.because[service])) & available)
            code, output = self.docker.exec_run(
                container,
                ["python", "-m", "stack.container.devcheck", *modules],
                {"STACK_APP_DIR": paths.DEV_NEXT},
            )
            lines = [line for line in output.splitlines() if line.strip()]
            return service, (lines or [f"the import check exited {code}"]) if code else []

        with ThreadPoolExecutor(max_workers=len(plan.restart) or 1) as pool:
            results = dict(pool.map(one, sorted(plan.restart)))
        return {service: lines for service, lines in results.items() if lines}

    def next_files(self) -> Iterator[str]:
        root = self.dirs.next
        return (p.relative_to(root).as_posix() for p in root.rglob("*.py"))

    def _restart(self, plan: Reload) -> None:
        by_name = {c.name: c for c in self._containers(DEV_ROLES, running=False)}
        jobs = [
            (service, by_name[name])
            for service, names in sorted(plan.restart.items())
            for name in names
            if name in by_name
        ]

        self._stop_consuming(jobs)

        def one(job: tuple[str, Container]) -> None:
            service, container = job
            why = ", ".join(plan.because[service])
            started = time.monotonic()
            ok = self.restart_one(service, container)
            took = time.monotonic() - started
            if ok:
                self.say(f"{service}: {container.name} reloaded in {took:.1f} s ({why})")
            else:
                tail = self.docker.tail(container, 3).splitlines()
                last = tail[-1] if tail else "(no logs)"
                self.say(f"{service}: {container.name} did not start again: {last}")

        with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
            list(pool.map(one, jobs))

    def _stop_consuming(self, jobs: list[tuple[str, Container]]) -> None:
        """Tell the workers about to reload to stop taking tasks (Celery's cancel_consumer).

        A worker that stops as it takes a message holds it until its warm shutdown ends
        (1.5 s or more: billiard's pool children sleep 1 s on exit); told first, it runs what
        it holds on the old code and the rest waits in the queue for the new one.
        """
        nodes: dict[str, list[str]] = {}
        for service, container in jobs:
            if container.status == "running" and container.labels.get(labels.ROLE) == Role.WORKER:
                nodes.setdefault(service, []).append(f"{service}@{container.name}")
        if not nodes:
            return
        try:
            broker, _ = host_urls(self.project.loaded)
            with Control(self.project.topology, broker) as control:
                for service, names in sorted(nodes.items()):
                    queues = self.project.topology.workers[service].queues
                    steer.consumers(control, queues, names, timeout=1.0)
        except (
            StackError,
            OSError,
            KombuError,
        ) as exc:  # the reload goes on: a held task starts later
            self.say(f"could not tell the workers to stop consuming first: {exc}")

    def restart_one(self, service: str, container: Container) -> bool:
        """Restart container's process on the live copy; True once it recorded a new boot."""
        record = self._record(container.name) or {}
        group = self.project.topology.workers.get(service)
        grace = group.effective_grace_period if group else 10
        role = container.labels.get(labels.ROLE)
        if container.status != "running":
            self.docker.restart(container, grace)
        elif role == Role.WORKER:
            # The worker's supervisor starts a new worker and stops the old one, warm
            # (running tasks finish) or, `dev_restart: terminate`, cold (container/devreload.py).
            self.docker.signal(container, "SIGHUP")
        else:
            self.docker.restart(container, grace)
        deadline = time.monotonic() + grace + RELOAD_TIMEOUT
        while time.monotonic() < deadline:
            now = self._record(container.name)
            if now is not None and now.get("boot") != record.get("boot"):
                return True
            if self._exited(container):
                return False
            time.sleep(POLL)
        return False

    def _exited(self, container: Container) -> bool:
        """The process exited (a failed start) and Docker does not start it again now."""
        self.docker.reload(container)
        return container.status == "exited" and not container.attrs["State"].get("Restarting")


def watch_filter(exclusions: frozenset[str] = EXCLUDED) -> Callable[[object, str], bool]:
    """Changes under the kit's exclusions (.git, .stack, caches) start no batch."""

    def allowed(_change: object, path: str) -> bool:
        parts = Path(path).parts
        return not any(part in exclusions for part in parts) and not path.endswith(
            (".pyc", ".pyo", ".swp", "~")
        )

    return allowed


def run(session: DevSession, stop: Callable[[], bool] | None = None) -> None:
    """Watch until Ctrl-C (KeyboardInterrupt reaches the caller)."""
    from watchfiles import watch

    for _changes in watch(
        *session.watched(),
        watch_filter=watch_filter(),
        debounce=1600,
        step=50,  # a burst of saves: wait until 50 ms pass without another
        force_polling=True if session.settings.poll else None,
        rust_timeout=500 if stop else 5000,
        yield_on_timeout=stop is not None,
    ):
        if stop is not None and stop():
            return
        if _changes:
            session.handle()
