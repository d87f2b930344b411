"""Reading foreign YAML and JSON without letting their shape take the process down.

``yaml.safe_load`` runs no code, but two shapes still hurt: nesting deeper than Python's recursion
limit (RecursionError inside the parser) and aliases that expand a few lines into billions of values
(a "billion laughs": PyYAML shares the aliased objects, so the load is cheap, and the blow-up comes later,
in whatever walks or prints the value, our own error messages included). Both become one
``ValueError`` naming the file here.

JSON has no aliases: every value in it is a byte of the file, so its size is honest and it is **not**
value-capped (COCO train2017's instances json holds tens of millions of values). Only its nesting is
bounded, by the parser's own recursion check, and a file that does not fit in memory ends in one sentence.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

MAX_VALUES = 1_000_000  # scalars and containers, aliased ones counted at every place they appear
MAX_DEPTH = 200


def check_shape(obj: Any, source, max_values: int = MAX_VALUES, max_depth: int = MAX_DEPTH) -> Any:
    """``obj`` back if walking it fully visits at most ``max_values`` values at most ``max_depth`` deep,
    else a ValueError naming ``source``. Iterative (no recursion) and stops at the first excess."""
    n, stack = 0, [(obj, 0)]
    while stack:
        x, depth = stack.pop()
        n += 1
        if n > max_values:
            raise ValueError(f"{source}: expands to over {max_values:,} values (YAML aliases repeated inside each "
                             "other, a 'billion laughs'?); refused")
        if depth > max_depth:
            raise ValueError(f"{source}: nested more than {max_depth} levels deep; refused")
        if isinstance(x, dict):
            stack.extend((v, depth + 1) for kv in x.items() for v in kv)
        elif isinstance(x, (list, tuple)):
            stack.extend((v, depth + 1) for v in x)
    return obj


def out_of_memory(source, nbytes: int | None = None, kind: str = "JSON") -> ValueError:
    """The one sentence for a file that does not fit in memory."""
    size = f" ({nbytes / 2**20:,.0f} MiB of {kind})" if nbytes is not None else ""
    return ValueError(f"{source}: does not fit in the memory available{size}; free memory or use a machine with more")


def _parse(parse, errors, kind: str, text, source, shape: bool = True) -> Any:
    try:
        obj = parse(text)
        return check_shape(obj, source) if shape else obj
    except MemoryError:
        raise out_of_memory(source, len(text), kind) from None
    except RecursionError:
        raise ValueError(f"{source}: nested too deeply to read (over Python's recursion limit); refused") from None
    except errors as e:
        raise ValueError(f"{source}: invalid {kind}: {e}") from None


def load_yaml_text(text: str, source) -> Any:
    """``yaml.safe_load`` with the shape checks; YAML errors, too, become a ValueError naming ``source``."""
    return _parse(yaml.safe_load, yaml.YAMLError, "YAML", text, source)


def load_json_text(text: str | bytes, source) -> Any:
    """``json.loads`` without a value cap (see the module docstring); nesting past the parser's recursion
    limit, running out of memory and JSON errors become a ValueError naming ``source``."""
    return _parse(json.loads, (json.JSONDecodeError, UnicodeDecodeError), "JSON", text, source, shape=False)


def read_json(path: str | Path) -> Any:
    try:
        data = Path(path).read_bytes()  # bytes: no decoded str copy of a large file beside the parse
    except OSError as e:
        raise ValueError(f"{path}: cannot read: {e}") from None
    except MemoryError:
        raise out_of_memory(path) from None
    return load_json_text(data, path)
