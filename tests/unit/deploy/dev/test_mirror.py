"""The dev copy of the app follows the files exactly, readable by the app's user."""

from __future__ import annotations

import stat
from pathlib import Path

from stack.deploy.dev.mirror import read, sync


def test_sync_writes_edits_removes_deleted_files_and_empty_directories(tmp_path: Path) -> None:
    assert sync(tmp_path, {"tasks.py": b"a", "pkg/mod.py": b"b"}) == {"tasks.py", "pkg/mod.py"}
    changed = sync(tmp_path, {"tasks.py": b"a2"})
    assert changed == {"tasks.py", "pkg/mod.py"}
    assert read(tmp_path) == {"tasks.py": b"a2"}
    assert not (tmp_path / "pkg").exists()
    assert sync(tmp_path, {"tasks.py": b"a2"}) == set()


def test_copies_are_world_readable_whatever_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o077)
    try:
        sync(tmp_path, {"pkg/mod.py": b"x"})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "pkg" / "mod.py").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "pkg").stat().st_mode) == 0o755
