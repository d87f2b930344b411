"""Dataset YAML (``cfg/data/*.yaml``), two forms.

COCO json (class names and category ids come from the json)::

    path: /datasets/coco                  # relative paths: relative to this YAML file's folder
    train: {images: train2017, annotations: annotations/instances_train2017.json}
    val:   {images: val2017,   annotations: annotations/instances_val2017.json}

YOLO txt (labels found by the images/ -> labels/ rule)::

    path: /datasets/mydata
    train: images/train                   # a folder of images or a .txt list of image paths
    val: images/val
    names: {0: person, 1: car}            # or a list

Pascal VOC XML (``format: voc``; ``path`` holds ``Annotations/``, ``JPEGImages/``, ``ImageSets/``)::

    format: voc
    path: /datasets/VOCdevkit/VOC2012
    train: ImageSets/Main/train.txt
    val: ImageSets/Main/val.txt
    names: [aeroplane, bicycle, ...]      # optional: else collected from the XML files, sorted

Optional ``classes: [person, car]``: train and evaluate on these classes only (by name, for either
form); the other classes' boxes are left out and counted. Optional ``synthetic: {seed: 0, train: 400, val: 100, size: 256}``: the embedded synthetic
dataset, generated into ``path`` on first use. Optional ``crowds: {source: ../shared/data, seed: 0}``: the
crowded-person task (detector/data/crowds.py) built into ``path`` on first use from the COCO subsets in
``source`` (relative to this YAML's folder). Optional ``defaults: {epochs: 30, img: 256}``:
training settings used when the command line does not give them.
"""
from __future__ import annotations

from pathlib import Path


from ..config import ConfigError, find_config
from ..utils.safe_load import load_yaml_text
from .formats import FORMATS, parse_split
from .types import DataConfig, SplitSpec

__all__ = ["DataConfig", "SplitSpec", "load_data_config"]

DATA_KEYS = {"path", "train", "val", "test", "names", "nc", "synthetic", "crowds", "defaults", "classes", "format"}
IGNORED_KEYS = {"download", "roboflow"}  # Ultralytics / Roboflow exports carry them: read past, never acted on
TRAIN_DEFAULT_KEYS = {"epochs", "img", "batch"}
SPLITS = ("train", "val", "test")


def load_data_config(path: str | Path) -> DataConfig:
    p, shipped = find_config(path)
    d = _read_mapping(p)
    root = _data_root(p, d, shipped)
    fmt = d.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(f"{p}: format must be one of {', '.join(FORMATS)} (or left out), got {fmt!r}")
    splits = {s: parse_split(p, root, s, d[s], fmt) for s in SPLITS if d.get(s) is not None}
    if "train" not in splits and "val" not in splits:
        raise ConfigError(f"{p}: needs at least a 'train' or 'val' split")
    names = _names(p, d.get("names"))
    if any(sp.kind == "yolo" for sp in splits.values()) and not names:
        raise ConfigError(f"{p}: YOLO-txt datasets need 'names'")
    if "nc" in d and names and d["nc"] != len(names):
        raise ConfigError(f"{p}: nc {d['nc']} does not match {len(names)} names")
    classes = d.get("classes")
    if classes is not None and (not isinstance(classes, list) or not classes
                                or not all(isinstance(c, (str, int)) for c in classes)):
        raise ConfigError(f"{p}: classes must be a non-empty list of class names, got {classes!r}")
    syn = d.get("synthetic")
    if syn is not None and not isinstance(syn, dict):
        raise ConfigError(f"{p}: synthetic must be a mapping of generator options")
    crowds = d.get("crowds")
    if crowds is not None:
        if not isinstance(crowds, dict) or "source" not in crowds:
            raise ConfigError(f"{p}: crowds must be a mapping with 'source' (the folder of the COCO subsets) and "
                              "build options")
        crowds = dict(crowds)
        crowds["source"] = (p.parent / Path(str(crowds["source"])).expanduser()).resolve()
    defaults = d.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - TRAIN_DEFAULT_KEYS:
        raise ConfigError(f"{p}: defaults must be a mapping with keys among {sorted(TRAIN_DEFAULT_KEYS)}")
    return DataConfig(str(p), root, splits, names, [str(c) for c in classes] if classes else None, syn,
                      crowds=crowds, defaults=defaults, raw=d)


def _read_mapping(p: Path) -> dict:
    """The data YAML's top-level mapping, its keys checked (download keys noted as ignored)."""
    if not p.is_file():
        raise ConfigError(f"{p}: data config file not found")
    try:
        d = load_yaml_text(p.read_text(encoding="utf-8"), p)
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read data YAML: {e}") from None
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if not isinstance(d, dict):
        raise ConfigError(f"{p}: expected a mapping at top level")
    ignored = sorted(set(d) & IGNORED_KEYS)
    if ignored:
        print(f"{p}: note: {', '.join(ignored)} ignored (this tool never downloads data; the dataset must be at "
              "'path')", flush=True)
    unknown = sorted(set(d) - DATA_KEYS - IGNORED_KEYS)
    if unknown:
        raise ConfigError(f"{p}: unknown key(s) {unknown}; allowed: {sorted(DATA_KEYS)}")
    if "path" not in d:
        raise ConfigError(f"{p}: missing 'path' (the dataset root)")
    return d


def _data_root(p: Path, d: dict, shipped: bool) -> Path:
    """``path:`` resolved: relative to the YAML's folder, or, for a shipped data YAML used outside the
    repository, under the working directory (never inside the installed package)."""
    root = Path(str(d["path"])).expanduser()
    if root.is_absolute():
        return root
    if shipped and not (Path.cwd() / "cfg" / "data" / p.name).is_file():
        # ../../datasets/synthetic -> ./datasets/synthetic
        return (Path.cwd() / Path(*[x for x in root.parts if x != ".."])).resolve()
    return (p.parent / root).resolve()


def _names(p: Path, names) -> list[str] | None:
    """``names:`` as a list (a list, or a mapping whose keys are 0..n-1, quoted or not)."""
    if names is None:
        return None
    if isinstance(names, list):
        return [str(n) for n in names]
    if not isinstance(names, dict):
        raise ConfigError(f"{p}: names must be a list or a mapping id: name")
    if all(isinstance(k, str) and k.strip().isdigit() for k in names):  # '0': person (quoted keys)
        names = {int(k): v for k, v in names.items()}
    if not all(isinstance(k, int) and not isinstance(k, bool) for k in names):
        raise ConfigError(f"{p}: names keys must be class indices 0..{len(names) - 1}, got "
                          f"{[k for k in names][:10]!r}")
    keys = sorted(names)
    if keys != list(range(len(keys))):
        raise ConfigError(f"{p}: names keys must be 0..{len(keys) - 1}, got {keys}")
    return [str(names[k]) for k in keys]
