"""Atomic file writes: write to a temp file in the same folder, then rename over the target."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def describe_os_error(e: OSError, path: str | Path | None = None) -> str:
    """One sentence for a failed file operation: the file, what went wrong, and for a full disk how much
    room is left there."""
    import errno
    import shutil

    where = e.filename or path or "?"
    if e.errno == errno.ENOSPC:
        free = ""
        try:
            free = f" ({shutil.disk_usage(Path(where).parent if Path(where).parent.exists() else '.').free / 2**20:.0f} MiB free)"
        except OSError:
            pass
        return f"{where}: the disk is full{free}"
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{where}: not writable here ({e.strerror}: a read-only folder or no permission)"
    return f"{where}: {e.strerror or e}"


def atomic_write(path: str | Path, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` then atomically move ``tmp_path`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files: results are for other users too
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, obj: Any) -> Path:
    def w(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1)
    return atomic_write(path, w)


def write_text(path: str | Path, text: str) -> Path:
    def w(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")
    return atomic_write(path, w)


def increment_path(path: str | Path, exist_ok: bool = False) -> Path:
    """runs/train/exp -> runs/train/exp2, exp3, ... (first free name) unless ``exist_ok``."""
    path = Path(path)
    if exist_ok or not path.exists():
        return path
    for n in range(2, 10_000):
        p = path.with_name(f"{path.name}{n}")
        if not p.exists():
            return p
    raise RuntimeError(f"no free run folder name next to {path}")
