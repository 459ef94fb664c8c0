"""The one thin wrapper around the Docker SDK: every call goes through it, every error is ours.

The SDK is imported lazily, so commands that need no engine never load it. Every resource
created here carries the kit's labels (labels.py); teardown finds them by those labels.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from stack.deploy.docker import labels
from stack.deploy.docker.spec import ContainerSpec, for_engine
from stack.deploy.roles import Role
from stack.errors import RuntimeStackError

Container = Any  # docker.models.containers.Container (the SDK ships no types)


@dataclass(frozen=True)
class OneOff:
    """How run_once runs a container: its environment and labels, how long it may take."""

    environment: dict[str, str]
    labels: dict[str, str]
    timeout: float
    on_timeout: Callable[[Container], str] | None = None
    volumes: dict[str, str] = field(default_factory=dict)  # host path -> path, read-only


@dataclass(frozen=True)
class RunResult:
    status: int | None  # None: still running at the timeout (then killed)
    stdout: str
    stderr: str
    note: str = ""  # what on_timeout found


_lock = threading.Lock()
_client: DockerClient | None = None


def get() -> DockerClient:
    """The process's client, created on first use."""
    global _client
    with _lock:
        if _client is None:
            _client = DockerClient()
        return _client


def required(purpose: str) -> DockerClient:
    """The process's client once the engine answers; else one line saying what needs
    Docker and why it cannot be reached."""
    global _client
    try:
        docker = get()
    except RuntimeStackError as exc:
        raise RuntimeStackError(f"{purpose} needs Docker: {exc}") from None
    try:
        docker.ping()
    except RuntimeStackError as exc:
        with _lock:  # not kept: its connection pool holds the failed socket
            _client = None
        docker.sdk.close()
        raise RuntimeStackError(f"{purpose} needs Docker: {exc}") from None
    return docker


