"""Swarm: `stack deploy --target swarm` against `docker stack deploy`, and a lost node.

    python bench/swarm.py [--rounds 2] [--tasks 120]

On a three-node lab Swarm of its own (scripts/swarm-lab with STACK_LAB_PREFIX=stkbench,
STACK_LAB_NET=10.243.0: three engines in network namespaces, a TLS registry), taken down at
the end, also on errors or Ctrl-C. The colour demo, images pushed to the lab's registry and
pulled on every node first, so neither side times a pull the other was spared:

1. Deploy: `stack deploy --target swarm`, against `docker stack deploy -c` of the compose
   file `stack render` writes for the same topology (adjusted as little as Swarm needs:
   see swarm_compose). Both are timed from the command's start until it has returned and
   every worker group's replicas answer a Celery ping through the broker's published port
   (pinged from the start on, so the time they first answer shows too). Rounds alternate
   which side goes first; each side's stack is removed before the next deploy.
2. Node loss: the demo deployed by `stack deploy`, red scaled to 3, N tasks of 0.5 s in
   flight; one worker node's engine stops (SIGTERM, as tests/integration/test_swarm.py
   does). Timed from the stop: until every replica the node held answers again elsewhere,
   and until every task completed; tasks sent / completed / lost (not done in LOST_AFTER).

Needs root, dockerd, docker-registry, openssl, nsenter, iptables and the offline images
(`eval "$(scripts/offline-images)"`). Not a timed test: compare the rows of one run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from stack.deploy.swarm.plan import published_port

ROOT = Path(__file__).resolve().parents[1]
COLORS = ROOT / "examples" / "colors"
LAB = ROOT / "scripts" / "swarm-lab"
STACK = [sys.executable, "-m", "stack"]
PREFIX = "stkbench"  # neither the script's default nor the tests' labs
NET = "10.243.0"
REGISTRY = f"{NET}.1:5000"
LAB_ENV = {**os.environ, "STACK_LAB_PREFIX": PREFIX, "STACK_LAB_NET": NET}
MANAGER_HOST = f"unix:///run/{PREFIX}/1/docker.sock"
MANAGER = {**os.environ, "DOCKER_HOST": MANAGER_HOST}
HOST = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}  # this machine's engine
NODES = (1, 2, 3)
TIMEOUT = 300.0
LOST_AFTER = 240.0  # seconds after the stop: a task not done by then counts as lost
# A broadcast ping waits its whole window; 0.3 s keeps a round short on both sides alike.
PING_WINDOW = 0.3
STACK_NAMESPACE = "com.docker.stack.namespace"
SERVICE_NAME = "com.docker.swarm.service.name"


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT * 2, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def lab(*args: str) -> None:
    run([str(LAB), *args], LAB_ENV)


def stack(*args: str, env: dict[str, str] = MANAGER) -> str:
    return run([*STACK, *args], env)


def engine(n: int) -> Any:
    import docker

    return docker.DockerClient(base_url=f"unix:///run/{PREFIX}/{n}/docker.sock", timeout=60)


# -- the demo and its images --------------------------------------------------------------


def prepare(tmp: Path) -> Path:
    """The colour demo in tmp under a unique name, set up for the lab as test_swarm.py does."""
    shutil.copytree(COLORS, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".stack"))
    path = tmp / "topology.yaml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^name: .*$", f"name: swb-{secrets.token_hex(3)}", text)
    text = text.replace("image: {context: .}", f"image: {{context: ., registry: {REGISTRY}/lab}}")
    # What a lost node held comes back after Redis' visibility timeout, not after an hour.
    text = text.replace("broker: redis", "broker: {type: redis, visibility_timeout: 20}")
    redis = f"{REGISTRY}/lab/redis:7"
    path.write_text(text + f"\nbind: 0.0.0.0\nimages: {{redis: {redis}}}\n", encoding="utf-8")
    return path


def push_images(path: Path) -> tuple[str, str]:
    """(app, redis) references in the lab's registry, pulled on every node."""
    import docker

    host = docker.from_env(environment=HOST)
    redis = f"{REGISTRY}/lab/redis:7"
    host.images.get(os.environ["STACK_REDIS_IMAGE"]).tag(redis)
    for message in host.api.push(redis, stream=True, decode=True):
        if "error" in message:
            raise RuntimeError(f"push {redis}: {message['error']}")
    built = stack("build", str(path), "--push", env=HOST)  # on this host's engine
    found = re.search(r"(?m)^(\S+) \(.*pushed", built)
    if found is None:
        raise RuntimeError(f"no pushed reference in:\n{built}")
    app = found.group(1)
    for n in NODES:
        for ref in (app, redis):
            engine(n).images.pull(ref)
    return app, redis


