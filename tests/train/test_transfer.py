"""--weights across YAML edits: layers matched by type, order and shapes, not by index."""
import pytest
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
    assert rep.fresh == [(3, "CoordAtt, as identity")]
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
    assert f"from {ck}: layers 0 1 2 3 4 6 7 9 10 11" in out and "starting fresh: 5 (CoordAtt, as identity)" in out


def test_inserted_attention_starts_as_an_exact_identity(tmp_path):
    """yolo_base -> yolo_ca (CoordAtt where yolo_base has Identity): at step 0 the target computes the source's
    outputs bit for bit; the gates learn (a gradient reaches them); a checkpoint keeps and re-arms them."""
    from detector.checkpoint import load_checkpoint, model_from_checkpoint

    torch.manual_seed(1)
    src = build_model(CFG_DIR / "yolo_base.yaml", nc=3)
    torch.manual_seed(2)
    dst = build_model(CFG_DIR / "yolo_ca.yaml", nc=3)
    rep = transfer_weights(dst, src.state_dict(), src.yaml)
    ca = [i for i, ty in rep.fresh if ty == "CoordAtt, as identity"]
    assert len(ca) == 3 and all(float(dst.layers[i].identity_gate.detach()) == 0.0 for i in ca)
    x = torch.rand(2, 3, 96, 64)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(src.eval()(x), dst.eval()(x)))
    dst.train()
    sum(o.float().pow(2).mean() for o in dst(x)).backward()
    assert all(dst.layers[i].identity_gate.grad.abs().item() > 0 for i in ca)
    assert "layers.5.identity_gate" in dst.no_weight_decay_parameters()
    with torch.no_grad():  # a gate that has moved: the block now acts, and the checkpoint must say so
        dst.layers[ca[0]].identity_gate.fill_(0.5)
    save_checkpoint(tmp_path / "ft.pt", {"model": dst.state_dict(), "model_cfg": dst.yaml, "names": ["a", "b", "c"]})
    back = model_from_checkpoint(load_checkpoint(tmp_path / "ft.pt")).eval()
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(dst.eval()(x), back(x)))
    again = build_model(CFG_DIR / "yolo_ca.yaml", nc=3)  # a gated block transferred keeps its gate (its function)
    transfer_weights(again, dst.state_dict(), dst.yaml)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(dst(x), again.eval()(x)))


def test_a_fresh_bifpn_fuses_with_equal_weights():
    torch.manual_seed(1)
    src = build_model(CFG_DIR / "yolo_base.yaml", nc=3)
    dst = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=3)
    rep = transfer_weights(dst, src.state_dict(), src.yaml)
    assert any(ty == "BiFPN" for _, ty in rep.fresh)
    for w in dst.fusion_weights().values():
        assert torch.equal(w, w[:1].expand_as(w)) and abs(float(w.sum()) - 1) < 1e-3  # equal (eps in the sum)


def test_freeze_leaves_the_first_layers_out_of_training():
    from detector.train.optim import build_optimizer
    from detector.train.transfer import freeze_layers

    m = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=3)
    n_all = sum(len(g["params"]) for g in build_optimizer(m).param_groups)
    line = freeze_layers(m, 10)
    frozen = [p for layer in list(m.layers)[:10] for p in layer.parameters()]
    assert line.startswith("--freeze 10: layers 0-9 frozen") and all(not p.requires_grad for p in frozen)
    assert all(p.requires_grad for layer in list(m.layers)[10:] for p in layer.parameters())
    assert sum(len(g["params"]) for g in build_optimizer(m).param_groups) == n_all - len(frozen)
    with pytest.raises(ValueError, match="--freeze 99: the model has"):
        freeze_layers(m, 99)


