"""The real-size rehearsal (benchmarks/rehearsal.py) at reduced scale, through the book's own runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import load_script

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def rehearsal():
    return load_script("benchmarks/rehearsal.py")


def test_full_size_plan_is_the_release_size(rehearsal):
    # What --size full renders, counted from the generator's plan without rendering it.
    from emocirc.synth import _allocate, iemocap_plan

    dialogs, per_dialog = iemocap_plan(rehearsal.FULL_IEMOCAP_SCALE)
    total = sum(rehearsal.RELEASE_CODES.values())
    assert total == 10_039
    shares = {code: n / total for code, n in rehearsal.RELEASE_CODES.items()}
    codes = [c for _ in range(5) for c in _allocate(len(dialogs) * per_dialog, shares, ("neu", "xxx"))]
    four = sum(code in ("neu", "hap", "exc", "sad", "ang") for code in codes)
    assert abs(len(codes) - 10_039) < 100 and abs(four - 5_531) < 60


@pytest.mark.slow
def test_reduced_rehearsal_runs_the_real_data_path(rehearsal, tmp_path, monkeypatch):
    from emocirc.backbones import load_backbone
    from emocirc.corpora.emodb import release_file_names

    for name in ("HF_HOME", "HF_HUB_OFFLINE", "EMOCIRC_CACHE"):  # rehearse() sets them: restored after
        monkeypatch.setenv(name, str(tmp_path / "unused"))
    out = tmp_path / "rehearsal"
    record = rehearsal.rehearse(out, "reduced", "cpu", chapters=["03_first_model"], timeout=600)
    # The releases' layouts: EMODB's 535 published names, IEMOCAP's five sessions.
    assert sorted(p.name for p in (out / "corpora" / "emodb" / "wav").iterdir()) == sorted(
        release_file_names()
    )
    iemocap = out / "corpora" / "IEMOCAP_full_release"
    assert sorted(p.name for p in iemocap.glob("Session*")) == [f"Session{i}" for i in range(1, 6)]
    # The backbone in the hub cache's layout, found by its id offline, and it is the saved one.
    repo = out / "hf" / "hub" / "models--facebook--wav2vec2-base"
    revision = (repo / "refs" / "main").read_text().strip()
    weights = repo / "snapshots" / revision / "model.safetensors"
    assert weights.is_symlink() and weights.resolve().parent == (repo / "blobs").resolve()
    # (In a fresh process: huggingface_hub reads HF_HOME once, when imported.)
    code = "from emocirc.backbones import load_backbone; print(load_backbone('facebook/wav2vec2-base').fingerprint)"
    env = {**os.environ, "HF_HOME": str(out / "hf"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == load_backbone("tiny").fingerprint
    # The chapter ran with the real-data settings, pointed at the stand-ins, and was timed.
    params = (out / "params.yml").read_text()
    assert str(iemocap) in params and "facebook/wav2vec2-base" in params
    assert record["seconds"]["03_first_model"] > 0 and "not pre-trained" in record["weights"]
    assert json.loads((out / "rehearsal.json").read_text())["seconds"] == record["seconds"]
    executed = (out / "executed" / "03_first_model.ipynb").read_text()
    assert "facebook/wav2vec2-base" in executed and "synthetic" in executed
    # The banner says the weights under the published id are a stand-in, not the checkpoint.
    assert "not the published facebook/wav2vec2-base: a random initialisation" in executed
    assert not (ROOT / "book" / "executed" / ".03_first_model.ipynb.tmp").exists()
