"""Keep a directory an exact copy of the app's files (as the image build takes them)."""

from __future__ import annotations

import os
from pathlib import Path

from stack.deploy.dev.plan import Files, changed_files


def read(root: Path) -> dict[str, bytes]:
    """The files under root, by relative path."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def sync(root: Path, files: Files, before: Files | None = None) -> set[str]:
    """Make root hold exactly files; before: what it holds (read from disk if None).
    Returns the paths written or removed."""
    current = read(root) if before is None else before
    changed = changed_files(current, files)
    for name in sorted(changed):
        target = root / name
        if name not in files:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        for parent in target.relative_to(root).parents:
            (root / parent).chmod(0o755)  # the app's non-root user reads it whatever the umask
        partial = target.with_name(f".{target.name}.stack-dev")
        partial.write_bytes(files[name])
        partial.chmod(0o644)
        # A process that imports the file meanwhile sees the old or the new one, never half.
        os.replace(partial, target)
    _prune(root)
    return changed


def _prune(root: Path) -> None:
    """Directories a removal left empty."""
    for directory in sorted((d for d in root.rglob("*") if d.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
