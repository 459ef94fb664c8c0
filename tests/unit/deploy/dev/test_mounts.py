"""Under `stack dev`: each worker runs under the reload supervisor with its group's restart
mode, beat keeps its own command, and only the groups chosen run."""

from __future__ import annotations

from pathlib import Path

from stack.container import devreload, devstate, paths
from stack.deploy import services as plan
from stack.deploy.dev.mounts import DEV_LAUNCH, DevDirs, DevMode
from stack.deploy.roles import Role
from stack.deploy.services import LAUNCH
from stack.topology.load import load_string

TEXT = """\
name: shop
app: tasks:app
queues: [a, b]
workers:
  warm: {queues: [a]}
  cold: {queues: [b], dev_restart: terminate}
  other: {queues: [a, b]}
beat:
  tick: {task: t, every: 5}
"""


def test_workers_run_under_the_supervisor_with_their_groups_restart_mode(tmp_path: Path) -> None:
    topology = load_string(TEXT, "topology.yaml").topology
    services = plan.services(topology, plan.images(topology, env={}))
    dirs = DevDirs.of(tmp_path, "shop")
    dev = {s.name: s for s in DevMode(dirs, {"warm", "cold"}).services(topology, services)}
    assert "other" not in dev, "--groups warm,cold"
    before = {s.name: s for s in services}
    for name, mode in (("warm", "warm"), ("cold", "terminate")):
        worker = dev[name]
        assert worker.command == (*DEV_LAUNCH, *before[name].command[len(LAUNCH) :])
        assert worker.command[len(DEV_LAUNCH)] == "worker"
        assert worker.environment[devreload.ENV_RESTART] == mode
        assert worker.environment[devstate.ENV_STATE] == paths.DEV_STATE
        assert worker.binds[str(dirs.live)] == (paths.APP_DIR, "ro")
    beat = dev["beat"]
    assert beat.role == Role.BEAT
    assert beat.command == before["beat"].command
    assert devreload.ENV_RESTART not in beat.environment
    assert beat.binds
    flower = dev["flower"]
    assert flower == before["flower"], "Flower is left as it is"
