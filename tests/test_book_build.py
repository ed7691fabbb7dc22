"""The book driver (book/build.py): parameters, reuse, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import ROOT, load_book_build

build = load_book_build()

NOTEBOOK = """# %% [markdown]
# # A test chapter

# %% tags=["parameters"]
n = 3
label: str = "x"

# %%
print(label * n)
"""

FAILING = """# %% tags=["parameters"]
n = 1

# %%
raise ValueError(f"broken chapter {n}")
"""


@pytest.fixture()
def chapter(tmp_path: Path) -> Path:
    path = tmp_path / "01_test.py"
    path.write_text(NOTEBOOK)
    return path


def test_declared_parameters_reads_the_parameters_cell(chapter):
    assert build.declared_parameters(chapter) == {"n": "3", "label": '"x"'}


def test_notebook_without_parameters_cell_is_rejected(tmp_path):
    path = tmp_path / "02_bad.py"
    path.write_text("# %%\nx = 1\n")
    with pytest.raises(build.BuildError, match="02_bad.py: no code cell tagged 'parameters'"):
        build.declared_parameters(path)


def test_params_file_sections_and_shared_keys(chapter, tmp_path):
    other = tmp_path / "02_other.py"
    other.write_text(NOTEBOOK.replace("n = 3", "m = 3"))
    params = tmp_path / "p.yml"
    params.write_text("shared:\n  label: shared\n01_test:\n  n: 5\n")
    got = build.load_params(params, [chapter, other])
    assert got == {"01_test": {"n": 5, "label": "shared"}, "02_other": {"label": "shared"}}


def test_a_misspelled_parameter_is_named(chapter, tmp_path):
    params = tmp_path / "p.yml"
    params.write_text("01_test:\n  nn: 5\n")
    with pytest.raises(build.BuildError, match="01_test.py: unknown parameter 'nn'"):
        build.load_params(params, [chapter])


def test_an_unknown_section_and_an_orphan_shared_key_are_rejected(chapter, tmp_path):
    params = tmp_path / "p.yml"
    params.write_text("99_missing:\n  n: 5\n")
    with pytest.raises(build.BuildError, match="unknown section '99_missing'"):
        build.load_params(params, [chapter])
    params.write_text("shared:\n  seeed: 1\n")
    with pytest.raises(build.BuildError, match="shared parameter 'seeed' is declared by no notebook"):
        build.load_params(params, [chapter])


def test_build_hash_changes_with_source_params_and_package(chapter):
    base = build.build_hash(chapter, {"n": 1}, "pkg")
    assert base == build.build_hash(chapter, {"n": 1}, "pkg")
    assert base != build.build_hash(chapter, {"n": 2}, "pkg")
    assert base != build.build_hash(chapter, {"n": 1}, "pkg2")
    chapter.write_text(NOTEBOOK + "\n# %%\n1\n")
    assert base != build.build_hash(chapter, {"n": 1}, "pkg")


@pytest.mark.book
def test_execute_injects_parameters_and_stores_the_hash(chapter, tmp_path):
    out = tmp_path / "out" / "01_test.ipynb"
    build.execute(chapter, out, {"n": 2, "label": "ab"}, timeout=120, key="k1", cwd=tmp_path)
    nb = json.loads(out.read_text())
    assert build.executed_hash(out) == "k1"
    # The notebook names its chapter, not the temporaries it ran from (removed, as the kernel spec).
    assert nb["metadata"]["papermill"]["input_path"] == str(chapter.resolve())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert sorted(p.name for p in out.parent.iterdir()) == ["01_test.ipynb"]
    printed = "".join(
        "".join(o.get("text", ""))
        for c in nb["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
    )
    assert "abab" in printed


@pytest.mark.book
def test_a_cell_error_names_the_notebook_and_keeps_the_old_output(tmp_path):
    source = tmp_path / "03_failing.py"
    source.write_text(FAILING)
    out = tmp_path / "03_failing.ipynb"
    out.write_text("previous")
    with pytest.raises(build.BuildError, match=r"03_failing.py: .*ValueError.*broken chapter 7"):
        build.execute(source, out, {"n": 7}, timeout=120, cwd=tmp_path)
    assert out.read_text() == "previous"
    assert not list(tmp_path.glob(f"{build.TMP_PREFIX}*"))  # a failed chapter leaves no temporary


def test_every_chapter_has_a_parameters_cell_and_a_toc_entry():
    import yaml

    chapters = build.discover()
    assert chapters, "no notebooks found"
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for source in chapters:
        assert build.declared_parameters(source), source.name
        assert f"book/executed/{source.stem}" in files, f"{source.stem} is missing from _toc.yml"


def test_the_real_data_example_names_only_declared_parameters():
    params = build.load_params(ROOT / "examples" / "real-data.yml", build.discover())
    assert params["05_transfer_emodb"]["backbone"] == "facebook/wav2vec2-base"
    assert params["04_fine_tuning"]["finetune"]["lr_backbone"] == 1e-5


def _up_to_the_encoder(source: str) -> str:
    """A cell's statements up to its last ``chapter_encoder`` call (all of them if it has none)."""
    import ast

    tree = ast.parse(source)
    calls = [
        i for i, node in enumerate(tree.body) if "chapter_encoder(" in ast.get_source_segment(source, node)
    ]
    keep = tree.body[: calls[-1] + 1] if calls else tree.body
    return "\n".join(ast.get_source_segment(source, node) for node in keep)


