"""The repository stands alone: the evaluation sets, the demo organisation and the style notes the
docs rely on live in it, and no README or docs link leaves it."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_the_evaluation_sets_are_the_shared_ones():
    shared = ROOT.parent / "shared" / "eval"
    if not shared.exists():
        pytest.skip("no ../shared beside this clone: nothing to compare with")
    files = [f for f in shared.rglob("*") if f.is_file()]
    assert files
    for f in files:
        mine = ROOT / "eval" / f.relative_to(shared)
        assert mine.read_bytes() == f.read_bytes(), f"eval/{f.relative_to(shared)} differs from ../shared"


@pytest.mark.parametrize(
    "doc", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_docs_link_only_to_files_inside_the_repository(doc):
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):  # http(s), mailto: not a file
            continue
        path = (doc.parent / target).resolve()
        assert path.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert path.exists(), f"{doc.name} links to a missing file: {target}"
