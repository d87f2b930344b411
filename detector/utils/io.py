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
    fd, tmp = _temp_beside(path)
    os.close(fd)
    try:
        write(tmp)
        _publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


class StreamedWrite:
    """A file written piece by piece into a temp file beside ``path`` and moved onto it at :meth:`close`
    (synced; atomic as :func:`atomic_write`): a long run's results are not held in memory, and a run killed
    half-way leaves no half-written file under the name."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        fd, self.tmp = _temp_beside(self.path)
        self._f = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, text: str) -> None:
        self._f.write(text)

    def close(self) -> Path:
        if self._f is not None:
            f, self._f = self._f, None
            f.flush()
            os.fsync(f.fileno())
            f.close()
            _publish(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        """Drop what was written (a run that failed): the temp file goes, ``path`` is left as it was."""
        if self._f is not None:
            f, self._f = self._f, None
            f.close()
            os.remove(self.tmp)


class JsonArrayWriter(StreamedWrite):
    """A JSON array (e.g. COCO results rows) written one element at a time: ``append(obj)``, then ``close()``."""

    def __init__(self, path: str | Path):
        super().__init__(path)
        self.count = 0
        self.write("[")

    def append(self, obj: Any) -> None:
        self.write(("," if self.count else "") + json.dumps(obj))
        self.count += 1

    def close(self) -> Path:
        if self._f is not None:
            self.write("]")
        return super().close()


def _temp_beside(path: Path) -> tuple[int, str]:
    """(fd, name) of a new hidden temp file in ``path``'s folder (made if missing): same filesystem, so the
    final rename is atomic."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)


def _publish(tmp: str, path: Path) -> None:
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files: results are for other users too
    os.replace(tmp, path)


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
