"""Flag values that cannot work stop at parse time with argparse's message and exit 2; --img is
rounded up to the model's stride; the data YAML's defaults; --resume says which flags it ignores; run hygiene (file modes, stray temp
files, no empty run folder after a failed start, --strict-labels)."""
import os
import stat

import pytest

from detector.utils.io import write_json

from .conftest import tool


@pytest.mark.parametrize("name,argv,flag", [
    ("train", ["--img", "0"], "--img"), ("train", ["--batch", "0"], "--batch"), ("train", ["--epochs", "-1"], "--epochs"),
    ("train", ["--val-period", "0"], "--val-period"), ("train", ["--workers", "-2"], "--workers"),
    ("train", ["--device", "7"], "GPU"),
    ("val", ["--conf-thres", "1.5"], "--conf-thres"), ("val", ["--iou-thres", "-0.1"], "--iou-thres"),
    ("val", ["--max-det", "0"], "--max-det"), ("val", ["--batch", "0"], "--batch"), ("val", ["--img", "x"], "--img"),
    ("detect", ["--weights", "w.pt", "--source", "s", "--conf-thres", "2"], "--conf-thres"),
    ("detect", ["--weights", "w.pt", "--source", "s", "--max-det", "0"], "--max-det"),
    ("detect", ["--weights", "w.pt", "--source", "s", "--device", "3"], "GPU"),
    ("export", ["--weights", "w.pt", "--img", "-640"], "--img"), ("export", ["--weights", "w.pt", "--device", "1"], "GPU"),
])
def test_bad_flag_values_exit_2_at_parse_time(name, argv, flag, capsys):
    with pytest.raises(SystemExit) as e:
        tool(name).main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and "Traceback" not in err


STRIDE16 = """nc: 4
backbone:
  - [-1, 1, Conv, [16, 3, 2]]
  - [-1, 1, Conv, [32, 3, 2]]
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [64, 3, 2]]
head:
  - [[2, 3], 1, Detect, [nc]]
"""


@pytest.fixture(scope="module")
def stride16(tmp_path_factory):
    """A model YAML whose largest stride is 16, and a checkpoint of it."""
    from detector import build_model
    from detector.checkpoint import save_checkpoint

    d = tmp_path_factory.mktemp("s16")
    (d / "s16.yaml").write_text(STRIDE16)
    m = build_model(d / "s16.yaml")
    assert m.max_stride == 16
    save_checkpoint(d / "s16.pt", {"model": m.state_dict(), "model_cfg": m.yaml, "names": list("abcd")})
    return d / "s16.yaml", d / "s16.pt"


def test_img_is_rounded_up_to_the_models_stride(stride16, small_ckpt, capsys):
    """--img goes up to a multiple of the model's largest stride (16 or 32 here), with a warning, in the
    Detector API (detect.py), and as it parses, train.py leaves the rounding to the Trainer, which knows the model."""
    from detector import Detector

    assert Detector(stride16[1], "cpu", img=100).img == 112
    assert "--img 100 is not a multiple of the stride 16; using 112" in capsys.readouterr().err
    assert Detector(small_ckpt, "cpu", img=100).img == 128
    assert "--img 100 is not a multiple of the stride 32; using 128" in capsys.readouterr().err
    assert Detector(small_ckpt, "cpu", img=96).img == 96 and "multiple" not in capsys.readouterr().err
    assert tool("train").parse(["--img", "100", "--epochs", "1"]).img == 100


def test_trainer_rounds_img_to_the_models_stride(stride16, tiny_data, tmp_path, capsys):
    from detector.train import TrainConfig, Trainer

    tr = Trainer(TrainConfig(cfg=str(stride16[0]), data=str(tiny_data), img=100, epochs=1, device="cpu",
                             project=str(tmp_path), workers=0))
    tr.save_dir.mkdir(parents=True, exist_ok=True)
    tr.build_data()
    tr.build_model()
    assert tr.cfg.img == 112 and "stride 16; using 112" in capsys.readouterr().err


def test_trainer_takes_the_data_yamls_defaults(tiny_data, tmp_path):
    """Trainer(TrainConfig(...)) applies the data YAML's defaults: as tools/train.py does."""
    from detector.train import BUILT_IN_DEFAULTS, TrainConfig, Trainer

    y = tmp_path / "d.yaml"
    y.write_text(tiny_data.read_text() + "defaults: {epochs: 7, img: 96}\n")
    tr = Trainer(TrainConfig(data=str(y), device="cpu", project=str(tmp_path)))
    assert (tr.cfg.epochs, tr.cfg.img, tr.cfg.batch) == (7, 96, BUILT_IN_DEFAULTS["batch"])
    assert tool("train").parse(["--data", str(y)]).epochs == 7
    tr = Trainer(TrainConfig(data=str(y), device="cpu", project=str(tmp_path), epochs=3))
    assert tr.cfg.epochs == 3


