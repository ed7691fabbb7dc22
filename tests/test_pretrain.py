"""Tests of emocirc.pretrain and ``emocirc pretrain``: outputs that every step loads, determinism, resume, bad input.

Runs are a few steps of the ``tiny`` architecture on a 45-utterance stand-in
corpus (the synthetic IEMOCAP's audio, labels unused), small enough for CI.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from emocirc.backbones import load_backbone
from emocirc.cli import main
from emocirc.errors import EmocircError
from emocirc.frames import frame_counts
from emocirc.pretrain import PretrainConfig, corpus_files, mfcc, pretrain, read_pretrain_log
from emocirc.synth import ensure_corpus
from tests.conftest import sigkill_then_rerun

SMALL = dict(
    steps=6, batch_size=2, crop_seconds=1.0, eval_every=2, checkpoint_every=2, eval_crops=2, n_clusters=8
)


@pytest.fixture(scope="module")
def cache(module_cache):
    return module_cache


@pytest.fixture(scope="module")
def corpus(cache):
    return ensure_corpus("iemocap", scale=0.05, cache_dir=cache)


@pytest.fixture(scope="module")
def run(corpus, tmp_path_factory):
    return pretrain(corpus, PretrainConfig(**SMALL), tmp_path_factory.mktemp("pre") / "run", progress=False)


def _weights(run_dir):
    return (run_dir / "model.safetensors").read_bytes()


def test_writes_a_hugging_face_checkpoint_and_a_log(run):
    names = {p.name for p in run.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "preprocessor_config.json",
        "log.jsonl",
        "metrics.json",
    } <= names
    assert "checkpoint" not in names and not [n for n in names if n.startswith(".")]
    log = read_pretrain_log(run)
    assert list(log["step"]) == [0, 2, 4, 6]
    assert {"train_loss", "held_out_loss", "held_out_accuracy"} <= set(log.columns)
    assert log["held_out_loss"].notna().all() and log["train_loss"].iloc[1:].notna().all()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["random_init"]["held_out_loss"] == log["held_out_loss"].iloc[0]
    assert metrics["final"]["held_out_accuracy"] == log["held_out_accuracy"].iloc[-1]
    assert metrics["held_out_files"] >= 1 and metrics["train_files"] >= 40


def test_loads_with_automodel_load_backbone_and_extract(run, corpus, tmp_path):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(run)
    assert type(model).__name__ == "Wav2Vec2Model"
    bb = load_backbone(run)
    assert bb.do_normalize and bb.frame_rate == 50.0 and bb.num_layers == 4
    # The pre-trained encoder, not the random init it started from.
    assert bb.fingerprint != load_backbone("tiny").fingerprint
    out = tmp_path / "f.npz"
    code = main(["extract", str(corpus), "--out", str(out), "--model", str(run), "--layers", "-1", "--quiet"])
    assert code == 0
    with np.load(out, allow_pickle=False) as npz:
        assert npz["embeddings"].shape[1:] == (1, 64) and np.isfinite(npz["embeddings"]).all()


def test_fine_tunes(run, corpus, tmp_path):
    from emocirc.corpora import load_corpus
    from emocirc.finetune import FinetuneConfig, finetune
    from emocirc.runs import read_metrics

    df = load_corpus(corpus, four_class=True)
    cfg = FinetuneConfig(backbone=str(run), epochs=1, device="cpu")
    (metrics,) = read_metrics(finetune(df, cfg, tmp_path / "ft", progress=False))["folds"].values()
    assert metrics["best_epoch"] == 1


def test_same_seed_same_weights_other_seed_other_weights(run, corpus, tmp_path):
    again = pretrain(corpus, PretrainConfig(**SMALL), tmp_path / "again", progress=False)
    assert _weights(again) == _weights(run)
    other = pretrain(corpus, PretrainConfig(**{**SMALL, "seed": 1}), tmp_path / "other", progress=False)
    assert _weights(other) != _weights(run)


def test_a_finished_run_is_reused_and_a_changed_one_refused(run, corpus, tmp_path):
    lines: list[str] = []
    pretrain(corpus, PretrainConfig(**SMALL), run, progress=False, log=lines.append)
    assert lines and "reusing" in lines[0]
    # A killed run of other settings in the same folder is not silently continued.
    (tmp_path / "x").mkdir()
    with pytest.raises(KeyboardInterrupt):

        def stop(step):
            if step == 2:
                raise KeyboardInterrupt

        pretrain(corpus, PretrainConfig(**SMALL), tmp_path / "x", progress=False, on_step_end=stop)
    with pytest.raises(EmocircError, match="different pre-training run"):
        pretrain(corpus, PretrainConfig(**{**SMALL, "lr": 1e-4}), tmp_path / "x", progress=False)


def test_wav2vec2_objective_learns_a_little_and_logs_its_parts(corpus, tmp_path):
    cfg = PretrainConfig(**{**SMALL, "objective": "wav2vec2", "num_negatives": 10, "steps": 4})
    out = pretrain(corpus, cfg, tmp_path / "w2v", progress=False)
    log = read_pretrain_log(out)
    assert list(log["step"]) == [0, 2, 4]
    assert np.isfinite(log["held_out_loss"]).all()
    # 10 distractors: accuracy is a share of the masked frames.
    assert ((log["held_out_accuracy"] >= 0) & (log["held_out_accuracy"] <= 1)).all()
    assert load_backbone(out).num_layers == 4


def _command(corpus, out):
    import torch

    flags = []
    for key, value in SMALL.items():
        flags += ["--" + key.replace("_", "-"), str(value)]
    return [
        "-m",
        "emocirc",
        "pretrain",
        str(corpus),
        "--out",
        str(out),
        "--no-progress",
        # The thread count of this process, which made the reference run.
        *("--threads", str(torch.get_num_threads())),
        *flags,
    ]


def _log_without_times(out):
    return read_pretrain_log(out).drop(columns=["seconds"])


@pytest.mark.slow
def test_resumes_after_a_real_sigkill_with_the_same_result(cache, corpus, run, tmp_path):
    """SIGKILL the CLI once step 2 is checkpointed; the rerun ends exactly like the uninterrupted ``run``."""
    env = {**os.environ, "EMOCIRC_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "killed"
    sigkill_then_rerun(_command(corpus, out), out, env)
    assert _weights(out) == _weights(run)
    pd.testing.assert_frame_equal(_log_without_times(out), _log_without_times(run), check_exact=True)
    assert not [p.name for p in out.iterdir() if p.name.startswith(".") or p.name == "checkpoint"]


def test_kill_between_checkpoint_renames_resumes_from_the_previous_one(corpus, tmp_path):
    whole = pretrain(corpus, PretrainConfig(**SMALL), tmp_path / "whole", progress=False)

    def crash(step):
        if step == 4:
            raise KeyboardInterrupt("killed")

    out = tmp_path / "swapped"
    with pytest.raises(KeyboardInterrupt):
        pretrain(corpus, PretrainConfig(**SMALL), out, progress=False, on_step_end=crash)
    # What a SIGKILL between atomic_dir's two renames leaves: the old checkpoint aside, none in place.
    (out / "checkpoint").rename(out / ".checkpoint.old-999999")
    lines: list[str] = []
    pretrain(corpus, PretrainConfig(**SMALL), out, progress=False, log=lines.append)
    assert any(line == f"resuming {out} after step 4" for line in lines), lines
    assert _weights(out) == _weights(whole)


def test_mfcc_frames_line_up_with_the_cnn():
    cfg = load_backbone("tiny").model.config
    for n in (400, 719, 720, 16000, 33333):
        assert mfcc(np.random.default_rng(n).standard_normal(n)).shape == (frame_counts(cfg, [n])[0], 39)


def test_reads_only_wav_files(tmp_path):
    import soundfile as sf

    (tmp_path / "a" / "b").mkdir(parents=True)
    sf.write(tmp_path / "a" / "b" / "x.wav", np.zeros(1600, np.float32), 16000)
    sf.write(tmp_path / "y.WAV", np.zeros(1600, np.float32), 16000)
    (tmp_path / "a" / "b" / "x.phonemes.json").write_text("{}")  # an alignment: never a training input
    assert [p.relative_to(tmp_path).as_posix() for p in corpus_files(tmp_path)] == ["a/b/x.wav", "y.WAV"]


def test_bad_corpus_and_settings_are_one_line_errors(tmp_path, capsys):
    with pytest.raises(EmocircError, match="not a folder"):
        corpus_files(tmp_path / "missing")
    assert main(["pretrain", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("emocirc: error:") and "no .wav files" in err and "\n" not in err
    with pytest.raises(EmocircError, match="objective"):
        PretrainConfig(objective="bert")
    with pytest.raises(EmocircError, match="steps=0"):
        PretrainConfig(steps=0)
