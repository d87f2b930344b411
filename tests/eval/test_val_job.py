"""tools/val.py's job: which NMS it runs (flag, then checkpoint, then model YAML, then the default) and the
image size it letterboxes to (rounded up to the model's stride)."""
import torch

from detector import build_model
from detector.checkpoint import save_checkpoint
from detector.eval import ValConfig, evaluate
from detector.ops.nms import DEFAULT_NMS

from ..conftest import CFG_DIR


def _ckpt(path, nms):
    torch.manual_seed(0)
    m = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=4)
    ck = {"model": m.state_dict(), "model_cfg": {**m.yaml, **({"nms": nms[1]} if nms[1] else {})},
          "names": ["circle", "square", "triangle", "star"]}
    if not nms[1]:
        ck["model_cfg"].pop("nms", None)
    if nms[0]:
        ck["nms"] = nms[0]
    save_checkpoint(path, ck)
    return path


def test_the_nms_comes_from_the_flag_then_the_checkpoint_then_the_yaml_then_the_default(tiny_data, tmp_path):
    cases = [(("soft", "diou"), "greedy", "greedy"), (("soft", "diou"), None, "soft"), ((None, "diou"), None, "diou"),
             ((None, None), None, DEFAULT_NMS)]
    for k, (in_ckpt, flag, want) in enumerate(cases):
        w = _ckpt(tmp_path / f"w{k}.pt", in_ckpt)
        m = evaluate(ValConfig(weights=str(w), data=str(tiny_data), img=96, batch=8, device="cpu", workers=0,
                               nms=flag, plots=False, save_json=False), tmp_path / f"v{k}")
        assert m["nms"] == want, (in_ckpt, flag)


def test_img_is_rounded_up_to_the_models_stride(tiny_data, tmp_path, capsys):
    w = _ckpt(tmp_path / "w.pt", (None, None))
    m = evaluate(ValConfig(weights=str(w), data=str(tiny_data), img=90, batch=8, device="cpu", workers=0,
                           plots=False, save_json=False), tmp_path / "v")
    assert "--img 90 is not a multiple of the stride 32; using 96" in capsys.readouterr().err
    assert m["images"] == 8
