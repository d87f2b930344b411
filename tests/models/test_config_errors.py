"""Malformed YAML -> a ConfigError naming the file and the layer; never a half-built model."""
import pytest

from detector import ConfigError, build_model

GOOD = """nc: 2
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - [-1, 1, Conv, [32, 3, 2]]
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, CoordAtt, []]
  - [-1, 1, Conv, [64, 3, 2]]
head:
  - [[3, 4], 1, Detect, [nc]]
"""


def write(tmp_path, text, name="m.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_good_config_builds(tmp_path):
    m = build_model(write(tmp_path, GOOD))
    assert m.stride.tolist() == [8.0, 16.0]


@pytest.mark.parametrize(
    "old,new,expect",
    [
        ("CoordAtt, []", "CoordAttn, []", r"m\.yaml: layer 3 \(backbone\[3\], CoordAttn\): unknown module 'CoordAttn'; did you mean 'CoordAtt'"),
        ("[[3, 4], 1, Detect", "[[3, 9], 1, Detect", r"m\.yaml: layer 5 \(head\[0\], Detect\): 'from' index 9 does not name an earlier layer"),
        ("[-1, 1, Conv, [32, 3, 2]]", "[-7, 1, Conv, [32, 3, 2]]", r"layer 1 \(backbone\[1\], Conv\): 'from' index -7"),
        ("[-1, 1, Conv, [32, 3, 2]]", "[-1, 1, Conv, [32, 3, 2, 1, 9, 9]]", r"layer 1 \(backbone\[1\], Conv\): args \[32, 3, 2, 1, 9, 9\] do not fit Conv\(c_out, k=1, s=1, g=1\)"),
        ("[-1, 1, Conv, [32, 3, 2]]", "[-1, 1, Conv, []]", r"layer 1 \(backbone\[1\], Conv\): args \[\] do not fit"),
        ("[-1, 1, Conv, [32, 3, 2]]", "[-1, 1, Conv, [-32, 3, 2]]", r"layer 1 \(backbone\[1\], Conv\): .*positive integer"),
        ("[-1, 1, Conv, [32, 3, 2]]", "[-1, 1, Conv]", r"layer 1 \(backbone\[1\]\): expected \[from, repeats, module, args\]"),
        ("[-1, 1, Conv, [32, 3, 2]]", "[-1, 0, Conv, [32, 3, 2]]", r"layer 1 \(backbone\[1\], Conv\): repeats must be a positive integer"),
        ("[-1, 1, Conv, [32, 3, 2]]", "[x, 1, Conv, [32, 3, 2]]", r"layer 1 \(backbone\[1\], Conv\): 'from' entries must be integers"),
        ("[-1, 1, Conv, [32, 3, 2]]", "[-1, 1, Conv, 32]", r"layer 1 \(backbone\[1\], Conv\): args must be a list"),
        ("nc: 2", "nc: 2\nanchors: 3", r"m\.yaml: unknown top-level key\(s\) \['anchors'\]"),
        ("nc: 2", "nc: two", r"m\.yaml: nc must be a positive integer"),
        ("nc: 2", "nc: 2\nnms: fancy", r"m\.yaml: nms must be one of"),
        ("[[3, 4], 1, Detect, [nc]]", "[[3, 4], 1, Concat, []]", r"m\.yaml: the last layer must be a detection head"),
        ("[[3, 4], 1, Detect, [nc]]", "[[4, 3], 1, Detect, [nc]]", r"fine to coarse"),
        ("[-1, 1, CoordAtt, []]", "[[-1, -2], 1, CoordAtt, []]", r"layer 3 \(backbone\[3\], CoordAtt\): .*expects one input"),
        # values that used to fail only at the first forward (issue 12): caught at build time
        ("[-1, 1, Conv, [32, 3, 2]]", "[-1, 1, Conv, [32, 3, 0]]", r"layer 1 \(backbone\[1\], Conv\): .*s must be a positive integer, got 0"),
        ("[-1, 1, Conv, [32, 3, 2]]", "[-1, 1, Conv, [32, 0, 2]]", r"layer 1 \(backbone\[1\], Conv\): .*k must be a positive integer"),
        ("[-1, 1, Conv, [32, 3, 2]]", "[-1, 1, Conv, [32, 3, 2, 3]]", r"layer 1 \(backbone\[1\], Conv\): .*groups g=3 must divide"),
        ("[-1, 1, CoordAtt, []]", "[-1, 1, CoordAtt, [0]]", r"layer 3 \(backbone\[3\], CoordAtt\): .*reduction must be a positive integer"),
        ("[-1, 1, CoordAtt, []]", "[-1, 1, Upsample, [0]]", r"layer 3 \(backbone\[3\], Upsample\): .*scale must be a positive integer"),
        ("[-1, 1, CoordAtt, []]", "[[2], 1, Detect, [nc]]", r"layer 3 \(Detect\): the detection head must be the last layer"),
    ],
)
def test_error_names_file_and_layer(tmp_path, old, new, expect):
    assert old in GOOD
    with pytest.raises(ConfigError, match=expect):
        build_model(write(tmp_path, GOOD.replace(old, new)))


def test_invalid_yaml_syntax(tmp_path):
    with pytest.raises(ConfigError, match=r"m\.yaml: invalid YAML"):
        build_model(write(tmp_path, "nc: 2\nbackbone: [[-1, 1, Conv\nhead: x\n"))


def test_missing_file_and_bad_scale(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        build_model(tmp_path / "nope.yaml")
    p = write(tmp_path, "scales:\n  n: [0.33, 0.25, 1024]\n" + GOOD)
    with pytest.raises(ConfigError, match=r"scale 'x' not in scales \['n'\]"):
        build_model(p, scale="x")
    with pytest.raises(ConfigError, match=r"scales\.n must be"):
        build_model(write(tmp_path, "scales:\n  n: [0.33, 0.25]\n" + GOOD))


def test_yaml_tags_are_not_executed(tmp_path):
    p = write(tmp_path, "nc: !!python/object/apply:os.system ['echo hacked']\n" + GOOD.split("\n", 1)[1])
    with pytest.raises(ConfigError, match="invalid YAML"):
        build_model(p)


def test_detect_fed_a_single_layer_is_one_level(tmp_path):
    """[[3], 1, Detect, [nc]] (or [3, ...]) is a one-level head, not a failure at the first forward."""
    import torch

    m = build_model(write(tmp_path, GOOD.replace("[[3, 4], 1, Detect", "[3, 1, Detect")))
    assert m.stride.tolist() == [8.0]
    out = m(torch.zeros(1, 3, 64, 64))
    assert len(out) == 1 and out[0].shape == (1, 4 * 16 + 2 + 1, 8, 8)
