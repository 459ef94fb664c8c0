"""`stack wheels`: the app's requirements as wheels for the image, in an offline wheelhouse.

With STACK_WHEELHOUSE set, the app image installs only from that directory (`pip
--no-index`): everything the app's requirements.txt names must be there, as wheels for the
image's Python and platform, not the host's. This downloads them with the host's pip,
for the interpreter the base image reports (`python3` in it, no network), together with
what the kit itself installs there.

pip evaluates environment markers with the host's interpreter, not the target's (the
host's 3.11.7 skips redis-py's `async-timeout; python_full_version < "3.11.3"`, which the
image's 3.11.2 needs). So the result is checked the way the build uses it: a dry-run
install inside the base image with no network; whatever that still misses is downloaded
and the check runs again.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stack.deploy.docker import labels
from stack.deploy.docker.client import DockerClient, OneOff
from stack.deploy.resources import data_path
from stack.deploy.roles import Role
from stack.errors import RuntimeStackError, StackError
from stack.topology.load import Loaded

Status = Callable[[str], None]
ROUNDS = 8  # check-and-download rounds before giving up on markers that keep failing
CHECK_TIMEOUT = 300.0
NO_DISTRIBUTION = re.compile(r"No matching distribution found for (\S+)")
# Oldest glibc that manylinux_2_x tags name; the legacy aliases of manylinux_2_5/12/17.
GLIBC_FLOOR = 5
LEGACY = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}
PROBE = (
    "import json, platform, sys; "
    "print(json.dumps({'version': list(sys.version_info[:3]), "
    "'implementation': sys.implementation.name, 'machine': platform.machine(), "
    "'libc': list(platform.libc_ver())}))"
)
# In the image: a throwaway venv, then pip resolving as the build will, without installing.
CHECK = (
    "python3 -m venv /tmp/venv >/dev/null && /tmp/venv/bin/pip install --dry-run --quiet "
    "--disable-pip-version-check --no-index --find-links /wheelhouse "
    "-r /requirements/stack.txt -r /requirements/app.txt"
)


@dataclass(frozen=True)
class Target:
    """The interpreter and platform of the image's Python."""

    version: tuple[int, int, int]
    implementation: str
    machine: str
    libc: tuple[str, str]

    def pip_args(self) -> list[str]:
        """`pip download` options that pick binary wheels for this target only."""
        major, minor, _ = self.version
        args = [
            "--only-binary=:all:",
            "--implementation", "cp" if self.implementation == "cpython" else "py",
            "--python-version", f"{major}.{minor}",
        ]  # fmt: skip
        if self.implementation == "cpython":
            args += ["--abi", f"cp{major}{minor}"]
        for platform in self.platforms():
            args += ["--platform", platform]
        return args

    def platforms(self) -> list[str]:
        name, version = self.libc
        arch = self.machine
        parts = [int(p) for p in re.findall(r"\d+", version)[:2]]
        if name == "glibc" and len(parts) == 2 and parts[0] == 2:
            found = [f"manylinux_2_{m}_{arch}" for m in range(GLIBC_FLOOR, parts[1] + 1)]
            legacy = [f"{tag}_{arch}" for tag, m in LEGACY.items() if m <= parts[1]]
            return found + legacy
        # musl (Alpine's python images) or unknown: musllinux, oldest first.
        return [f"musllinux_1_{m}_{arch}" for m in (1, 2)]

    def __str__(self) -> str:
        version = ".".join(map(str, self.version))
        return f"{self.implementation} {version} {self.machine} {'-'.join(self.libc)}"


@dataclass(frozen=True)
class Fetched:
    target: Target
    directory: Path
    added: list[str]  # wheel files that were not there before
    total: int


def requirements_file(loaded: Loaded) -> Path:
    topology = loaded.topology
    if not topology.image.requirements:
        raise StackError(f"{loaded.path}: image.requirements is empty: nothing to download")
    path = (loaded.base_dir / topology.image.context / topology.image.requirements).resolve()
    if not path.is_file():
        raise StackError(
            f"{loaded.path}: no requirements file at {path} (image.requirements): nothing "
            "to download"
        )
    return path


def target_of(docker: DockerClient, image: str, project: str) -> Target:
    """What the image's `python3` is (run with no network)."""
    run = OneOff(environment={}, labels=labels.of(project, "wheels", Role.TASKS), timeout=60)
    result = docker.run_once(image, ["python3", "-c", PROBE], run)
    try:
        data = json.loads(result.stdout.strip().splitlines()[-1])
        major, minor, micro = (int(v) for v in data["version"])
        return Target(
            (major, minor, micro), str(data["implementation"]), str(data["machine"]),
            (str(data["libc"][0]), str(data["libc"][1])),
        )  # fmt: skip
    except (ValueError, KeyError, IndexError, TypeError):
        detail = " ".join((result.stderr or result.stdout).split())[-200:]
        raise RuntimeStackError(f"{image} has no python3 that reports itself: {detail}") from None