def swarm_compose(rendered: Path, app: str, redis: str, name: str) -> Path:
    """rendered/compose.yaml as `docker stack deploy` (Docker CLI 28, engine 20.10) takes
    it, written beside it as swarm.yaml. Each change is one the deploy needed here."""
    data = yaml.safe_load((rendered / "compose.yaml").read_text(encoding="utf-8"))
    # The stack's loader knows Compose file format 3 only: `name` (the stack's name is an
    # argument), `pull_policy` and `ports[].host_ip` are refused ("Additional property ...
    # is not allowed"), and depends_on must be a list (its conditions are not known).
    data.pop("name", None)
    for key, service in data["services"].items():
        service.pop("pull_policy", None)
        if "depends_on" in service:
            service["depends_on"] = list(service["depends_on"])
        # The nodes pull: the pushed references, not this machine's tags (STACK_*_IMAGE).
        service["image"] = redis if service["image"] == os.environ["STACK_REDIS_IMAGE"] else app
        # Virtual IPs and the ingress routing mesh need the kernel's IPVS, which these
        # machines lack (workers got "No route to host" to redis); DNS round robin works,
        # and it takes host-mode ports only, each named (the kit's rule picks them).
        service.setdefault("deploy", {})["endpoint_mode"] = "dnsrr"
        for port in service.get("ports", []):
            port.pop("host_ip", None)
            port["mode"] = "host"
            port["published"] = published_port(name, key, port["target"])
    # Left as rendered: `build` and `restart` (the CLI warns and ignores them; Swarm restarts
    # any task), and env_file, which the CLI reads into every service's environment: the
    # secrets show in `docker service inspect`, where the kit passes a Docker secret.
    out = rendered / "swarm.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


# -- readiness -----------------------------------------------------------------------------


def broker_address(client: Any, service: str) -> tuple[str, int] | None:
    """(node address, published port) of the running task of service (host mode)."""
    import docker.errors

    try:
        tasks = client.api.tasks(filters={"service": service, "desired-state": "running"})
    except docker.errors.NotFound:  # pinged from the deploy's start: not created yet
        return None
    for task in tasks:
        if task["Status"]["State"] != "running":
            continue
        ports = task["Status"].get("PortStatus", {}).get("Ports") or []
        if ports:
            # The lab's addresses follow its node labels (lab N at .10+N); a manager's
            # Status.Addr can read 0.0.0.0.
            node = client.nodes.get(task["NodeID"])
            number = int(node.attrs["Spec"]["Labels"]["stack.lab"].removeprefix("lab"))
            return f"{NET}.{10 + number}", int(ports[0]["PublishedPort"])
    return None


class Broker:
    """The stack's Redis as the host reaches it: through a node's published port."""

    def __init__(self, loaded: Any, address: tuple[str, int]) -> None:
        from stack.deploy.ops.control import Control
        from stack.deploy.secrets import backend_url, broker_url, ensure

        self.topology = loaded.topology
        found = ensure(loaded.base_dir, self.topology)
        self.url = broker_url(self.topology, found, *address)
        self.backend = backend_url(self.topology, found, *address)
        self.control = Control(self.topology, self.url)

    def answering(self) -> set[str]:
        """Every node that answers one broadcast ping (fresh connection, 50 ms polling)."""
        app = self.control.app
        try:
            with app.connection_for_write() as conn:
                replies = app.control.ping(timeout=PING_WINDOW, connection=conn)
        except Exception:  # the broker not up yet, or a connection reset: nobody answered
            return set()
        return {name for reply in replies or [] for name in reply}


def groups_ready(answering: set[str], wanted: dict[str, int], lost: set[str]) -> bool:
    """Each group has its replicas answering, none of them a node in lost."""
    for group, count in wanted.items():
        if len({n for n in answering - lost if n.startswith(f"{group}@")}) < count:
            return False
    return True


