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


class RegistryError(KeyError, ValueError):
    """Unknown or duplicate registry name. ``str()`` gives a readable sentence. A ``KeyError`` (a missing
    key) and a ``ValueError`` (a bad option value), so callers of either kind catch it."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0]) if self.args else ""


class Registry:
    """Names -> objects of one kind: network blocks, NMS methods, graph-NMS modules, dataset formats,
    export formats, runtimes. One decorator to register, one lookup with close-match hints, one error.

    >>> MODELS = Registry("model")
    >>> @MODELS.register()
    ... class Foo: ...
    >>> MODELS.get("Foo") is Foo
    True

    Names keep their registration order (``names()``, iteration): it is the order a ``--help`` lists them
    in, and for dataset formats the order they are tried in.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, object] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator registering an object under ``name`` (default: its ``name`` attribute if it has a
        non-empty one, else its ``__name__``). A second object under a taken name raises :class:`RegistryError`."""

        def deco(obj: T) -> T:
            self.add(name or getattr(obj, "name", None) or obj.__name__, obj)  # type: ignore[attr-defined]
            return obj

        return deco

    def add(self, name: str, obj: object) -> object:
        """Register ``obj`` (a class, a function or an instance) under ``name``; returns it."""
        if not isinstance(name, str) or not name:
            raise RegistryError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self._items and self._items[name] is not obj:
            old = self._items[name]
            raise RegistryError(f"{self.kind} name {name!r} is already registered "
                                f"(by {getattr(old, '__module__', type(old).__module__)}); pick another name")
        self._items[name] = obj
        return obj

    def get(self, name: str) -> object:
        """Return the object registered as ``name`` or raise with close-match hints."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            raise RegistryError(self.unknown_message(name)) from None

    __getitem__ = get

    def __setitem__(self, name: str, obj: object) -> None:
        """Replace a registered object (a test's wrapper; use :meth:`register` for new names)."""
        if name not in self._items:
            raise RegistryError(self.unknown_message(name))
        self._items[name] = obj

    def pop(self, name: str, default: object = None) -> object:
        """Unregister ``name`` (a plug-in's teardown, a test's cleanup); ``default`` when absent."""
        return self._items.pop(name, default)

    def unknown_message(self, name: object) -> str:
        hints = difflib.get_close_matches(str(name), self._items, n=3, cutoff=0.5)
        if not hints:  # case-insensitive match, e.g. 'coordatt' -> 'CoordAtt'
            hints = [k for k in self._items if k.lower() == str(name).lower()]
        msg = f"unknown {self.kind} {name!r}"
        if len(self._items) <= 12:  # a short list: say it whole
            msg += f": must be one of {', '.join(self._items)}"
        if hints:
            msg += f"; did you mean {', '.join(repr(h) for h in hints)}?"
        elif len(self._items) > 12:
            msg += f"; known: {', '.join(sorted(self._items))}"
        return msg

    def names(self) -> list[str]:
        """The registered names, in registration order (argparse ``choices``)."""
        return list(self._items)

    def values(self) -> list[object]:
        return list(self._items.values())

    def items(self) -> list[tuple[str, object]]:
        return list(self._items.items())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._items)})"


#: Network blocks usable in model YAML files (backbone, neck and head blocks alike).
MODULES = Registry("module")
