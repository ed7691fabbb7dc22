"""Tests of ``emocirc finetune`` and ``emocirc evaluate`` on the synthetic corpora."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from emocirc.cli import main
from emocirc.corpora import load_corpus
from emocirc.synth import ensure_corpus


@pytest.fixture
def roots(emocirc_cache):
    return ensure_corpus("iemocap", scale=0.1), ensure_corpus("emodb", scale=0.05)


def test_finetune_then_evaluate(roots, tmp_path, capsys):
    iemocap, emodb = roots
    out = tmp_path / "run"
    args = [
        "finetune",
        str(iemocap),
        "--out",
        str(out),
        "--model",
        "tiny",
        "--epochs",
        "2",
        "--lr-backbone",
        "2e-3",
        "--lr-head",
        "2e-2",
        "--device",
        "cpu",
        "--no-progress",
        "--pad-multiple",
        "0.5",
        "--cuda-graphs",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("epoch ") >= 2 and "best epoch" in printed
    assert "running eagerly" in printed  # no GPU here: --cuda-graphs says so
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2
    training = json.loads((out / "training_config.json").read_text())
    assert training["config"]["pad_multiple"] == 0.5
    report = tmp_path / "eval.json"
    assert main(["evaluate", str(out), str(emodb), "--device", "cpu", "--out", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "happiness predicted as anger" in printed and "accuracy (WA)" in printed
    result = json.loads(report.read_text())
    assert result["labels"] == ["anger", "happiness", "sadness", "neutral"]
    assert sum(map(sum, result["confusion"])) == result["n"]
    # A CSV manifest is a corpus too (a file, not a folder).
    manifest = tmp_path / "emodb.csv"
    load_corpus(emodb)[["path", "label", "speaker"]].to_csv(manifest, index=False)
    from_csv = tmp_path / "eval_csv.json"
    assert main(["evaluate", str(out), str(manifest), "--device", "cpu", "--out", str(from_csv)]) == 0
    capsys.readouterr()
    assert json.loads(from_csv.read_text())["confusion"] == result["confusion"]


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["finetune", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--model", "tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("emocirc: error:") and "missing" in err and "\n" not in err
    assert main(["evaluate", str(tmp_path), str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a finished fine-tuning run" in err


def test_parsing_the_command_line_does_not_import_torch():
    # `emocirc --help` and argument errors stay quick: torch loads only when a command runs.
    code = "import sys; from emocirc.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