def wait_ready(
    loaded: Any, service: str, wanted: dict[str, int], lost: frozenset[str] = frozenset()
) -> Broker:
    """Until every worker group's replicas answer through service's published port."""
    client = engine(1)
    deadline = time.monotonic() + TIMEOUT
    broker: Broker | None = None
    while time.monotonic() < deadline:
        if broker is None:
            address = broker_address(client, service)
            broker = Broker(loaded, address) if address else None
        if broker is not None and groups_ready(broker.answering(), wanted, set(lost)):
            return broker
        if broker is None:
            time.sleep(0.1)
    raise RuntimeError(f"{service}: not every worker group answered in {TIMEOUT:g} s")


def workers(loaded: Any) -> dict[str, int]:
    return {name: group.replicas for name, group in loaded.topology.workers.items()}


# -- the two deploys -----------------------------------------------------------------------


def timed(command: list[str], env: dict[str, str], path: Path, service: str,
          cwd: Path | None = None) -> tuple[float, float]:  # fmt: skip
    """(seconds until the command returned, until every group answered), pinged from the
    command's start on: a deploy that waits for more than the groups shows as the gap."""
    from stack.topology.load import load

    loaded = load(path)
    answered: list[float] = []

    def ping() -> None:
        wait_ready(loaded, service, workers(loaded)).control.close()
        answered.append(time.perf_counter() - started)

    pinger = threading.Thread(target=ping, daemon=True)
    started = time.perf_counter()
    pinger.start()
    run(command, env, cwd)
    returned = time.perf_counter() - started
    pinger.join(TIMEOUT)
    if not answered:
        raise RuntimeError(f"{service}: not every worker group answered in {TIMEOUT:g} s")
    return returned, answered[0]


def stack_side(path: Path) -> tuple[float, float]:
    from stack.topology.load import load

    name = load(path).topology.name
    try:
        return timed([*STACK, "deploy", str(path), "--target", "swarm"], MANAGER, path,
                     f"{name}_redis")  # fmt: skip
    finally:
        stack("down", str(path), "--volumes")


def raw_side(path: Path, compose: Path, name: str) -> tuple[float, float]:
    try:
        return timed(["docker", "stack", "deploy", "-c", str(compose), name], MANAGER, path,
                     f"{name}_redis", cwd=compose.parent)  # fmt: skip
    finally:
        remove_raw(name)


def remove_raw(name: str) -> None:
    """`docker stack rm`, then until its containers are gone on every node, and its volumes."""
    run(["docker", "stack", "rm", name], MANAGER)
    deadline = time.monotonic() + 120
    for n in NODES:
        client = engine(n)
        label = {"label": f"{STACK_NAMESPACE}={name}"}
        while client.api.containers(all=True, filters=label) and time.monotonic() < deadline:
            time.sleep(0.5)
        for volume in client.volumes.list(filters=label):
            with contextlib.suppress(Exception):  # freed a moment after its container
                volume.remove()
    # The network goes asynchronously too; a unique name per round avoids racing it.


# -- node loss -----------------------------------------------------------------------------


def node_loss(path: Path, tasks: int) -> dict[str, Any]:
    from celery import Celery

    from stack.producer import configure
    from stack.topology.load import load

    loaded = load(path)
    name = loaded.topology.name
    stack("deploy", str(path), "--target", "swarm")
    stack("scale", "red=3", "-f", str(path))
    wanted = {**workers(loaded), "red": 3}
    broker = wait_ready(loaded, f"{name}_redis", wanted)
    rows = {r["service"]: r for r in json.loads(stack("ps", str(path), "--json"))["swarm"]}
    victim = next(n for n in rows["red"]["nodes"] if n != "lab1")  # not the manager
    number = int(victim.removeprefix("lab"))
    lost = lost_nodes(number, set(wanted))
    app = configure(Celery("fault", set_as_current=False), loaded.topology, broker.url,
                    broker.backend)  # fmt: skip
    try:
        sent = [app.send_task("tasks.red_task", args=[0.5]) for _ in range(tasks)]
        time.sleep(2)  # every red replica holds some
        pid = int(Path(f"/run/{PREFIX}/{number}/docker.pid").read_text(encoding="utf-8"))
        stopped = time.monotonic()
        os.kill(pid, signal.SIGTERM)
        outcome: dict[str, Any] = {}
        collector = threading.Thread(target=collect, args=(sent, stopped, outcome))
        collector.start()
        wait_ready(loaded, f"{name}_redis", wanted, frozenset(lost)).control.close()
        recovered = time.monotonic() - stopped
        collector.join()
    finally:
        app.close()
        broker.control.close()
    stack("down", str(path), "--volumes")
    return {"victim": victim, "lost": sorted(lost), "recovered": recovered, "sent": tasks,
            **outcome}  # fmt: skip


