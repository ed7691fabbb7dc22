"""Tests of ``emocirc corpus``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from emocirc.cli import main
from tests.layouts import EMODB_SAMPLE, emodb_duration, make_emodb, make_iemocap, make_manifest

KEYS = ["format", "utterances", "labels", "speakers", "duration_s", "problems"]


pytestmark = pytest.mark.usefixtures("emocirc_cache")


def _json(capsys, *argv: str) -> dict:
    assert main(["corpus", *argv, "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object, one line
    return json.loads(out)


def test_emodb_release_json(tmp_path, capsys):
    root = make_emodb(tmp_path / "emodb", "release")
    info = _json(capsys, str(root))
    assert list(info) == KEYS
    assert info["format"] == "emodb" and info["utterances"] == 535 and info["problems"] == []
    assert info["labels"] == {
        "anger": 127,
        "happiness": 71,
        "sadness": 62,
        "neutral": 79,
        "fear": 69,
        "disgust": 46,
        "boredom": 81,
    }
    assert info["speakers"]["03"] == 49 and info["speakers"]["16"] == 71 and len(info["speakers"]) == 10
    assert info["duration_s"] == pytest.approx(sum(emodb_duration(i) for i in range(535)), abs=1e-3)


def test_iemocap_four_class_json_reports_missing_wav(tmp_path, capsys):
    root = make_iemocap(
        tmp_path / "iemocap", sessions=(1, 2), per_speaker=11, missing=["Ses01F_impro01_F000"]
    )
    info = _json(capsys, str(root), "--format", "iemocap", "--four-class")
    assert set(info["labels"]) == {"anger", "happiness", "sadness", "neutral"}
    assert set(info["speakers"]) == {"1F", "1M", "2F", "2M"}
    assert info["utterances"] == sum(info["labels"].values()) == sum(info["speakers"].values())
    (problem,) = info["problems"]
    assert problem.startswith("Ses01F_impro01_F000")
    full = _json(capsys, str(root))
    assert full["utterances"] > info["utterances"] and "frustration" in full["labels"]


def test_text_report(tmp_path, capsys):
    csv = make_manifest(tmp_path / "m", missing=["clips/spk1/spk1_00.wav"])
    assert main(["corpus", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "corpus: csv" in out and "utterances: 14" in out
    assert "per label:" in out and "per speaker:" in out and "spk1" in out
    assert "problems: 1" in out and "spk1_00" in out


def test_text_report_emodb(tmp_path, capsys):
    assert main(["corpus", str(make_emodb(tmp_path / "e"))]) == 0
    out = capsys.readouterr().out
    assert f"utterances: {len(EMODB_SAMPLE)}" in out and "problems: none" in out


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda p: p / "absent", "corpus not found"),
        (lambda p: make_emodb(p / "e", ["03a01Fa.wav", "03a01Qa.wav"]), "unknown EMODB emotion letter 'Q'"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "cannot tell the corpus layout"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, setup, message):
    target = setup(tmp_path)
    assert main(["corpus", str(target), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and message in captured.err
    assert captured.err.startswith("emocirc: error: ")


def test_no_traceback_from_the_real_command(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "emocirc", "corpus", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert "nowhere" in result.stderr
