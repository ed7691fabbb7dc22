"""Tests of emocirc.comparison: the held-out utterances of a run, scored alike for every encoder."""

from __future__ import annotations

import numpy as np
import pytest

from emocirc.comparison import held_out_comparison, run_test_ids
from emocirc.corpora import load_corpus
from emocirc.errors import EmocircError
from emocirc.features import Features
from emocirc.finetune import FinetuneConfig, finetune, read_metrics
from emocirc.synth import ensure_corpus


@pytest.mark.usefixtures("emocirc_cache")
def test_run_test_ids_are_the_held_out_session(tmp_path):
    df = load_corpus(ensure_corpus("iemocap", scale=0.05), four_class=True)
    cfg = FinetuneConfig(backbone="tiny", epochs=1, protocol="leave-one-session-out", fold=0, device="cpu")
    run = finetune(df, cfg, tmp_path / "si", progress=False)
    ids = run_test_ids(run, df)
    assert len(ids) == read_metrics(run)["test"]["n"]
    sessions = set(df.set_index("id").loc[ids, "session"])
    assert len(sessions) == 1  # one session held out, both its speakers
    assert not set(df[~df["id"].isin(ids)]["session"]) & sessions


def _features(signal: float, seed: int) -> Features:
    rng = np.random.default_rng(seed)
    y = np.repeat(["anger", "sadness", "neutral"], 30)
    X = rng.normal(size=(90, 2, 8)).astype("float32")
    X[:, 1, 0] += signal * (y == "anger") - signal * (y == "sadness")
    arousal = np.where(y == "anger", 4.0, np.where(y == "sadness", 2.0, 3.0))
    return Features(
        ids=np.arange(90).astype(str), labels=y, speakers=np.repeat(["a", "b", "c"], 30)[rng.permutation(90)],
        embeddings=X, layers=np.array([0, 1]), valence=np.full(90, 3.0), arousal=arousal,
    )  # fmt: skip


def test_clustered_features_score_above_noise_on_the_same_utterances():
    test = [str(i) for i in range(0, 90, 3)]
    table = held_out_comparison({"noise": _features(0.0, 0), "signal": _features(6.0, 0)}, test)
    assert (table["n_test"] == 30).all()
    assert table.loc["signal", "emotion_ua"] > table.loc["noise", "emotion_ua"] + 0.3
    assert table.loc["signal", "silhouette"] > table.loc["noise", "silhouette"]
    assert table.loc["signal", "arousal_ccc"] > 0.8
    with pytest.raises(EmocircError, match="some but not all"):
        held_out_comparison({"x": _features(1.0, 0)}, [])


def test_held_out_predictions_are_kept_for_a_paired_comparison():
    from emocirc.inference import paired_difference

    test = [str(i) for i in range(0, 90, 3)]
    table = held_out_comparison({"noise": _features(0.0, 0), "signal": _features(6.0, 0)}, test)
    preds = table.attrs["predictions"]
    assert preds["id"].tolist() == test and {"speaker", "label", "noise", "signal"} <= set(preds)
    gain = paired_difference(
        preds["label"], preds["signal"], preds["noise"], preds["speaker"], n_resamples=200
    )
    assert gain.difference == pytest.approx(
        table.loc["signal", "emotion_ua"] - table.loc["noise", "emotion_ua"]
    )
