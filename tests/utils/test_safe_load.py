"""Foreign YAML / JSON shapes that used to take the process down: deep nesting (RecursionError) and
YAML alias bombs (MemoryError in our own error message's repr). Each is one sentence naming the file."""
import json

import pytest

from detector.config import ConfigError, load_model_config
from detector.data import load_data_config
from detector.train.hyp import load_hyp
from detector.metrics.results_file import read_results
from detector.utils.safe_load import MAX_VALUES, check_shape, load_json_text, read_json

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi"))  # 10^9 values once expanded


@pytest.mark.parametrize("loader", [load_model_config, load_data_config, load_hyp])
def test_alias_bomb_and_deep_nesting_in_every_yaml(tmp_path, loader):
    y = tmp_path / "bomb.yaml"
    y.write_text(BOMB)
    with pytest.raises(ConfigError, match=r"bomb\.yaml: expands to over"):
        loader(y)
    y.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"bomb\.yaml: nested"):
        loader(y)


def test_deeply_nested_json_results_and_annotations(tmp_path):
    from detector.data.coco_index import index_coco

    p = tmp_path / "deep.json"
    p.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ValueError, match=r"deep\.json: cannot read predictions json: nested too deeply"):
        read_results(p, None)
    with pytest.raises(ValueError, match=r"deep\.json: cannot read COCO annotations: nested too deeply"):
        index_coco(tmp_path, p, "val")


def test_ordinary_shapes_pass():
    d = {"a": [1, 2, {"b": list(range(1000))}]}
    assert check_shape(d, "x") is d
    with pytest.raises(ValueError, match="over 10 values"):
        check_shape(list(range(20)), "x", max_values=10)


def test_large_honest_json_loads_beside_the_yaml_bomb(tmp_path):
    """JSON has no aliases, so it is never value-capped: a COCO-shaped json of over 3 million values (a
    COCO train2017 json holds tens of millions) loads, while the YAML alias bomb is still refused."""
    anns = [{"id": i, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4],
             "segmentation": [[float(k) for k in range(100)]]} for i in range(30_000)]
    p = tmp_path / "instances.json"
    p.write_text(json.dumps({"images": [{"id": 1}], "annotations": anns, "categories": [{"id": 1}]}))
    d = read_json(p)
    assert len(d["annotations"]) == 30_000 and d["annotations"][-1]["segmentation"][0][-1] == 99.0
    with pytest.raises(ValueError, match="expands to over"):
        check_shape(d, p)  # the same shape as YAML would be over the cap
    y = tmp_path / "bomb.yaml"
    y.write_text(BOMB)
    with pytest.raises(ConfigError, match="expands to over"):
        load_data_config(y)
    assert 3_000_000 > MAX_VALUES


def test_coco_index_of_a_json_over_the_old_cap(tmp_path):
    """The COCO indexing itself (streamed, not read_json) takes a json of 1.4 M values: 20 k annotations
    with their polygons, every one kept."""
    import cv2
    import numpy as np

    from detector.data.coco_index import index_coco

    (tmp_path / "img").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "a.jpg"), np.zeros((100, 100, 3), np.uint8))
    anns = [{"id": i, "image_id": 1, "category_id": 1, "bbox": [i % 90, (i // 90) % 90, 1 + i // 8100, 5], "iscrowd": 0,
             "segmentation": [[float(i % 90), 1.0] * 30]} for i in range(20_000)]
    p = tmp_path / "instances.json"
    p.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
                             "annotations": anns, "categories": [{"id": 1, "name": "a"}]}))
    recs, issues, _, _ = index_coco(tmp_path / "img", p, "train")
    assert issues == [] and len(recs) == 1 and len(recs[0].boxes) == 20_000
    assert len(recs[0].segments) == 20_000 and len(recs[0].segments[-1][0]) == 60


def test_json_errors_name_the_file():
    with pytest.raises(ValueError, match=r"^x\.json: invalid JSON"):
        load_json_text(b"\xff\xfe\x00[", "x.json")
    with pytest.raises(ValueError, match=r"^y\.json: invalid JSON"):
        load_json_text("[1, 2", "y.json")
    with pytest.raises(ValueError, match=r"^z\.json: nested too deeply"):
        load_json_text("[" * 100000 + "]" * 100000, "z.json")


def test_json_that_does_not_fit_in_memory_is_one_sentence(monkeypatch):
    import detector.utils.safe_load as sl

    def oom(text):
        raise MemoryError
    monkeypatch.setattr(sl.json, "loads", oom)
    with pytest.raises(ValueError, match=r"^big\.json: does not fit in the memory available"):
        sl.load_json_text(b"[]", "big.json")