def test_a_fine_tuning_run_with_gates_resumes_and_freezes(tiny_data, tmp_path, capsys):
    """--weights from a graph without CoordAtt, --freeze 3: last.pt holds the gates; --resume re-arms them
    before the EMA and the optimizer are built (their state loads), and the frozen layers never move."""
    from detector.checkpoint import load_checkpoint
    from detector.train import Trainer, TrainConfig

    torch.manual_seed(1)
    src = build_model(CFG_DIR / "yolo_base.yaml", nc=4)
    ck = tmp_path / "base.pt"
    save_checkpoint(ck, {"model": src.state_dict(), "model_cfg": src.yaml})
    kw = dict(data=str(tiny_data), img=64, batch=4, workers=0, max_batches=3, plots=False, project=str(tmp_path),
              device="cpu")  # 3 steps: the first one's weight LR is 0 (warmup)
    Trainer(TrainConfig(cfg=str(CFG_DIR / "yolo_ca.yaml"), weights=str(ck), epochs=1, freeze=3, name="ft", **kw)).train()
    assert "--freeze 3: layers 0-2 frozen" in capsys.readouterr().out
    last = tmp_path / "ft" / "weights" / "last.pt"
    state = load_checkpoint(last)
    assert {"layers.5.identity_gate", "layers.8.identity_gate", "layers.12.identity_gate"} <= set(state["model"])
    frozen = {k: v for k, v in src.named_parameters() if k.split(".")[1] in ("0", "1", "2")}  # not BN statistics
    assert len(frozen) > 5 and all(torch.equal(state["model"][k], v) for k, v in frozen.items())
    assert not torch.equal(state["model"]["layers.3.conv.weight"], src.state_dict()["layers.3.conv.weight"])
    state["train_cfg"]["epochs"] = 2  # as if stopped after the first of 2 epochs
    save_checkpoint(last, state)
    Trainer(TrainConfig(resume=str(last), **kw)).train()
    assert load_checkpoint(last)["epoch"] == 1


def test_the_weights_scale_is_built_unless_the_user_chose_one():
    from detector.train.transfer import scale_for_weights

    prod = str(CFG_DIR / "yolo_ca_bifpn.yaml")  # its own default: scale n
    src_s = build_model(CFG_DIR / "yolo_base.yaml", scale="s").yaml
    assert scale_for_weights(prod, None, src_s, "s.pt") == ("s", "scale s from --weights s.pt (the YAML's default "
                                                                  "is n; --scale n keeps it)")
    scale, note = scale_for_weights(prod, "n", src_s, "s.pt")  # --scale n: kept, said
    assert scale == "n" and note.startswith("warning: --weights s.pt is a scale-s model") and "(--scale n)" in note
    scale, note = scale_for_weights(str(CFG_DIR / "yolo_ca_bifpn-n.yaml"), None, src_s, "s.pt")  # the name's -n
    assert scale is None and "the file name's -n" in note
    assert scale_for_weights(prod, None, build_model(CFG_DIR / "yolo_base.yaml").yaml, "n.pt") == (None, "")
    custom = {**src_s, "scale": "t", "scales": {"t": [0.33, 0.0625, 1024]}}  # a width the product does not list
    scale, note = scale_for_weights(prod, None, custom, "t.pt")  # the file's own width, taken from it
    assert scale == "t" and "not in the YAML's scales, so its [depth, width, max_channels] [0.33, 0.0625, 1024]" in note
    scale, note = scale_for_weights(prod, None, {**custom, "scales": {}}, "t.pt")  # nor defined by the file
    assert scale is None and "scale 't' is not in the YAML's scales" in note
    assert scale_for_weights(prod, None, None, "x.pt") == (None, "")  # a file without its graph: nothing to say


def test_weights_of_a_width_the_yaml_does_not_list_build_at_that_width():
    """A file of a custom scale (one the target YAML lacks, e.g. Ultralytics' yaml edited to a tiny width) builds the
    target at the file's own [depth, width, max_channels], so its whole backbone moves, as tools/convert.py does."""
    from detector.train.transfer import build_from_weights

    d = build_model(CFG_DIR / "yolo_base.yaml").yaml
    d.update(scales={"t": [0.33, 0.125, 1024]}, scale="t")
    src = build_model(d, nc=3)
    ck = {"model": src.state_dict(), "model_cfg": src.yaml, "names": ["a", "b", "c"]}
    dst, lines = build_from_weights(str(CFG_DIR / "yolo_ca_bifpn.yaml"), None, ["a", "b", "c"], ck, "t.pt")
    assert dst.yaml["scale"] == "t" and dst.yaml["scales"]["t"] == [0.33, 0.125, 1024]
    assert dst.layers[0].conv.weight.shape == src.layers[0].conv.weight.shape  # 8 channels, not the n scale's 16
    assert lines[0].startswith("scale t from --weights t.pt: not in the YAML's scales")
    assert "layers 0 1 2 3 4 6 7 9 10 11" in lines[1]  # the whole backbone, as at a listed scale
    dst, lines = build_from_weights(str(CFG_DIR / "yolo_ca_bifpn.yaml"), "n", ["a", "b", "c"], ck, "t.pt")
    assert dst.yaml["scale"] == "n" and lines[0].startswith("warning: --weights t.pt is a scale-t model")