def _one_line(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    text = str(explanation or exc) or type(exc).__name__
    return re.sub(r"\s+", " ", text).strip()


@contextmanager
def errors(what: str) -> Iterator[None]:
    """Turn SDK and connection errors into RuntimeStackError("{what}: ...")."""
    import docker.errors
    import requests.exceptions

    try:
        yield
    except docker.errors.NotFound as exc:
        raise RuntimeStackError(f"{what}: not found: {_one_line(exc)}") from None
    except docker.errors.BuildError as exc:
        tail = "".join(str(c.get("stream", "")) for c in list(exc.build_log)[-15:])
        raise RuntimeStackError(f"{what}: {_one_line(exc)}\n{tail}".rstrip()) from None
    except requests.exceptions.ConnectionError as exc:
        raise RuntimeStackError(
            f"cannot reach the Docker engine: {_one_line(exc)} — is dockerd running?"
        ) from None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise RuntimeStackError(f"{what}: {_one_line(exc)}") from None


class DockerClient:
    """Project-scoped Docker operations, by label."""

    def __init__(self) -> None:
        import docker
        import docker.errors

        # The SDK asks the engine for its API version at once and leaks the socket when
        # nothing listens; a missing socket file needs no attempt.
        host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if host.startswith("unix://") and not os.path.exists(host.removeprefix("unix://")):
            raise RuntimeStackError(
                f"cannot reach the Docker engine: no socket at {host.removeprefix('unix://')} "
                "— is dockerd running?"
            )
        try:
            self.sdk = docker.from_env()
        except docker.errors.DockerException as exc:
            raise RuntimeStackError(
                f"cannot reach the Docker engine: {_one_line(exc)} — is dockerd running?"
            ) from None

    # -- images ---------------------------------------------------------------------------

    def image(self, tag: str) -> Any | None:
        import docker.errors

        with errors(f"inspect image {tag}"):
            try:
                return self.sdk.images.get(tag)
            except docker.errors.ImageNotFound:
                return None

    def require_image(self, tag: str, hint: str) -> str:
        """The id of a local image, pulling it if absent; a clear error if that fails."""
        found = self.image(tag)
        if found is not None:
            return str(found.id)
        try:
            with errors(f"pull {tag}"):
                return str(self.sdk.images.pull(tag).id)
        except RuntimeStackError as exc:
            raise RuntimeStackError(f"image {tag} is not present locally ({exc}); {hint}") from None

    def build(self, context: Any, tag: str, image_labels: dict[str, str]) -> Iterator[str]:
        """Build from an in-memory tar context with the legacy builder; yields log lines."""
        last: list[str] = []
        with errors(f"build {tag}"):
            stream = self.sdk.api.build(
                fileobj=context, custom_context=True, tag=tag, labels=image_labels,
                rm=True, forcerm=True, decode=True,
            )  # fmt: skip
            for chunk in stream:
                if "error" in chunk:
                    detail = "".join(last[-15:])
                    raise RuntimeStackError(f"build {tag}: {chunk['error'].strip()}\n{detail}")
                line = str(chunk.get("stream", ""))
                if line:
                    last.append(line)
                    yield line

    def tag(self, image_id: str, reference: str) -> None:
        repository, _, tag = reference.rpartition(":")
        with errors(f"tag {reference}"):
            self.sdk.api.tag(image_id, repository, tag)

    def push(self, reference: str) -> Iterator[dict[str, Any]]:
        """Push reference, yielding the engine's progress messages. The engine takes the
        registry's credentials from Docker's own config (`docker login`), as `docker push`."""
        repository, _, tag = reference.rpartition(":")
        with errors(f"push {reference}"):
            for message in self.sdk.api.push(repository, tag=tag, stream=True, decode=True):
                if "error" in message:
                    raise RuntimeStackError(f"push {reference}: {message['error'].strip()}")
                yield message

    def registry_digest(self, reference: str) -> str | None:
        """The digest a registry holds for reference; None if it holds none."""
        import docker.errors

        with errors(f"look up {reference} in its registry"):
            try:
                data = self.sdk.images.get_registry_data(reference)
            except docker.errors.NotFound:
                return None
            except docker.errors.APIError as exc:
                if "manifest unknown" in str(exc) or "not found" in str(exc).lower():
                    return None
                raise
        return str(data.id)

    # -- containers -----------------------------------------------------------------------

    def containers(
        self, project: str, service: str | None = None, role: Role | None = None
    ) -> list[Container]:
        """The project's containers (any state), sorted by service and replica."""
        with errors("list containers"):
            found = self.sdk.containers.list(
                all=True, filters={"label": labels.selector(project, service, role)}
            )
        return sorted(found, key=lambda c: (c.labels.get(labels.SERVICE, ""), replica_of(c)))

    def create(self, spec: ContainerSpec) -> Container:
        """Create and start one replica on the project network, or in the network namespace
        of the container spec.join names."""
        # The low-level API: the high-level create() has no stop_timeout.
        api = self.sdk.api
        joined = spec.join is not None
        with errors(f"create container {spec.name}"):
            host_config = api.create_host_config(
                port_bindings={key: bind for key, bind in spec.ports.items()} or None,
                binds={
                    **{name: {"bind": path, "mode": "rw"} for name, path in spec.volumes.items()},
                    **{
                        host: {"bind": path, "mode": mode}
                        for host, (path, mode) in spec.binds.items()
                    },
                }
                or None,
                restart_policy={"Name": "unless-stopped"},
                network_mode=f"container:{spec.join}" if joined else spec.network,
                init=spec.init,
            )
            endpoint = api.create_endpoint_config(aliases=list(spec.aliases))
            config = api.create_container_config(
                spec.image_id,
                command=list(spec.run_command),
                # The engine refuses a hostname in another container's namespace.
                hostname=None if joined else spec.hostname,
                environment=spec.environment,
                labels=spec.labels,
                ports=[int(key.split("/")[0]) for key in spec.ports],
                volumes=[*spec.volumes.values(), *(path for path, _ in spec.binds.values())]
                or None,
                stop_timeout=spec.stop_timeout,
                host_config=host_config,
                networking_config=None
                if joined
                else api.create_networking_config({spec.network: endpoint}),
                detach=True,
            )
            # Set after: the SDK's Healthcheck type drops StartInterval.
            if spec.healthcheck is not None:
                config["Healthcheck"] = for_engine(spec.healthcheck, api.api_version)
            created = api.create_container_from_config(config, spec.name)
            container = self.sdk.containers.get(created["Id"])
        with errors(f"start container {spec.name}"):
            container.start()
        return container

    def start(self, container: Container) -> None:
        with errors(f"start container {container.name}"):
            container.start()

    def stop_and_remove(self, container: Container, timeout: int | None = None) -> None:
        """Graceful stop (SIGTERM, then SIGKILL after timeout, default its own), then remove."""
        import docker.errors

        grace = timeout if timeout is not None else stop_timeout_of(container)
        with errors(f"stop container {container.name}"):
            try:
                container.stop(timeout=grace)
                container.remove(v=False, force=True)
            except docker.errors.NotFound:
                pass  # already gone

    def stop(self, container: Container, timeout: int | None = None) -> None:
        """Graceful stop, kept (logs and all) for the next `stack up` to start again."""
        import docker.errors

        grace = timeout if timeout is not None else stop_timeout_of(container)
        with errors(f"stop container {container.name}"), suppress(docker.errors.NotFound):
            container.stop(timeout=grace)  # NotFound: already gone

    def reload(self, container: Container) -> Container:
        with errors(f"inspect container {container.name}"):
            container.reload()
        return container

    def logs(
        self,
        container: Container,
        tail: int | str = "all",
        follow: bool = False,
        since: float | None = None,
    ) -> Any:
        """Bytes (follow=False) or an iterator of byte chunks (follow=True); since: only
        lines from that time on (epoch seconds)."""
        extra = {} if since is None else {"since": since}
        with errors(f"logs of {container.name}"):
            return container.logs(stream=follow, follow=follow, tail=tail, **extra)

    def tail(self, container: Container, lines: int = 20) -> str:
        try:
            data = self.logs(container, tail=lines)
        except RuntimeStackError as exc:
            return f"(no logs: {exc})"
        return bytes(data).decode("utf-8", "replace").rstrip()

    def exec_ok(self, container: Container, command: list[str]) -> bool:
        import docker.errors

        try:
            with errors(f"exec in {container.name}"):
                result = container.exec_run(command)
        except RuntimeStackError:
            return False
        except docker.errors.APIError:
            return False
        return bool(result.exit_code == 0)

    def exec_output(self, container: Container, command: list[str]) -> str | None:
        """What command prints (stdout and stderr) in a running container; None if it
        cannot run there (the container stopped, the engine refused)."""
        import docker.errors

        try:
            with errors(f"exec in {container.name}"):
                result = container.exec_run(command)
        except (RuntimeStackError, docker.errors.APIError):
            return None
        return bytes(result.output or b"").decode("utf-8", "replace")

    def exec_run(
        self, container: Container, command: list[str], environment: dict[str, str]
    ) -> tuple[int, str]:
        """(exit code, stdout and stderr) of command run in a running container."""
        with errors(f"exec in {container.name}"):
            result = container.exec_run(command, environment=environment)
        return int(result.exit_code), bytes(result.output or b"").decode("utf-8", "replace")

    def signal(self, container: Container, name: str) -> None:
        with errors(f"signal {name} to {container.name}"):
            container.kill(signal=name)

    def restart(self, container: Container, timeout: int) -> None:
        with errors(f"restart container {container.name}"):
            container.restart(timeout=timeout)

    def run_once(self, image: str, command: list[str], run: OneOff) -> RunResult:
        """Run a container with no network to its end, or until run.timeout, then remove it.

        On a timeout, run.on_timeout (if given) looks at the container before it goes."""
        import requests.exceptions

        with errors(f"run {image}"):
            container = self.sdk.containers.create(
                image, command, environment=run.environment, labels=run.labels,
                network_mode="none", detach=True,
                volumes={host: {"bind": path, "mode": "ro"} for host, path in run.volumes.items()},
            )  # fmt: skip
        try:
            with errors(f"run {image}"):
                container.start()
            status: int | None = None
            note = ""
            try:
                status = int(container.wait(timeout=run.timeout)["StatusCode"])
            # The SDK's read timeout: a ReadTimeout, or over the Unix socket a ConnectionError.
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                note = run.on_timeout(container) if run.on_timeout is not None else ""
            with errors(f"logs of {image}"):
                out = bytes(container.logs(stdout=True, stderr=False))
                err = bytes(container.logs(stdout=False, stderr=True))
        finally:
            self.remove_container(container)
        text = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
        return RunResult(status, *text, note)

    def remove_container(self, container: Container) -> None:
        import docker.errors

        with errors(f"remove container {container.name}"), suppress(docker.errors.NotFound):
            container.remove(force=True)

    def ping(self) -> None:
        """Raise RuntimeStackError unless the engine answers."""
        with errors("ping the Docker engine"):
            self.sdk.ping()

    # -- network and volumes --------------------------------------------------------------

    def ensure_network(self, project: str) -> bool:
        """Create the project network unless it exists; True if created."""
        with errors(f"network {project}"):
            if self.sdk.networks.list(names=[project], filters={"label": labels.selector(project)}):
                return False
            self.sdk.networks.create(
                project, driver="bridge", labels=labels.of(project, "", Role.NETWORK)
            )
        return True

    def ensure_volume(self, project: str, name: str, service: str) -> bool:
        import docker.errors

        with errors(f"volume {name}"):
            try:
                self.sdk.volumes.get(name)
                return False
            except docker.errors.NotFound:
                self.sdk.volumes.create(name, labels=labels.of(project, service, Role.VOLUME))
                return True

    def prune_images(self, project: str) -> list[str]:
        """Remove the project's app images that a rebuild untagged and no container uses
        any more (one is left by each edit of the topology); returns their ids."""
        import docker.errors

        with errors("list images"):
            images = self.sdk.images.list(
                filters={"label": labels.selector(project), "dangling": True}
            )
        removed = []
        for image in images:
            with errors(f"remove image {image.short_id}"):
                try:
                    self.sdk.images.remove(image.id)
                except docker.errors.NotFound:
                    continue  # removed meanwhile
                except docker.errors.APIError as exc:
                    if exc.status_code == 409:  # a container still runs on it: kept
                        continue
                    raise
            removed.append(str(image.id))
        return removed

    def networks(self, project: str) -> list[Any]:
        with errors("list networks"):
            return list(self.sdk.networks.list(filters={"label": labels.selector(project)}))

    def volumes(self, project: str) -> list[Any]:
        with errors("list volumes"):
            return list(self.sdk.volumes.list(filters={"label": labels.selector(project)}))

    def remove(self, resource: Any, what: str) -> None:
        import docker.errors

        with errors(f"remove {what}"), suppress(docker.errors.NotFound):
            resource.remove()


def replica_of(container: Container) -> int:
    try:
        return int(container.labels.get(labels.REPLICA) or 0)
    except ValueError:
        return 0


def stop_timeout_of(container: Container) -> int:
    value = container.attrs.get("Config", {}).get("StopTimeout")
    return int(value) if value is not None else 10


def health_of(container: Container) -> str | None:
    """Docker's health status (starting, healthy, unhealthy), None without a healthcheck."""
    health = container.attrs.get("State", {}).get("Health")
    return str(health["Status"]) if health else None


def published_port(container: Container, port: int) -> int | None:
    """The host port a container port is published on."""
    bindings = container.attrs.get("NetworkSettings", {}).get("Ports") or {}
    for binding in bindings.get(f"{port}/tcp") or []:
        if binding.get("HostPort"):
            return int(binding["HostPort"])
    return None
