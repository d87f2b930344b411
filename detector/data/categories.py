"""Do two sides (train and val split, checkpoint and dataset) mean the same classes? Not only the same
count: the same names in the same order and, where both have them, the same category ids."""
from __future__ import annotations


def category_mismatch(a_name: str, a_names: list[str], a_ids: list[int] | None,
                      b_name: str, b_names: list[str], b_ids: list[int] | None) -> str | None:
    """A sentence naming both sides and the first difference, or None when they agree."""
    a_names, b_names = [str(n) for n in a_names], [str(n) for n in b_names]
    if len(a_names) != len(b_names):
        return (f"{a_name} has {len(a_names)} classes but {b_name} has {len(b_names)} "
                f"({_head(a_names)} vs {_head(b_names)})")
    diff = [i for i, (x, y) in enumerate(zip(a_names, b_names)) if x != y]
    if diff:
        i = diff[0]
        return (f"class names differ between {a_name} and {b_name}: class {i} is {a_names[i]!r} vs {b_names[i]!r}"
                f" ({len(diff)} of {len(a_names)} classes differ)")
    if a_ids is not None and b_ids is not None and list(a_ids) != list(b_ids):
        i = next(k for k, (x, y) in enumerate(zip(a_ids, b_ids)) if x != y)
        return (f"category ids differ between {a_name} and {b_name}: class {i} ({a_names[i]!r}) has id "
                f"{a_ids[i]} vs {b_ids[i]}")
    return None


def _head(names: list[str], n: int = 4) -> str:
    return "[" + ", ".join(names[:n]) + (", ...]" if len(names) > n else "]")
