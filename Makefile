# Two commands set everything up on a fresh machine:
#   make demo   - install into .venv and run the main job on the embedded default data
#   make test   - install into .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test demo benchmark clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# The main job on the embedded default data (about 10 minutes on a 2-core CPU): generate the synthetic
# shapes dataset, train the CA-BiFPN model, evaluate it, run detection on images and a generated video.
DEMO := runs/demo
demo: $(STAMP)
	$(PY) tools/model_info.py --cfg cfg/yolo_ca_bifpn.yaml --img 640
	$(PY) tools/train.py --cfg cfg/yolo_ca_bifpn.yaml --data cfg/data/synthetic.yaml --project $(DEMO) --name train --exist-ok
	$(PY) tools/val.py --weights $(DEMO)/train/weights/best.pt --data cfg/data/synthetic.yaml --img 256 --project $(DEMO) --name val --exist-ok
	$(PY) tools/make_synthetic.py --video $(DEMO)/clip.mp4
	$(PY) tools/detect.py --weights $(DEMO)/train/weights/best.pt --source "datasets/synthetic/images/val/val_0000*.jpg" --img 256 --project $(DEMO) --name detect --exist-ok --save-txt
	$(PY) tools/detect.py --weights $(DEMO)/train/weights/best.pt --source $(DEMO)/clip.mp4 --img 256 --project $(DEMO) --name detect --exist-ok
	@echo "demo outputs: $(DEMO)/train (weights, results.csv, results.png), $(DEMO)/val (metrics.json, PR_curve.png), $(DEMO)/detect (annotated images, clip.mp4)"

benchmark: $(STAMP)
	$(PY) tools/benchmark.py model

clean:
	rm -rf $(VENV) runs build *.egg-info
