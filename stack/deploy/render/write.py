"""Writing rendered output to disk: the only step of `stack render` that touches files."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from stack.deploy import context as image
from stack.deploy import secrets
from stack.deploy import services as plan
from stack.deploy.render import compose
from stack.topology import yamlio
from stack.topology.load import Loaded


def write_all(loaded: Loaded, out_dir: Path, wheelhouse: Path | None) -> list[Path]:
    """compose.yaml, its secrets env file (0600), the image build context, the Helm chart."""
    topology = loaded.topology
    imgs = plan.images(topology)
    out_dir.mkdir(parents=True, exist_ok=True)
    compose_file = out_dir / "compose.yaml"
    env_file = out_dir / compose.ENV_FILE
    build_dir = out_dir / compose.BUILD_DIR
    # Our own output never goes into the image (stack.env holds the secrets).
    outputs = (compose_file, env_file, build_dir, out_dir / "helm")
    files = image.context_files(loaded, imgs, wheelhouse, outputs)
    if not topology.image.name:  # a name of the user's own is theirs to change
        repository = imgs.app.rpartition(":")[0]
        imgs = replace(imgs, app=image.content_tag(repository, files))
    compose_file.write_text(yamlio.dump(compose.render(topology, imgs)), encoding="utf-8")
    values = secrets.ensure(loaded.base_dir, topology)
    secrets.write_private(env_file, secrets.env_file_text(secrets.container_env(topology, values)))
    image.write_context(files, build_dir)
    written = [compose_file, env_file, build_dir]
    try:
        from stack.deploy.render import helm
    except ImportError:  # pragma: no cover - present once the chart lands
        return written
    # A cluster pulls the topology's own images: STACK_*_IMAGE name this machine's copies.
    cluster = replace(plan.images(topology, env={}), app=imgs.app)
    written.append(helm.write_chart(topology, cluster, out_dir))
    return written
