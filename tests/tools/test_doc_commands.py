"""Every command line in the README's and docs' fenced blocks (``python tools/X.py ...``, ``detector-X ...``)
is parsed by that tool's own argument parser: a renamed or removed flag fails here, not in a reader's shell.
Parsing only: each tool's ``main`` stops right after ``parse_args``."""
import argparse
import re
import shlex

import pytest

from ..conftest import ROOT
from .conftest import tool

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
ENTRY = {"detector-train": "train", "detector-val": "val", "detector-detect": "detect", "detector-export": "export",
         "detector-check-data": "check_data", "detector-ablate": "ablate", "detector-convert": "convert"}
PY = re.compile(r"^(?:\S*python3?|\.venv/bin/python)\s+tools/(\w+)\.py\b(.*)$")


def _commands():
    """(doc, line number, tool, argv) of each tool command in a fenced block, continuation lines joined."""
    out = []
    for doc in DOCS:
        fenced, buf, start, env = False, "", 0, {}
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("```"):
                fenced, buf, env = not fenced, "", {}
                continue
            if not fenced:
                continue
            if not buf:
                start = n
            buf += line.rstrip()
            if buf.endswith("\\"):
                buf = buf[:-1] + " "
                continue
            cmd, buf = buf.strip(), ""
            a = re.fullmatch(r"([A-Za-z_]\w*)=(\S.*)", cmd)  # a shell variable the next commands use
            if a:
                try:
                    env[a.group(1)] = " ".join(shlex.split(a.group(2)))
                except ValueError:
                    pass
                continue
            cmd = re.sub(r"\$\{?([A-Za-z_]\w*)\}?", lambda v: env.get(v.group(1), v.group(0)), cmd)
            cmd = re.sub(r"^(?:[A-Z_]+=\S+\s+)+", "", cmd)  # VAR=value prefixes
            m = PY.match(cmd)
            name, rest = (m.group(1), m.group(2)) if m else (ENTRY.get(cmd.split(" ")[0]), cmd.partition(" ")[2])
            if not name or name in ("yardstick",):
                continue
            rest = re.split(r"\s(?:#|\||&&|;|>|2>)", " " + rest)[0]  # comments, pipes, redirections
            if "..." in rest or "$" in rest or re.search(r"\[[^\]]*--", rest):  # placeholders: not a command
                continue
            try:
                argv = shlex.split(rest)
            except ValueError:
                continue
            out.append((doc.name, start, name, argv))
    return out


COMMANDS = _commands()


class _Parsed(Exception):
    pass


def test_the_docs_hold_commands_of_every_main_tool():
    names = {c[2] for c in COMMANDS}
    assert {"train", "val", "detect", "export", "check_data", "benchmark", "make_replica", "bench_scale"} <= names
    assert len(COMMANDS) > 40


@pytest.mark.parametrize("doc,line,name,argv", COMMANDS, ids=[f"{c[0]}:{c[1]}" for c in COMMANDS])
def test_doc_command_parses(doc, line, name, argv, monkeypatch, capsys):
    real = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        real(self, args, namespace)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    try:
        tool(name).main(argv)
    except _Parsed:
        return
    except SystemExit as e:
        pytest.fail(f"{doc}:{line}: `{name} {' '.join(argv)}` is refused by its parser (exit {e.code}): "
                    f"{capsys.readouterr().err.strip()[-400:]}")
    pytest.fail(f"{doc}:{line}: `{name}` returned without parsing its arguments")
