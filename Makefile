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

demo: $(STAMP)
	$(PY) tools/model_info.py --cfg cfg/yolo_ca_bifpn.yaml --img 640

benchmark: $(STAMP)
	$(PY) tools/benchmark.py model

clean:
	rm -rf $(VENV) runs build *.egg-info
