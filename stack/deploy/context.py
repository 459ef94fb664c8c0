"""The app image's build context: the user's code, the kit, the topology, an offline wheelhouse."""

from __future__ import annotations

import hashlib
import io
import shutil
import tarfile
from pathlib import Path
from string import Template

from stack.container import paths
from stack.deploy.resources import data_path
from stack.deploy.services import ImageSet
from stack.topology.load import Loaded

# Never sent to the Docker daemon: VCS data, virtualenvs, caches and the kit's own secrets.
EXCLUDED = frozenset(
    {
        ".git",
        ".stack",
        ".venv",
        "venv",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "node_modules",
    }
)
PACKAGE_DIR = Path(__file__).resolve().parents[1]  # stack/
# What the app image carries of the kit: the code that runs inside its containers and what
# that code imports. Host-only code (cli/, deploy/, the producer) stays out, so an edit of
# it changes no image's code hash and recreates no container.
IMAGE_PARTS = ("__init__.py", "errors.py", "topology", "settings", "container")
# Where the build puts the context's requirements/ and wheels/ while it installs them (then
# removes them): the build's own scratch space, not part of the image's layout.
BUILD_REQUIREMENTS = "/tmp/requirements"
BUILD_WHEELS = "/tmp/wheels"


def dockerfile(loaded: Loaded, imgs: ImageSet, offline: bool, app_requirements: bool) -> str:
    """The Dockerfile text; offline installs only from the bundled wheelhouse. The image's
    layout comes from stack.container.paths, which the code inside it reads too."""
    template = Template(data_path("compose", "Dockerfile").read_text(encoding="utf-8"))
    return template.substitute(
        project=loaded.topology.name,
        python_image=imgs.python,
        pip_args=f"--no-index --find-links {BUILD_WHEELS}" if offline else "",
        app_requirements=f"-r {BUILD_REQUIREMENTS}/app.txt" if app_requirements else "",
        requirements=BUILD_REQUIREMENTS,
        wheels=BUILD_WHEELS,
        app_dir=paths.APP_DIR,
        topology=paths.TOPOLOGY,
        kit_dir=paths.KIT_DIR,
        snapshot=paths.SNAPSHOT,
        venv=paths.VENV,
        data_dir=paths.DATA_DIR,
        beat_dir=paths.BEAT_DIR,
        state_dir=paths.STATE_DIR,
        user=paths.USER,
        uid=paths.UID,
        gid=paths.GID,
    )


def _is_render_output(directory: Path) -> bool:
    """A `stack render --out` directory: its stack.env holds the secrets."""
    return (directory / "stack.env").is_file() and (directory / "compose.yaml").is_file()


def dockerignored(root: Path) -> set[str] | None:
    """The paths under root that root/.dockerignore lets into a build, as `docker build`
    reads it (the Docker SDK's own parser); None without a .dockerignore."""
    ignore = root / ".dockerignore"
    if not ignore.is_file():
        return None
    from docker.utils.build import exclude_paths  # lazy: only for apps that have one

    lines = ignore.read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    return {Path(p).as_posix() for p in exclude_paths(str(root), patterns)}


def _tree(
    root: Path, prefix: str, skip: frozenset[Path] = frozenset(), allowed: set[str] | None = None
) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    rendered: dict[Path, bool] = {}  # subdirectory -> is a render output (cached)
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part in EXCLUDED for part in rel.parts) or not path.is_file():
            continue
        if allowed is not None and rel.as_posix() not in allowed:
            continue
        if skip and any(s == path or s in path.parents for s in skip):
            continue
        # A render output below the app (`stack render` run there): never in the image.
        subdirs = [root / d for d in rel.parents if d != Path(".")]
        if any(rendered.setdefault(d, _is_render_output(d)) for d in subdirs):
            continue
        if path.name == "stack.env" and _is_render_output(root):  # `--out .`
            continue
        if path.suffix in (".pyc", ".pyo"):
            continue
        files[f"{prefix}/{rel.as_posix()}"] = path.read_bytes()
    return files


def app_root(loaded: Loaded) -> Path:
    return (loaded.base_dir / loaded.topology.image.context).resolve()


def app_files(loaded: Loaded, skip: tuple[Path, ...] = ()) -> dict[str, bytes]:
    """The user's files that go into the image (and `stack dev`'s mirror), by relative path."""
    root = app_root(loaded)
    # A .dockerignore keeps data, builds and other noise out of the image and out of the
    # code hash, so that editing them does not restart every app container.
    tree = _tree(root, "", frozenset(p.resolve() for p in skip), dockerignored(root))
    return {name[1:]: data for name, data in tree.items()}  # "/x.py" -> "x.py"


def context_files(
    loaded: Loaded, imgs: ImageSet, wheelhouse: Path | None, skip: tuple[Path, ...] = ()
) -> dict[str, bytes]:
    """Every file of the build context, by its path in the context.

    skip: files and directories left out of the app's tree (`stack render`'s own output,
    which holds the secrets env file, when --out lies inside the app's context).
    """
    topology = loaded.topology
    app_dir = app_root(loaded)
    files = {f"app/{name}": data for name, data in app_files(loaded, skip).items()}
    requirements = topology.image.requirements
    app_req = app_dir / requirements if requirements else None
    has_app_req = bool(app_req and app_req.is_file())
    if has_app_req and app_req is not None:
        files["requirements/app.txt"] = app_req.read_bytes()
    files["requirements/stack.txt"] = data_path("compose", "requirements.txt").read_bytes()
    for part in IMAGE_PARTS:
        source = PACKAGE_DIR / part
        if source.is_dir():
            files.update(_tree(source, f"stack/{part}"))
        else:
            files[f"stack/{part}"] = source.read_bytes()
    files["topology.yaml"] = loaded.path.read_bytes()
    files["wheels/.keep"] = b""
    if wheelhouse is not None:
        files.update(_tree(wheelhouse, "wheels"))
    files["Dockerfile"] = dockerfile(loaded, imgs, wheelhouse is not None, has_app_req).encode()
    return files


def context_digest(files: dict[str, bytes], salt: str = "") -> str:
    """16 hex digits of a build context's names and contents (and salt)."""
    digest = hashlib.sha256(salt.encode())
    for name, data in sorted(files.items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:16]


def content_tag(repository: str, files: dict[str, bytes]) -> str:
    """repository:<12 hex of the context>: a tag that changes whenever what the image is
    built from does, so `docker compose up` builds the new image instead of running the
    one it already has (it builds only images it does not have)."""
    return f"{repository}:{context_digest(files)[:12]}"


def tar_context(files: dict[str, bytes]) -> io.BytesIO:
    """The context as an in-memory tar, as the Docker SDK's build(fileobj=...) takes it."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def write_context(files: dict[str, bytes], out_dir: Path) -> None:
    """Write the context into out_dir, replacing an earlier one (deleted files must go)."""
    if out_dir.is_dir():
        shutil.rmtree(out_dir)
    for name, data in files.items():
        target = out_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
