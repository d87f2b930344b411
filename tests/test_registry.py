import pytest

from detector.registry import MODULES, Registry, RegistryError


def test_register_and_get():
    reg = Registry("thing")

    @reg.register()
    class Foo:
        pass

    assert reg.get("Foo") is Foo
    assert "Foo" in reg and len(reg) == 1 and list(reg) == ["Foo"]


def test_duplicate_name_is_an_error():
    reg = Registry("thing")

    @reg.register("X")
    class A:
        pass

    with pytest.raises(RegistryError, match="already registered"):

        @reg.register("X")
        class B:
            pass


def test_unknown_name_suggests_close_matches():
    with pytest.raises(RegistryError) as e:
        MODULES.get("CoordAttn")
    assert "did you mean 'CoordAtt'" in str(e.value)
    with pytest.raises(RegistryError) as e:
        MODULES.get("coordatt")
    assert "CoordAtt" in str(e.value)


def test_unknown_name_without_match_lists_known():
    with pytest.raises(RegistryError) as e:
        MODULES.get("Zzzzzzz")
    assert "known:" in str(e.value) and "BiFPN" in str(e.value)


def test_shipped_blocks_registered():
    for name in ["Conv", "C2f", "SPPF", "Concat", "Upsample", "CoordAtt", "SE", "CBAM", "ECA", "SimAM", "BiFPN",
                 "PAN", "Detect", "Identity"]:
        assert name in MODULES


def test_one_error_type_with_hints_for_every_kind():
    """Blocks, NMS methods, graph NMS, dataset formats, export formats and runtimes share one Registry."""
    from detector.data.formats import FORMATS as DATA_FORMATS
    from detector.export.graph_nms import GRAPH_NMS
    from detector.export.registry import FORMATS as EXPORT_FORMATS
    from detector.ops.nms import NMS_REGISTRY, get_nms
    from detector.runtime import RUNTIMES

    for reg, typo, hint in ((MODULES, "CoordAT", "CoordAtt"), (NMS_REGISTRY, "adaptive_sotf", "adaptive_soft"),
                            (GRAPH_NMS, "adaptve", "adaptive"), (DATA_FORMATS, "yolov", "yolo"),
                            (EXPORT_FORMATS, "onxx", "onnx"), (RUNTIMES, "openvno", "openvino")):
        assert isinstance(reg, Registry)
        with pytest.raises(RegistryError, match=f"did you mean '{hint}'"):
            reg.get(typo)
    with pytest.raises(ValueError, match="unknown NMS method 'nope': must be one of greedy, "):  # a ValueError too
        get_nms("nope")
    assert NMS_REGISTRY.names()[:2] == ["greedy", "adaptive"]  # registration order, as --help lists them


def test_nms_default_is_resolved_in_one_place():
    from detector.ops.nms import DEFAULT_NMS, resolve_nms

    assert DEFAULT_NMS == "adaptive_soft"
    assert resolve_nms(None, None, None) == DEFAULT_NMS
    assert resolve_nms(None, "soft", "greedy") == "soft" and resolve_nms("diou", "soft") == "diou"
    with pytest.raises(RegistryError, match="did you mean 'greedy'"):
        resolve_nms("gredy")


def test_old_engine_paths_import_the_new_modules_with_a_warning():
    import importlib
    import sys

    for old, new in (("detector.engine.trainer", "detector.train.trainer"),
                     ("detector.engine.callbacks", "detector.train.callbacks"),
                     ("detector.engine.detector_api", "detector.predict.api"),
                     ("detector.engine.checkpoint", "detector.checkpoint")):
        sys.modules.pop(old, None)
        with pytest.warns(DeprecationWarning, match=f"{old} moved to {new}"):
            mod = importlib.import_module(old)
        assert mod is importlib.import_module(new)
