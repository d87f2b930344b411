"""Runtimes: what opens an exported model file and runs it. One class per runtime, registered by name::

    @register_runtime
    class MyRuntime(Runtime):
        name = "myruntime"
        def accepts(self, path): ...            # is this path a model this runtime opens?
        def open(self, path, device="cpu"): ... # -> ExportedModel (detector.runtime.model)

Prediction and evaluation open exported models only through :func:`detector.runtime.open_exported`;
export formats (:mod:`detector.export`) name the runtime that opens what they write.
"""
from __future__ import annotations

from pathlib import Path

from ..registry import Registry

RUNTIMES = Registry("runtime")


class Runtime:
    name: str = ""

    def accepts(self, path: Path) -> bool:
        raise NotImplementedError

    def open(self, path: Path, device: str = "cpu"):
        raise NotImplementedError


def register_runtime(cls: type[Runtime]) -> type[Runtime]:
    RUNTIMES.add(cls.name, cls())
    return cls