def test_resume_names_the_flags_it_ignores(capsys):
    cfg = tool("train").parse(["--resume", "runs/x/weights/last.pt", "--epochs", "5", "--img", "320", "--device", "cpu"])
    assert cfg.resume == "runs/x/weights/last.pt"
    err = capsys.readouterr().err
    assert "ignoring" in err and "--epochs" in err and "--img" in err and "--device" not in err


def test_detect_classes_outside_the_model(tmp_path, small_ckpt, capsys):
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((32, 32, 3), np.uint8))
    argv = ["--weights", str(small_ckpt), "--source", str(tmp_path / "a.jpg"), "--classes", "1", "7",
            "--img", "64", "--project", str(tmp_path / "r")]
    assert tool("detect").main(argv) == 2
    assert "--classes [7]" in capsys.readouterr().err and not (tmp_path / "r").exists()


def test_export_does_not_overwrite_without_exist_ok(tmp_path, small_ckpt, capsys):
    out = tmp_path / "m.onnx"
    out.write_text("keep me")
    with pytest.raises(SystemExit):
        tool("export").main(["--weights", str(small_ckpt), "--img", "64", "--output", str(out)])
    assert "--exist-ok" in capsys.readouterr().err and out.read_text() == "keep me"


def test_results_are_readable_by_others(tmp_path):
    old = os.umask(0o022)
    try:
        p = write_json(tmp_path / "r.json", {"a": 1})
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644


def test_failed_start_leaves_no_run_folder_and_stray_tmp_files_go(tmp_path, tiny_data):
    from detector.train import Trainer, TrainConfig

    bad = tmp_path / "bad.yaml"
    bad.write_text(f"path: {tmp_path / 'nowhere'}\ntrain: {{images: i, annotations: a.json}}\n")
    with pytest.raises(ValueError):
        Trainer(TrainConfig(data=str(bad), project=str(tmp_path / "runs"), name="x", epochs=1, img=64)).train()
    assert not (tmp_path / "runs" / "x").exists()
    run = tmp_path / "runs" / "y"
    (run / "weights").mkdir(parents=True)
    stray = run / "weights" / ".last.pt.abc123.tmp"
    stray.write_bytes(b"half a checkpoint")
    t = Trainer(TrainConfig(data=str(tiny_data), project=str(tmp_path / "runs"), name="y", exist_ok=True, epochs=1,
                            img=64, batch=4, workers=0, max_batches=1, plots=False))
    t.train()
    assert not stray.exists() and (run / "weights" / "last.pt").is_file()


def test_strict_labels_refuses_and_a_large_rejected_share_warns(tmp_path, capsys):
    import cv2
    import numpy as np

    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
        (tmp_path / "labels" / split).mkdir(parents=True)
        for k in range(2):
            cv2.imwrite(str(tmp_path / "images" / split / f"{k}.jpg"), np.zeros((40, 40, 3), np.uint8))
            (tmp_path / "labels" / split / f"{k}.txt").write_text("0 0.5 0.5 0.2 0.2\n" if k else "9 0.5 0.5 0.2 0.2\n")
    y = tmp_path / "d.yaml"
    y.write_text(f"path: {tmp_path}\ntrain: images/train\nval: images/val\nnames: [a]\n")
    argv = ["--data", str(y), "--epochs", "1", "--img", "64", "--batch", "2", "--workers", "0",
            "--project", str(tmp_path / "r"), "--name", "s", "--strict-labels"]
    assert tool("train").main(argv) == 2
    out = capsys.readouterr()
    assert "--strict-labels: 2 label error(s)" in out.err
    assert "WARNING: train: 1 of 2 boxes (50 %) were rejected" in out.out
    assert "lost every box" in out.out
    assert (tmp_path / "r" / "s" / "labels_report.json").is_file()  # kept: it lists the errors


def test_unwritable_project_full_disk_and_missing_export_image_are_one_sentence(tmp_path, tiny_data, capsys,
                                                                                monkeypatch):
    """A --project that cannot be created (a path through a file: the same as a read-only folder for a
    root user), a full disk under a checkpoint write (the previous last.pt kept), export --image missing."""
    import torch

    from detector.checkpoint import CheckpointError, save_checkpoint

    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for name, extra in (("train", ["--epochs", "1", "--img", "64", "--batch", "4", "--workers", "0"]),
                        ("val", ["--weights", "nope.pt"])):
        code = tool(name).main(["--data", str(tiny_data), "--project", str(blocker / "runs"), *extra])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err and "file.txt" in err, (name, err)
    good = tmp_path / "last.pt"
    save_checkpoint(good, {"model": {}, "epoch": 3})

    def full(*a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64 vs 0\\nfile write failed")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(CheckpointError, match=r"last\.pt: cannot write the checkpoint \(the disk is full.*kept"):
        save_checkpoint(good, {"model": {}, "epoch": 4})
    monkeypatch.undo()
    assert torch.load(good, weights_only=True)["epoch"] == 3 and not list(tmp_path.glob("*.tmp"))
    with pytest.raises(SystemExit) as e:
        tool("export").main(["--weights", str(good), "--image", str(tmp_path / "missing.jpg")])
    assert e.value.code == 2 and "--image" in capsys.readouterr().err
