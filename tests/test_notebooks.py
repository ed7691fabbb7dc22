"""Smoke execution of every chapter with the small parameters in tests/smoke/<stem>.yml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import load_book_build

CHAPTERS = load_book_build().discover()


@pytest.mark.book
@pytest.mark.parametrize("source", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_runs_with_smoke_parameters(source: Path, smoke_run):
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
