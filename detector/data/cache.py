"""The labels cache: a split's index (records table, issues, categories) saved beside its labels, so that a
second start skips the indexing (as Ultralytics' ``labels/train2017.cache``).

- **Where**: ``annotations/instances_train2017.json`` -> ``annotations/instances_train2017.labels.npz``;
  a YOLO split ``images/train2017`` -> ``labels/train2017.labels.npz`` (``.labels-decoded.npz`` for the
  index that decoded every image, ``check_data``'s default). A folder that cannot be written
  (read-only data) keeps no cache, with one line saying so; the index is then built each start.
- **Valid** while nothing it was built from changed: the signature covers the format version, the options
  (split, classes kept, full decoding), and the size and modification time of every file under the
  image and label folders (and of the json or list files), walked again at each start (~1 s at 118 k
  images). Any change -> the split is indexed again and the cache rewritten.
- **Safe to read**: ``numpy.load(allow_pickle=False)``; a cache that is unreadable or of another version
  is ignored and rebuilt, never trusted.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..utils.io import atomic_write
from .records import Issue, iter_tree
from .table import RecordTable

VERSION = 1
DISABLE_ENV = "DETECTOR_NO_LABELS_CACHE"  # set to 1 to neither read nor write labels caches


def signature(roots: list[Path], options: dict) -> str:
    """sha1 of the options and of (path, size, mtime) of every file under ``roots`` (folders walked,
    following links to folders as the indexing does; files taken as they are; missing ones marked)."""
    h = hashlib.sha1(json.dumps({"version": VERSION, **options}, sort_keys=True, default=str).encode())
    for root in roots:
        root = Path(root)
        h.update(f"\0root {root}".encode())
        if root.is_dir():
            for dirpath, filenames in iter_tree(root):
                for f in filenames:
                    if ".labels" not in f or ".npz" not in f:  # not a labels cache (or its temporary file)
                        _stat_into(h, os.path.join(dirpath, f))
        else:
            _stat_into(h, str(root))
    return h.hexdigest()


def _stat_into(h, path: str) -> None:
    try:
        st = os.stat(path)
        h.update(f"\0{path}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    except OSError:
        h.update(f"\0{path}\0missing".encode())


def enabled() -> bool:
    return os.environ.get(DISABLE_ENV, "") in ("", "0")


def load(path: Path, sig: str):
    """(table, issues, cat_ids, names) from the cache at ``path`` when its signature is ``sig``, else None."""
    if not enabled() or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("version") != VERSION or meta.get("signature") != sig:
                return None
            table = RecordTable.from_arrays({k: z[k] for k in z.files if k != "meta"})
    except (OSError, ValueError, KeyError, EOFError) as e:  # truncated, foreign or older: rebuilt
        print(f"labels cache {path}: unreadable ({type(e).__name__}), indexing again", flush=True)
        return None
    issues = [Issue(**i) for i in meta["issues"]]
    return table, issues, meta["cat_ids"], meta["names"]


def save(path: Path, sig: str, table: RecordTable, issues: list[Issue], cat_ids: list[int], names: list[str]) -> bool:
    """Write the cache atomically (``utils.io.atomic_write``: a temporary file, then a rename); False, with one
    line, when the folder cannot be written."""
    if not enabled():
        return False
    from dataclasses import asdict

    meta = {"version": VERSION, "signature": sig, "cat_ids": list(cat_ids), "names": list(names),
            "issues": [asdict(i) for i in issues]}
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **table.to_arrays())

    try:
        atomic_write(path, write)
        return True
    except OSError as e:
        print(f"labels cache not written ({path.parent}: {e.strerror or e}); the split is indexed at each start",
              flush=True)
        return False


def cached_index(path: Path | None, roots: list[Path], options: dict, build):
    """``build()`` -> (table or records, issues, cat_ids, names), or its cached result when nothing changed.
    An index that decoded every image (``options['decode']``, as check_data does) has a file of its own.
    ``path`` None: no cache."""
    if path is None:
        return build()
    if options.get("decode"):
        path = path.with_name(path.name.replace(".labels.npz", ".labels-decoded.npz"))
    sig = signature(roots, options) if enabled() else ""
    hit = load(path, sig)
    if hit is not None:
        return hit
    table, issues, cat_ids, names = build()
    if not isinstance(table, RecordTable):
        table = RecordTable.from_records(list(table))
    save(path, sig, table, issues, cat_ids, names)
    return table, issues, cat_ids, names
