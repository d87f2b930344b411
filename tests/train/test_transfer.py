"""--weights across YAML edits: layers matched by type, order and shapes, not by index."""
import torch

from detector import build_model
from detector.checkpoint import save_checkpoint
from detector.train.transfer import transfer_weights

from ..conftest import CFG_DIR

BACKBONE = ("Conv", "C2f", "SPPF")


def _tensors(model, i):
    return {k: v for k, v in model.state_dict().items() if k.startswith(f"layers.{i}.")}


def test_base_backbone_into_the_product(tmp_path):
    torch.manual_seed(1)
    src = build_model(CFG_DIR / "yolo_base.yaml", nc=4)
    torch.manual_seed(2)
    dst = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=4)
    rep = transfer_weights(dst, src.state_dict(), src.yaml)
    back = [m.layer_index for m in dst.layers if m.type in BACKBONE]
    assert len(back) == 10
    for i in back:  # every backbone Conv / C2f / SPPF tensor, exactly
        for k, v in _tensors(src, i).items():
            assert torch.equal(dst.state_dict()[k], v), k
    assert (13, "BiFPN") in rep.fresh and all(ty != "CoordAtt" for _, _, ty in rep.pairs)
    assert rep.summary("x.pt").startswith(f"transferred {rep.loaded}/{len(dst.state_dict())} tensors from x.pt: layers 0 1 2")


def test_inserted_layer_shifts_indices(tmp_path):
    text = (CFG_DIR / "yolo_base.yaml").read_text()
    text = text.replace("  - [-1, 3, C2f, [128, True]] # 2\n", "  - [-1, 3, C2f, [128, True]] # 2\n  - [-1, 1, CoordAtt, []]\n")
    text = text.replace("[[5, 8, 12], 3, PAN, [256]]", "[[6, 9, 13], 3, PAN, [256]]").replace("[13, 1, Detect", "[14, 1, Detect")
    (tmp_path / "shifted.yaml").write_text(text)
    torch.manual_seed(1)
    src = build_model(CFG_DIR / "yolo_base.yaml", nc=4)
    dst = build_model(tmp_path / "shifted.yaml", nc=4)
    rep = transfer_weights(dst, src.state_dict(), src.yaml)
    assert rep.fresh == [(3, "CoordAtt")]
    assert rep.loaded == len(dst.state_dict()) - len(_tensors(dst, 3))
    assert (3, 4, "Conv") in rep.pairs and (13, 14, "PAN") in rep.pairs and (14, 15, "Detect") in rep.pairs
    x = torch.rand(1, 3, 64, 64)
    dst.layers[3] = torch.nn.Identity()  # without the new block the two graphs compute the same thing
    dst.layers[3].layer_index, dst.layers[3].inputs, dst.layers[3].type = 3, [-1], "Identity"
    for a, b in zip(src.eval()(x), dst.eval()(x)):
        assert torch.allclose(a, b, atol=1e-5)


def test_other_class_count_keeps_all_but_the_class_branch(tmp_path):
    torch.manual_seed(1)
    src = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=80)
    ck = tmp_path / "coco.pt"
    save_checkpoint(ck, {"model": src.state_dict(), "model_cfg": src.yaml})
    dst = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=4)
    rep = transfer_weights(dst, src.state_dict(), src.yaml)
    head = len(dst.layers) - 1
    other = [k for k, v in dst.state_dict().items() if src.state_dict()[k].shape != v.shape]
    assert other and all(".cls." in k for k in other)  # the class branch's width depends on nc (as YOLOv8's)
    assert rep.fresh == [(head, f"Detect: {len(other)} tensors of another shape")]
    assert rep.loaded == len(dst.state_dict()) - len(other)
    for k in ("box_stem", "box_pred", "density_pred"):
        key = next(n for n in dst.state_dict() if "head" not in n and f".{k}." in n)
        assert torch.equal(dst.state_dict()[key], src.state_dict()[key])


def test_train_weights_flag_prints_the_transfer(tmp_path, tiny_data, capsys):
    from detector.train import Trainer, TrainConfig

    src = build_model(CFG_DIR / "yolo_base.yaml", nc=4)
    ck = tmp_path / "base.pt"
    save_checkpoint(ck, {"model": src.state_dict(), "model_cfg": src.yaml})
    Trainer(TrainConfig(cfg=str(CFG_DIR / "yolo_ca_bifpn.yaml"), weights=str(ck), data=str(tiny_data), epochs=1,
                        img=64, batch=4, workers=0, max_batches=1, plots=False, project=str(tmp_path), name="ft")).train()
    out = capsys.readouterr().out
    assert f"from {ck}: layers 0 1 2 3 4 6 7 9 10 11" in out and "starting fresh: 5 (CoordAtt)" in out