def pip_download(target: Target, dest: Path, requirements: list[str]) -> None:
    """`pip download` with the host's pip (PyPI is reached from the host, not containers)."""
    command = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
        "--progress-bar", "off", "--dest", str(dest), *target.pip_args(), *requirements,
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise RuntimeStackError(f"cannot run pip ({sys.executable} -m pip): {exc}") from None
    if done.returncode == 0:
        return
    text = done.stderr + done.stdout
    if "No module named pip" in text:
        raise RuntimeStackError(f"stack wheels needs pip in {sys.executable}")
    missing = NO_DISTRIBUTION.findall(text)
    if missing:
        raise RuntimeStackError(
            f"pip found no binary wheel of {missing[-1]} for {target}: a package published "
            "only as source needs a wheel you build (`pip wheel --no-deps -w DIR PACKAGE`)"
        )
    errors = [line for line in text.splitlines() if line.startswith("ERROR:")]
    last = errors[-1] if errors else (text.strip().splitlines() or ["no output"])[-1]
    raise RuntimeStackError(f"pip download failed: {' '.join(last.split())}")


def missing_in_image(
    docker: DockerClient, image: str, dest: Path, *, app: Path, project: str
) -> str | None:
    """The requirement the image's own pip cannot find in dest (None: all resolve)."""
    run = OneOff(
        environment={},
        labels=labels.of(project, "wheels", Role.TASKS),
        timeout=CHECK_TIMEOUT,
        volumes={
            str(dest.resolve()): "/wheelhouse",
            str(data_path("compose", "requirements.txt").resolve()): "/requirements/stack.txt",
            str(app): "/requirements/app.txt",
        },
    )
    result = docker.run_once(image, ["sh", "-c", CHECK], run)
    if result.status == 0:
        return None
    text = result.stderr + result.stdout
    found = NO_DISTRIBUTION.findall(text)
    if found:
        return str(found[-1])
    detail = " ".join(text.split())[-300:] or f"exit status {result.status}"
    raise RuntimeStackError(f"the wheelhouse does not install in {image}: {detail}")


def fetch(
    docker: DockerClient, loaded: Loaded, image: str, dest: Path, *, status: Status
) -> Fetched:
    """Download the kit's and the app's requirements for image into dest until the image's
    own pip resolves them all offline."""
    app = requirements_file(loaded)
    dest.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in dest.glob("*.whl")}
    project = loaded.topology.name
    status(f"asking {image} for its Python")
    target = target_of(docker, image, project)
    status(f"downloading wheels for {target}")
    kit = data_path("compose", "requirements.txt")
    pip_download(target, dest, ["-r", str(kit), "-r", str(app)])
    tried: set[str] = set()
    for _ in range(ROUNDS):
        status(f"checking the wheelhouse in {image} (no network)")
        missing = missing_in_image(docker, image, dest, app=app, project=project)
        if missing is None:
            after = sorted(p.name for p in dest.glob("*.whl"))
            return Fetched(target, dest, [n for n in after if n not in before], len(after))
        if missing in tried:
            raise RuntimeStackError(
                f"{image}'s pip still finds no {missing} in {dest} after downloading it"
            )
        tried.add(missing)
        # A requirement whose marker holds for the image but not for the host.
        status(f"downloading {missing}, which {target} needs")
        pip_download(target, dest, [missing])
    raise RuntimeStackError(f"the wheelhouse {dest} still misses packages after {ROUNDS} rounds")


def fetch_for(path: str | Path | None, out: Path | None, *, status: Status) -> Fetched:
    """`stack wheels`: into out, else $STACK_WHEELHOUSE, for the topology's Python image."""
    import os

    from stack.deploy import services as plan
    from stack.deploy.docker import client as docker_client
    from stack.topology.load import load

    loaded = load(path)
    requirements_file(loaded)  # before Docker: a missing file needs no engine to report
    value = os.environ.get("STACK_WHEELHOUSE")
    dest = out or (Path(value) if value else None)
    if dest is None:
        raise StackError(
            "where to? set STACK_WHEELHOUSE (the image builds install from it) or give --out DIR"
        )
    image = plan.images(loaded.topology).python
    docker = docker_client.required("stack wheels (it asks the image's Python what it is)")
    docker.require_image(image, "set STACK_PYTHON_IMAGE or images.python to a local image")
    return fetch(docker, loaded, image, dest, status=status)
