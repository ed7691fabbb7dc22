"""Two CPU processes under ``accelerate launch`` against one: extraction and fine-tuning.

``accelerate launch --cpu`` starts a single process (several CPU processes
need MPI there); ``--multi_gpu --num_processes 2`` starts two through
torchrun, and on a machine without CUDA they join a gloo process group:
the same code path as several GPUs, on any CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emocirc.corpora import load_corpus

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def emocirc(
    args: list[str], tmp: Path, processes: int = 1, port: int = 29511, check: bool = True
) -> subprocess.CompletedProcess:
    """``python -m emocirc ARGS``, or ``accelerate launch`` of it on ``processes`` CPU processes.

    Both get one thread per process, so that the two runs do the same
    arithmetic in the same order (oneDNN may split sums by thread count).
    """
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "HF_HOME": str(tmp / "hf"),  # no accelerate config file of this machine's user
        "HF_HUB_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    launcher = [
        *("-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes)),
        *("--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"),
        *("--main_process_port", str(port)),
    ]
    command = [sys.executable, *(launcher if processes > 1 else []), "-m", "emocirc", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def emocirc_here(args: list[str]) -> None:
    """The one-process run, in this process (no second start-up): ``emocirc ARGS`` on one thread."""
    import torch

    from emocirc.cli import main

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the launched processes (OMP_NUM_THREADS=1)
    try:
        assert main(args) == 0
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def corpus(shared_corpus) -> Path:
    return shared_corpus("iemocap", 0.05)


def test_two_process_extraction_is_identical_to_one(corpus, tmp_path):
    common = ["--model", "tiny", "--device", "cpu", "--precision", "fp32", "--batch-seconds", "4", "--quiet"]
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    emocirc_here(["extract", str(corpus), "--out", str(one), "--cache-dir", str(tmp_path / "c1"), *common])
    done = emocirc(
        ["extract", str(corpus), "--out", str(two), "--cache-dir", str(tmp_path / "c2"), *common],
        tmp_path,
        processes=2,
    )
    assert "on 2 processes" in done.stdout and "warning" not in done.stderr
    with np.load(one) as a, np.load(two) as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        assert len(a["ids"]) == len(load_corpus(corpus))


def test_a_bad_file_in_one_shard_stops_every_process_with_one_line(corpus, tmp_path):
    # Decodable header, NaN samples: found only when the shard that holds it decodes it.
    bad = np.zeros(16_000, np.float32)
    bad[100] = np.nan
    sf.write(tmp_path / "nan.wav", bad, 16_000, subtype="FLOAT")
    table = load_corpus(corpus)[["path", "label", "speaker"]]
    extra = pd.DataFrame({"path": [str(tmp_path / "nan.wav")], "label": ["anger"], "speaker": ["1F"]})
    manifest = tmp_path / "manifest.csv"
    pd.concat([table, extra]).to_csv(manifest, index=False)
    args = ["extract", str(manifest), "--out", str(tmp_path / "f.npz"), "--model", "tiny", "--device", "cpu"]
    done = emocirc([*args, "--quiet", "--cache-dir", str(tmp_path / "c")], tmp_path, 2, 29513, check=False)
    errors = [line for line in done.stderr.splitlines() if line.startswith("emocirc: error:")]
    # One line per process at most (the shards' problems are gathered: the main process speaks).
    assert done.returncode != 0 and 1 <= len(errors) <= 2, done.stderr[-3000:]
    assert all("nan.wav" in line for line in errors)
    assert not (tmp_path / "f.npz").exists()


def _equal_length_corpus(corpus: Path, out: Path, multiple: int) -> Path:
    """The corpus's four-class utterances cut (or zero-padded) to 1 s, with a training set of a
    multiple of ``multiple`` utterances; a CSV manifest."""
    from emocirc.finetune import FinetuneConfig
    from emocirc.training_data import _select_splits, prepare_table

    df = load_corpus(corpus, four_class=True)
    out.mkdir()
    rows = []
    for row in df.itertuples(index=False):
        wave, rate = sf.read(row.path, dtype="float32")
        cut = np.zeros(rate, np.float32)
        cut[: min(rate, len(wave))] = wave[:rate]
        sf.write(out / Path(row.path).name, cut, rate, subtype="FLOAT")
        rows.append({"path": str(out / Path(row.path).name), "label": row.label, "speaker": row.speaker})
    table, manifest = pd.DataFrame(rows), out / "manifest.csv"
    config = FinetuneConfig(backbone="tiny")
    for n in range(len(table), len(table) - 4 * multiple, -1):
        table.iloc[:n].to_csv(manifest, index=False)
        loaded = prepare_table(load_corpus(manifest, four_class=True), config.labels)
        if len(_select_splits(loaded, config)[0].train) % multiple == 0:
            return manifest
    raise AssertionError("no corpus size gives a training set of the wanted size")


def _tiny_without_dropout(out: Path) -> Path:
    """The tiny backbone with every dropout at 0, saved as a model directory."""
    from transformers import Wav2Vec2FeatureExtractor

    from emocirc.backbones import load_backbone

    model = load_backbone("tiny").model
    for name in (
        "hidden_dropout",
        "activation_dropout",
        "attention_dropout",
        "feat_proj_dropout",
        "final_dropout",
    ):
        setattr(model.config, name, 0.0)
    model.save_pretrained(out)
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=False).save_pretrained(out)
    return out


def test_two_process_finetuning_takes_the_steps_of_one_at_twice_the_batch(corpus, tmp_path):
    # Per-process batch 2 x 2 processes = the effective batch 4 of one process. With equal
    # lengths (no padding differences), no dropout and a training set of a multiple of 4
    # utterances, the two take the same steps up to float rounding in the gradient average.
    manifest = _equal_length_corpus(corpus, tmp_path / "corpus", multiple=4)
    model = _tiny_without_dropout(tmp_path / "tiny-no-dropout")
    common = [
        *("--model", str(model), "--epochs", "2", "--device", "cpu", "--no-progress"),
        *("--lr-backbone", "2e-3", "--lr-head", "2e-2", "--mixed-precision", "no"),
    ]
    one, two = tmp_path / "one", tmp_path / "two"
    emocirc_here(["finetune", str(manifest), "--out", str(one), "--batch-size", "4", *common])
    done = emocirc(
        ["finetune", str(manifest), "--out", str(two), "--batch-size", "2", *common],
        tmp_path,
        processes=2,
        port=29512,
    )
    assert done.stdout.count("best epoch") == 1  # one process reports
    log_one, log_two = (pd.read_csv(run / "log.csv") for run in (one, two))
    assert len(log_one) == len(log_two) == 2
    # Stated tolerance: losses within 1e-4 (relative), every metric identical.
    for column in ("train_loss", "valid_loss", "valid_error"):
        np.testing.assert_allclose(log_two[column], log_one[column], rtol=1e-4, err_msg=column)
    assert log_one["train_loss"].iloc[1] != log_one["train_loss"].iloc[0]  # it did learn something
    metrics_one, metrics_two = (json.loads((run / "metrics.json").read_text()) for run in (one, two))
    assert metrics_one["best_epoch"] == metrics_two["best_epoch"]
    for part in ("valid", "test"):
        for key in ("weighted_accuracy", "unweighted_recall", "macro_f1"):
            assert metrics_two[part][key] == pytest.approx(metrics_one[part][key], abs=1e-9), (part, key)