def test_a_shared_finetuning_parameter_gives_every_chapter_the_same_run(tmp_path, monkeypatch):
    """Chapters 4-8 run with ``shared: {finetune: ...}``: every one asks for one fine-tuning configuration.

    The chapters' own cells run up to their encoder call (``chapter_encoder``, recorded
    instead of training; the corpora are not generated), with the parameters the build
    injects from the PARAMS file.
    """
    import emocirc.encoders
    import emocirc.provenance
    import emocirc.synth

    params_file = tmp_path / "params.yml"
    params_file.write_text("shared:\n  finetune: {pad_multiple: 0.5, epochs: 3}\n")
    notebooks = build.discover()
    overrides = build.load_params(params_file, notebooks)
    asked: dict[str, list[str]] = {}

    def recorder(iemocap_root, features_from="finetuned", *, backbone, finetune=None, **kw):
        kw.pop("progress", None), kw.pop("skip_bad", None)
        config = emocirc.encoders.finetune_config(backbone, finetune, **kw)
        if kw.get("protocol", "speaker-dependent") == "speaker-dependent" and features_from == "finetuned":
            asked.setdefault(stem, []).append(config.hash())
            assert config.pad_multiple == 0.5 and config.epochs == 3
        return emocirc.encoders.ChapterEncoder(spec="tiny", run=tmp_path / "run", config=config)

    monkeypatch.setattr(emocirc.encoders, "chapter_encoder", recorder)
    monkeypatch.setattr(emocirc.synth, "ensure_corpus", lambda *a, **k: tmp_path)
    # The banners check the corpora for damaged files; there are no corpora here.
    monkeypatch.setattr(emocirc.provenance, "check_corpora", lambda *a, **k: {})
    for source in notebooks:
        stem = source.stem
        cells = [c for c in build.read_notebook(source).cells if c.cell_type == "code"]
        code = "\n".join(c.source for c in cells)
        if "finetune" not in build.declared_parameters(source):
            assert "chapter_encoder(" not in code and "FinetuneConfig(" not in code, stem
            continue
        # One call gives the encoder; no chapter builds its own configuration.
        assert "FinetuneConfig(" not in code, stem
        namespace: dict = {}
        for cell in cells:
            is_parameters = "parameters" in cell.metadata.get("tags", [])
            if is_parameters or "import" in cell.source or "chapter_encoder(" in cell.source:
                exec(_up_to_the_encoder(cell.source), namespace)  # noqa: S102 (the chapter's own code)
            if is_parameters:
                namespace.update(overrides[stem])
    expected = {"04_fine_tuning", "05_transfer_emodb", "06_gaussians_mahalanobis"}
    expected |= {"07_polar_ordering", "08_automatic_mapping"}
    assert set(asked) == expected
    assert len({h for hashes in asked.values() for h in hashes}) == 1, asked


@pytest.mark.parametrize("main", ["PAPERMILL_MAIN", "JUPYTER_BOOK_MAIN"])
def test_the_tools_command_lines_start(main):
    import subprocess
    import sys

    shown = subprocess.run(
        [sys.executable, "-c", getattr(build, main), "--help"], capture_output=True, text=True
    )
    assert shown.returncode == 0 and "Usage" in shown.stdout, shown.stderr[-1000:]


def test_reading_notebooks_there_never_compiles_the_iri_grammar():
    import subprocess
    import sys

    code = build._WITHOUT_IRI_GRAMMAR + (
        "import nbformat, papermill.cli, myst_nb\n"
        "nbformat.validate(nbformat.v4.new_notebook())\n"
        "print(sys.modules['rfc3987_syntax'])"
    )
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert probe.returncode == 0 and probe.stdout.strip() == "None", probe.stderr[-1000:]