def lost_nodes(number: int, groups: set[str]) -> set[str]:
    """Celery node names (GROUP@hostname) of the worker replicas on lab node number."""
    names = set()
    for container in engine(number).containers.list():
        group = container.labels.get("io.stack.service")
        if group in groups:
            names.add(f"{group}@{container.attrs['Config']['Hostname']}")
    return names


def collect(sent: list[Any], stopped: float, outcome: dict[str, Any]) -> None:
    """Completed and lost tasks, and the seconds from the stop to the last completion."""
    done, last = 0, 0.0
    for result in sent:
        remaining = max(0.1, stopped + LOST_AFTER - time.monotonic())
        try:
            result.get(timeout=remaining, propagate=False)
        except Exception:  # the deadline passed: lost, or not back yet
            continue
        if result.successful():
            done += 1
            last = max(last, time.monotonic() - stopped)
    outcome.update(completed=done, lost_tasks=len(sent) - done, all_done=last)


# -- main ----------------------------------------------------------------------------------


@contextlib.contextmanager
def lab_up() -> Iterator[None]:
    for tool in ("dockerd", "docker-registry", "openssl", "nsenter", "iptables"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (`make setup`)")
    if not os.environ.get("STACK_REDIS_IMAGE"):
        raise SystemExit('STACK_REDIS_IMAGE is unset: eval "$(scripts/offline-images)" first')
    lab("down")
    try:
        lab("up", "3")
        yield
    finally:
        lab("down")


def summary(values: list[float]) -> str:
    each = " / ".join(f"{v:.1f}" for v in values)
    return f"median {statistics.median(values):.1f} s ({each})"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="deploys timed on each side")
    parser.add_argument("--tasks", type=int, default=120, help="tasks in flight at the loss")
    args = parser.parse_args(argv)
    from stack.topology.load import load

    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f} at start", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-swarm-"))
    times: dict[str, list[tuple[float, float]]] = {"stack": [], "docker": []}
    try:
        with lab_up():
            path = prepare(tmp / "app")
            app, redis = push_images(path)
            run([*STACK, "render", str(path), "--out", str(tmp / "rendered")], HOST)
            name = load(path).topology.name
            compose = swarm_compose(tmp / "rendered", app, redis, f"{name}-raw")
            sides: dict[str, Callable[[int], tuple[float, float]]] = {
                "stack": lambda _: stack_side(path),
                "docker": lambda i: raw_side(path, compose, f"{name}-raw{i}"),
            }
            for i in range(args.rounds):
                for side in ("stack", "docker") if i % 2 == 0 else ("docker", "stack"):
                    times[side].append(sides[side](i))
                    returned, answered = times[side][-1]
                    print(f"  round {i + 1} {side}: command returned {returned:.1f} s, "
                          f"every group answered {answered:.1f} s", flush=True)  # fmt: skip
            loss = node_loss(path, args.tasks)
    finally:
        sys.modules.pop("tasks", None)
        shutil.rmtree(tmp, ignore_errors=True)
    # Done: the command has returned and every group answers, as a script would wait.
    done = {side: [max(r, a) for r, a in rounds] for side, rounds in times.items()}
    ratio = statistics.median(done["stack"]) / statistics.median(done["docker"])
    rows = [
        ("`stack deploy --target swarm` -> returned, all groups answer", summary(done["stack"])),
        ("  ... every group first answered", summary([a for _, a in times["stack"]])),
        ("`docker stack deploy` (rendered) -> returned, all answer", summary(done["docker"])),
        ("  ... the command alone", summary([r for r, _ in times["docker"]])),
        ("stack / docker stack deploy (medians)", f"{ratio:.2f}x"),
        (f"node {loss['victim']} stopped: its replicas answer elsewhere",
         f"{loss['recovered']:.1f} s ({len(loss['lost'])} replicas: {', '.join(loss['lost'])})"),
        ("  ... every task completed", f"{loss['all_done']:.1f} s after the stop"),
        ("  ... tasks sent / completed / lost",
         f"{loss['sent']} / {loss['completed']} / {loss['lost_tasks']}"),
    ]  # fmt: skip
    width = max(len(label) for label, _ in rows)
    print(f"\nload {os.getloadavg()[0]:.2f} at end, {time.ctime()}")
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
