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
