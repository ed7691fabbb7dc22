"""Smoke execution of every chapter with the small parameters in tests/smoke/<stem>.yml.

Each chapter is a test class of its own (``TestChapter_<stem>``): under
``make test`` (pytest-xdist, ``--dist loadscope``) a class is one unit of
work, so the chapters run side by side on every worker, while every other
test module goes to one worker whole (tests/conftest.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import load_book_build

CHAPTERS = load_book_build().discover()


def check_smoke_run(source: Path, smoke_run) -> None:
    executed = smoke_run(source)
    nb = json.loads(executed.read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    # Every chapter shows its provenance banner and at least one figure or table.
    text = json.dumps(outputs)
    assert "Data and backbone behind this page" in text, f"{source.stem} shows no provenance banner"
    assert "image/png" in text, f"{source.stem} shows no figure"
    # A figure returned as a cell's last value is shown twice (once by the inline backend).
    for i, cell in enumerate(nb["cells"]):
        images = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        assert len(images) == len(set(images)), f"{source.stem}: cell {i} shows the same figure twice"


def _chapter_class(source: Path) -> type:
    @pytest.mark.book
    def test_runs_with_smoke_parameters(self, smoke_run):
        check_smoke_run(source, smoke_run)

    return type(
        f"TestChapter_{source.stem}",
        (),
        {
            "__doc__": f"{source.name} at tests/smoke/{source.stem}.yml.",
            "test_runs_with_smoke_parameters": test_runs_with_smoke_parameters,
        },
    )


globals().update({cls.__name__: cls for cls in map(_chapter_class, CHAPTERS)})
