"""Name -> class registries.

YAML module names resolve *only* through a :class:`Registry`; nothing in the
package calls ``eval`` or looks names up in ``globals()``.  Registries are
filled by explicit imports (``detector.nn`` imports every block file), so the
set of names is exactly what the package ships plus what a user registers.
"""
from __future__ import annotations

import difflib
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")


class RegistryError(KeyError):
    """Unknown or duplicate registry name. ``str()`` gives a readable sentence."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else ""


class Registry:
    """A mapping from names to classes (or factories) of one component kind.

    >>> MODELS = Registry("model")
    >>> @MODELS.register()
    ... class Foo: ...
    >>> MODELS.get("Foo") is Foo
    True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, object] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator registering a class under ``name`` (default: its ``__name__``).

        Registering a second object under a taken name raises :class:`RegistryError`.
        """

        def deco(obj: T) -> T:
            key = name or obj.__name__  # type: ignore[attr-defined]
            if key in self._items and self._items[key] is not obj:
                raise RegistryError(
                    f"{self.kind} name {key!r} is already registered "
                    f"(by {self._items[key]!r}); pick another name"
                )
            self._items[key] = obj
            return obj

        return deco

    def get(self, name: str) -> object:
        """Return the object registered as ``name`` or raise with close-match hints."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise RegistryError(self.unknown_message(name)) from None

    def unknown_message(self, name: object) -> str:
        hints = difflib.get_close_matches(str(name), self._items, n=3, cutoff=0.5)
        if not hints:  # case-insensitive match, e.g. 'coordatt' -> 'CoordAtt'
            hints = [k for k in self._items if k.lower() == str(name).lower()]
        msg = f"unknown {self.kind} {name!r}"
        if hints:
            msg += f"; did you mean {', '.join(repr(h) for h in hints)}?"
        else:
            msg += f"; known: {', '.join(sorted(self._items))}"
        return msg

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, object]]:
        return sorted(self._items.items())


#: Network blocks usable in model YAML files.
MODULES = Registry("module")