def test_train_from_weights_of_another_scale_builds_that_scale(tmp_path, tiny_data, capsys):
    from detector.train import Trainer, TrainConfig

    src = build_model(CFG_DIR / "yolo_base.yaml", scale="s", nc=4)
    ck = tmp_path / "base_s.pt"
    save_checkpoint(ck, {"model": src.state_dict(), "model_cfg": src.yaml})
    t = Trainer(TrainConfig(cfg=str(CFG_DIR / "yolo_ca_bifpn.yaml"), weights=str(ck), data=str(tiny_data), epochs=1,
                            img=64, batch=4, workers=0, max_batches=1, plots=False, project=str(tmp_path), name="s"))
    t.train()
    out = capsys.readouterr().out
    assert f"scale s from --weights {ck}" in out
    assert f"from {ck}: layers 0 1 2 3 4 6 7 9 10 11" in out  # the whole backbone, as at the same scale
    from detector.checkpoint import load_checkpoint
    assert load_checkpoint(tmp_path / "s" / "weights" / "last.pt")["model_cfg"]["scale"] == "s"


def test_fine_tuning_to_other_classes_keeps_the_class_branch_and_moves_rows_by_name():
    """As Ultralytics fine-tunes: the class branch is built at the source's width (it follows the class count when a
    head is built) so its hidden layers move, and the predictor's rows move for classes of the same name."""
    from detector.nn.heads import Detect
    from detector.train.transfer import build_from_weights, head_cls_width

    src = build_model(CFG_DIR / "yolo_base.yaml", nc=80)  # class width 80 (64 at 4 classes)
    coco = [f"class{i}" for i in range(80)]
    coco[2], coco[7] = "car", "truck"
    ck = {"model": src.state_dict(), "model_cfg": src.yaml, "names": coco}
    assert head_cls_width(build_model(CFG_DIR / "yolo_base.yaml", nc=4), src.state_dict()) == 80
    assert head_cls_width(build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=4), src.state_dict()) is None  # other inputs
    assert head_cls_width(build_model(CFG_DIR / "yolo_base.yaml", nc=80), src.state_dict()) is None  # nothing to do
    names = ["Truck ", "bike", "car", "boat"]
    dst, lines = build_from_weights(str(CFG_DIR / "yolo_base.yaml"), None, names, ck, "coco.pt")
    head, s_head = dst.layers[-1], src.layers[-1]
    assert head.nc == 4 and head.cls[0][-1].in_channels == 80
    assert lines[0] == "class branch at the width of coco.pt's (80), so that its hidden layers move"
    assert "transferred" in lines[1] and lines[1].endswith("starting fresh: 14 (Detect: 6 tensors of another shape)")
    assert lines[2] == ("class predictor rows moved by name from coco.pt: Truck , car (2 of 4 classes; the others "
                        "start fresh)")
    for lv in range(3):
        assert torch.equal(head.cls[lv][1].conv.weight, s_head.cls[lv][1].conv.weight)  # hidden layers moved
        w, sw = head.cls[lv][-1].weight, s_head.cls[lv][-1].weight
        assert torch.equal(w[0], sw[7]) and torch.equal(w[2], sw[2])  # truck, car: by name, any case
        assert torch.equal(head.cls[lv][-1].bias[2], s_head.cls[lv][-1].bias[2])
        assert not any(torch.equal(w[1], sw[i]) for i in range(80))  # bike: fresh
    assert Detect.args_with_cls_width(["nc"], 80) == ["nc", 16, "shared", "conv", False, 80]
    assert Detect.args_with_cls_width(["nc", 16, "shared", "dw", True, 64], 80) == ["nc", 16, "shared", "dw", True, 80]
    x = torch.rand(1, 3, 64, 64)  # the rebuilt model runs, and its box outputs are the source's (box branch moved)
    with torch.no_grad():
        assert torch.equal(dst.eval()(x)[0][:, :64], src.eval()(x)[0][:, :64])
