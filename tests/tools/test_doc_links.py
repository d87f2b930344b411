"""Every relative link in the README and docs/ (``[text](path)``, ``[text](path#anchor)``) points to a file
that exists, and every ``#anchor`` to a heading of that file: a moved or renamed guide fails here."""
import re

import pytest

from ..conftest import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out, fenced = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            out.add(re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", text)))
    return out


def _links():
    for doc in DOCS:
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if not re.match(r"[a-z]+:", target):  # http:, https:, mailto: are not checked here
                yield doc, target


@pytest.mark.parametrize("doc,target", list(_links()), ids=lambda v: str(v).replace(str(ROOT) + "/", ""))
def test_relative_link_resolves(doc, target):
    path, _, anchor = target.partition("#")
    dest = (doc.parent / path).resolve() if path else doc
    assert dest.exists(), f"{doc.relative_to(ROOT)}: link to {target}: no such file"
    if anchor and dest.suffix == ".md":
        assert anchor in _anchors(dest), f"{doc.relative_to(ROOT)}: link to {target}: no such heading"


@pytest.mark.parametrize("doc", DOCS, ids=lambda d: str(d.relative_to(ROOT)))
def test_code_fences_are_balanced(doc):
    """An unclosed fence turns the rest of a page into code (and hides its commands from the flag check)."""
    fences = [n for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1)
              if line.lstrip().startswith("```")]
    assert len(fences) % 2 == 0, f"{doc.relative_to(ROOT)}: unbalanced ``` fences (lines {fences})"
