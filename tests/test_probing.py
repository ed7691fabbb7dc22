"""Tests of emocirc.probing: the probe finds the layer that holds the signal, and never sees a test speaker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GroupKFold

from emocirc import probing
from emocirc.errors import EmocircError
from emocirc.features import Features
from emocirc.metrics import unweighted_recall

LABELS = np.array(["anger", "happiness", "sadness", "neutral"])


pytestmark = pytest.mark.usefixtures("emocirc_cache")


def _features(n_per=30, n_speakers=6, seed=0, speaker_offset=0.0):
    """Layer 0 is noise, layer 1 holds the label and arousal, layer 2 holds arousal only."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(LABELS, n_per)
    n = len(labels)
    speakers = np.array([f"s{i % n_speakers}" for i in range(n)])
    arousal = {"anger": 4.0, "happiness": 3.8, "sadness": 2.0, "neutral": 2.5}
    aro = np.array([arousal[y] for y in labels]) + rng.normal(0, 0.3, n)
    val = np.where(np.isin(labels, ["happiness", "neutral"]), 3.5, 2.0) + rng.normal(0, 0.3, n)
    onehot = (labels[:, None] == LABELS[None, :]).astype(float)
    d = 8
    layer0 = rng.normal(size=(n, d))
    layer1 = rng.normal(size=(n, d)) * 0.5
    layer1[:, :4] += 2 * onehot
    layer2 = rng.normal(size=(n, d))
    layer2[:, 0] += 2 * (aro - aro.mean())
    offsets = {s: rng.normal(0, speaker_offset, d) for s in np.unique(speakers)}
    shift = np.array([offsets[s] for s in speakers])
    emb = np.stack([layer0 + shift, layer1 + shift, layer2 + shift], axis=1).astype(np.float32)
    return Features(
        ids=np.array([f"u{i}" for i in range(n)]),
        labels=labels,
        speakers=speakers,
        embeddings=emb,
        layers=np.array([0, 3, 5]),
        valence=val,
        arousal=aro,
    )


def test_probe_table_is_tidy_and_finds_the_informative_layers():
    f = _features()
    table = probing.layer_probe(f, ["label", "arousal", "valence"], seed=0)
    assert list(table.columns) == list(probing.COLUMNS)
    assert len(table) == 3 * 3
    assert table["layer"].tolist()[:3] == [0, 0, 0]
    assert set(table["metric"]) == {"unweighted_recall", "ccc"}
    scores = table.pivot(index="layer", columns="target", values="score")
    # Noise layer: label at chance, arousal not predicted.
    assert abs(scores.loc[0, "label"] - 0.25) < 0.12
    assert abs(scores.loc[0, "arousal"]) < 0.2
    assert scores.loc[3, "label"] > 0.9
    assert scores.loc[5, "arousal"] > 0.8
    assert scores.loc[5, "label"] < scores.loc[3, "label"]
    assert probing.best_layers(table).to_dict() == {"arousal": 5, "label": 3, "valence": 3}
    label_rows = table[table["target"] == "label"]
    assert (label_rows["chance"] == 0.25).all() and (table[table["target"] == "arousal"]["chance"] == 0).all()
    assert (table["folds"] == 5).all() and (table["n"] == 120).all()
    assert (table["fold_std"] >= 0).all()


def test_leave_one_group_out_when_groups_are_few_and_custom_groups():
    f = _features(n_speakers=4)
    table = probing.layer_probe(f, "label", n_splits=None, layers=[3])
    assert table["folds"].tolist() == [4]
    sessions = np.char.add("session-", (np.arange(len(f)) % 2).astype(str))
    table = probing.layer_probe(f, "label", groups=sessions, n_splits=5, layers=[3])
    assert table["folds"].tolist() == [2]  # more folds asked than groups: one group per fold


def test_folds_never_share_a_speaker_and_the_seed_decides_them(monkeypatch):
    f = _features(n_speakers=10)
    seen = []
    real_split = GroupKFold.split

    def spy(self, X, y=None, groups=None):
        for train, test in real_split(self, X, y, groups):
            seen.append((set(groups[train]), set(groups[test])))
            yield train, test

    monkeypatch.setattr(GroupKFold, "split", spy)
    probing.layer_probe(f, "label", layers=[0], n_splits=5, seed=0)
    assert len(seen) == 5 and all(not (tr & te) for tr, te in seen)
    first = [te for _, te in seen]
    seen.clear()
    probing.layer_probe(f, "label", layers=[0], n_splits=5, seed=0)
    assert [te for _, te in seen] == first
    seen.clear()
    probing.layer_probe(f, "label", layers=[0], n_splits=5, seed=3)
    assert [te for _, te in seen] != first


def test_speaker_offsets_are_not_learned_as_emotion():
    # Speaker-identity signal only: a probe that leaked speakers would score above chance here.
    rng = np.random.default_rng(1)
    f = _features(n_speakers=4, speaker_offset=3.0)
    f.labels = rng.permutation(f.labels)
    table = probing.layer_probe(f, "label", n_splits=None, layers=[0])
    assert table["score"].iloc[0] < 0.4


def test_missing_targets_are_left_out_per_target():
    f = _features()
    f.arousal = f.arousal.copy()
    f.arousal[:10] = np.nan
    f.labels = f.labels.copy()
    f.labels[-5:] = ""
    table = probing.layer_probe(f, ["label", "arousal"], layers=[3]).set_index("target")
    assert table.loc["arousal", "n"] == 110 and table.loc["label", "n"] == 115


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target": "dominance"}, "target='dominance'"),
        ({"target": []}, "target"),
        ({"layers": [7]}, r"layers \[7\]"),
        ({"groups": ["a"] * 10}, "groups: expected 120"),
        ({"groups": ["a"] * 120}, "at least 2 speakers"),
        ({"n_splits": 1}, "n_splits=1"),
    ],
)
def test_bad_input_names_the_value(kwargs, match):
    with pytest.raises(EmocircError, match=match):
        probing.layer_probe(_features(), **kwargs)


def test_bad_features_are_rejected():
    f = _features()
    f.valence = np.full(len(f), np.nan)
    with pytest.raises(EmocircError, match="valence: expected ratings"):
        probing.layer_probe(f, "valence")
    f = _features()
    f.labels = np.full(len(f), "anger")
    with pytest.raises(EmocircError, match="at least 2 emotions"):
        probing.layer_probe(f, "label")
    f = _features()
    f.embeddings = f.embeddings.copy()
    f.embeddings[0, 0, 0] = np.nan
    with pytest.raises(EmocircError, match="finite"):
        probing.layer_probe(f, "label")
    with pytest.raises(EmocircError, match="missing"):
        probing.best_layers(pd.DataFrame({"layer": [0]}))


def test_layer_summary_reports_best_last_and_spreads():
    table = probing.layer_probe(_features(), ["label", "arousal"], seed=0)
    summary = probing.layer_summary(table)
    assert summary.loc["label", "best_layer"] == 3 and summary.loc["arousal", "best_layer"] == 5
    label = table[table["target"] == "label"].set_index("layer")["score"]
    assert summary.loc["label", "last"] == pytest.approx(label[5])
    assert summary.loc["label", "across_layers"] == pytest.approx(label.max() - label.min())
    assert summary.loc["label", "across_layers"] > summary.loc["label", "across_folds"]
    with pytest.raises(EmocircError, match="fold_std"):
        probing.layer_summary(table.drop(columns="fold_std"))


# --------------------------------------------------------------------------- SUPERB-style probes

PHONES = np.array(list("abcdefgh"))


def _frame_features(n_speakers=8, n_utt=4, n_frames=50, seed=0, d=12):
    """Layer 0: noise; layer 1: the phoneme (same code for everyone); layer 2: the phoneme in a
    code of each speaker's own (decodable only for speakers seen in training); layer 3: the speaker."""
    rng = np.random.default_rng(seed)
    shared = {p: rng.normal(size=d) for p in PHONES}
    own = {s: {p: rng.normal(size=d) for p in PHONES} for s in range(n_speakers)}
    voice = {s: rng.normal(size=d) for s in range(n_speakers)}
    frames, labels, speakers = [], [], []
    for s in range(n_speakers):
        for _ in range(n_utt):
            ph = rng.choice(PHONES, size=n_frames).astype("<U3")
            ph[:5] = "sil"
            layer0 = rng.normal(size=(n_frames, d))
            layer1 = np.array([shared.get(p, np.zeros(d)) for p in ph]) + rng.normal(0, 0.4, (n_frames, d))
            layer2 = np.array([own[s].get(p, np.zeros(d)) for p in ph]) + rng.normal(0, 0.4, (n_frames, d))
            layer3 = voice[s] + rng.normal(0, 1.0, (n_frames, d))
            frames.append(np.stack([layer0, layer1, layer2, layer3]).astype(np.float32))
            labels.append(ph)
            speakers.append(f"spk{s}")
    n = len(frames)
    f = Features(
        ids=np.array([f"u{i}" for i in range(n)]),
        labels=np.full(n, ""),
        speakers=np.array(speakers),
        embeddings=np.stack([x.mean(axis=1) for x in frames]),
        layers=np.array([0, 1, 2, 3]),
        valence=np.full(n, np.nan),
        arousal=np.full(n, np.nan),
        frames=frames,
    )
    return f, labels


def test_phoneme_probe_reads_the_shared_code_and_scores_only_unseen_speakers():
    f, labels = _frame_features()
    result = probing.phoneme_probe(f, labels, test_fraction=0.25, seed=0)
    table = result.table.set_index("layer")
    assert list(result.table.columns) == list(probing.FRAME_COLUMNS)
    assert (table["metric"] == "frame_accuracy").all() and (table["classes"] == 8).all()
    assert table.loc[1, "score"] > 0.95
    # Noise, and a code that differs per speaker, both fall to chance on speakers the probe never saw.
    for layer in (0, 2):
        assert table.loc[layer, "score"] < table.loc[layer, "chance"] + 0.12, layer
    assert (table["chance"] > 0.05).all() and (table["chance"] < 0.25).all()
    held_out = set(result.correct["group"])
    assert len(held_out) == 2 and (table["groups"] == 2).all()
    # Silence is left out: 45 of each utterance's 50 frames are scored.
    assert (table["n_test"] == 2 * 4 * 45).all() and (table["n_train"] == 6 * 4 * 45).all()
    # The same probe on seen speakers would decode the per-speaker code: the hold-out is what stops it.
    assert result.correct.groupby("layer")["total"].sum().eq(360).all()


def test_phoneme_probe_test_speakers_and_cost_bounds():
    f, labels = _frame_features()
    result = probing.phoneme_probe(
        f, labels, test_speakers=["spk0", "spk5"], layers=[1], max_train_frames=300
    )
    assert set(result.correct["group"]) == {"spk0", "spk5"}
    assert result.table["n_train"].tolist() == [300] and result.table["layer"].tolist() == [1]
    assert result.score(1) > 0.9
    with pytest.raises(EmocircError, match="layer 7"):
        result.score(7)


def test_phoneme_probe_bad_inputs_say_what_was_expected():
    f, labels = _frame_features(n_speakers=3, n_utt=2)
    with pytest.raises(EmocircError, match="utterance u1: 49 frame labels for 50 frames"):
        probing.phoneme_probe(f, [labels[0], labels[1][:-1], *labels[2:]])
    with pytest.raises(EmocircError, match="expected 6 utterances"):
        probing.phoneme_probe(f, labels[:3])
    with pytest.raises(EmocircError, match="not among"):
        probing.phoneme_probe(f, labels, test_speakers=["nobody"])
    with pytest.raises(EmocircError, match="at least one speaker to train on"):
        probing.phoneme_probe(f, labels, test_speakers=["spk0", "spk1", "spk2"])
    pooled = Features(**{**f.__dict__, "frames": None})
    with pytest.raises(EmocircError, match="frames=True"):
        probing.phoneme_probe(pooled, labels)


def test_speaker_probe_holds_out_utterances_of_known_speakers():
    f, _ = _frame_features(n_speakers=8, n_utt=6)
    result = probing.speaker_probe(f, test_fraction=0.34, seed=1)
    table = result.table.set_index("layer")
    assert (table["metric"] == "utterance_accuracy").all()
    assert table.loc[3, "score"] > 0.95  # the speaker layer
    assert table.loc[0, "score"] < 0.4  # noise: chance is 1/8
    # Every speaker is in the test set (utterances held out, not speakers) with 2 of 6 utterances.
    assert set(result.correct["group"]) == set(f.speakers)
    assert result.correct.groupby("layer")["total"].sum().eq(16).all()
    assert (table["n_train"] + table["n_test"] == 48).all()


def test_probe_margin_resolves_a_real_difference_and_not_a_null_one():
    f, labels = _frame_features()
    result = probing.phoneme_probe(f, labels, seed=0)
    real = probing.probe_margin(result, result, layer_a=1, layer_b=0, seed=0)
    assert real["margin"] > 0.6 and 0.5 < real["lo"] <= real["margin"] <= real["hi"]
    assert (real["layer_a"], real["layer_b"], real["groups"]) == (1, 0, 2)
    # Two independent noise layers (another draw, the same labels and speakers): the interval holds 0.
    g, _ = _frame_features(seed=1)
    null = probing.probe_margin(result, probing.phoneme_probe(g, labels, layers=[0], seed=0), 0, 0)
    assert abs(null["margin"]) < 0.05 and null["lo"] <= 0 <= null["hi"]
    assert probing.probe_margin(result, result)["margin"] == 0.0  # best layer against itself
    other_split = probing.phoneme_probe(f, labels, seed=3)
    if set(other_split.correct["group"]) != set(result.correct["group"]):
        with pytest.raises(EmocircError, match="same held-out speakers"):
            probing.probe_margin(result, other_split)


def test_describe_margin_follows_the_interval():
    assert probing.describe_margin({"margin": 0.2, "lo": 0.1, "hi": 0.3}).startswith(
        "pre-trained ahead by +0.200"
    )
    assert probing.describe_margin({"margin": -0.2, "lo": -0.3, "hi": -0.1}, "A", "B").startswith("B ahead")
    assert "does not resolve" in probing.describe_margin({"margin": 0.05, "lo": -0.01, "hi": 0.1})


# --- The SUPERB-style weighted-sum probe --------------------------------------


def test_weighted_probe_weights_the_informative_layer():
    f = _features()
    score, weights = probing.weighted_layer_probe(f, n_splits=3, seed=0)
    assert list(score.columns) == list(probing.COLUMNS)
    row = score.iloc[0]
    assert (row["layer"], row["target"], row["metric"], row["folds"]) == (-1, "label", "unweighted_recall", 3)
    # Layer 3 holds the label: it carries most of the weight, and the mix scores like it.
    assert weights.columns.tolist() == [0, 3, 5] and len(weights) == 3
    np.testing.assert_allclose(weights.sum(axis=1), 1.0)
    assert (weights.idxmax(axis=1) == 3).all()
    assert (weights[3] > 0.5).all()
    per_layer = probing.layer_probe(f, "label", n_splits=3, seed=0).set_index("layer")["score"]
    assert row["score"] > per_layer.loc[0] + 0.3
    assert row["score"] >= per_layer.loc[3] - 0.1


def test_weighted_probe_is_deterministic_and_seeded():
    f = _features(n_per=10)
    X, y = f.embeddings, f.labels
    a = probing.WeightedLayerProbe(epochs=50, seed=1).fit(X, y)
    b = probing.WeightedLayerProbe(epochs=50, seed=1).fit(X, y)
    c = probing.WeightedLayerProbe(epochs=50, seed=2).fit(X, y)
    np.testing.assert_array_equal(a.layer_weights_, b.layer_weights_)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.coef_, c.coef_)
    proba = a.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(a.classes_[proba.argmax(axis=1)], a.predict(X))
    assert a.get_params()["epochs"] == 50  # the scikit-learn contract


def test_weighted_probe_never_trains_on_a_test_speaker(monkeypatch):
    f = _features(n_per=10)
    seen = []
    original = probing.WeightedLayerProbe.fit

    def spy(self, X, y):
        seen.append({tuple(row) for row in X[:, 0, :2].round(6)})
        return original(self, X, y)

    monkeypatch.setattr(probing.WeightedLayerProbe, "fit", spy)
    probing.weighted_layer_probe(f, n_splits=None, epochs=5)
    assert len(seen) == len(np.unique(f.speakers))
    for speaker, train in zip(np.unique(f.speakers), seen, strict=True):
        held_out = {tuple(row) for row in f.embeddings[f.speakers == speaker, 0, :2].round(6)}
        assert not held_out & train


def test_weighted_probe_bad_input():
    f = _features(n_per=5)
    with pytest.raises(EmocircError, match="utterances x layers x dimensions"):
        probing.WeightedLayerProbe().fit(f.embeddings[:, 0], f.labels)
    with pytest.raises(EmocircError, match="at least 2 classes"):
        probing.WeightedLayerProbe().fit(f.embeddings, np.full(len(f), "anger"))
    with pytest.raises(EmocircError, match="call fit"):
        probing.WeightedLayerProbe().predict(f.embeddings)
    fitted = probing.WeightedLayerProbe(epochs=2).fit(f.embeddings, f.labels)
    with pytest.raises(EmocircError, match="as in training"):
        fitted.predict(f.embeddings[:, :2])


def test_select_layer_and_compare_probes():
    f = _features(n_per=10)
    table = probing.layer_probe(f, ["label", "arousal"], n_splits=3)
    last = probing.select_layer(table, "last")
    best = probing.select_layer(table, "best")
    assert set(last["layer"]) == {5} and list(last["target"]) == ["label", "arousal"]
    for target, rows in table.groupby("target"):
        assert best.set_index("target").loc[target, "score"] == rows["score"].max()
    assert list(probing.select_layer(table, 3)["layer"]) == [3, 3]
    with pytest.raises(EmocircError, match="expected 'last', 'best' or one of the layers"):
        probing.select_layer(table, 4)
    weighted, _ = probing.weighted_layer_probe(f, n_splits=3, epochs=20)
    compared = probing.compare_probes({"last": last, "weighted": weighted})
    assert compared.loc["last", ("arousal", "score")] == last.set_index("target").loc["arousal", "score"]
    assert compared.loc["weighted", ("label", "fold spread")] == weighted["fold_std"].iloc[0]
    assert np.isnan(compared.loc["weighted", ("arousal", "score")])  # the weighted probe classifies only
    with pytest.raises(EmocircError, match="several rows for one target"):
        probing.compare_probes({"all layers": table})


# --- held-out predictions, intervals and paired comparisons -------------------


def test_layer_probe_returns_its_held_out_predictions():
    f = _features(n_per=15)
    table, pred = probing.layer_probe(f, ["label", "arousal"], layers=[0, 3], seed=0, predictions=True)
    assert list(pred.columns) == list(probing.PREDICTION_COLUMNS)
    assert table.equals(probing.layer_probe(f, ["label", "arousal"], layers=[0, 3], seed=0))
    for row in table.itertuples():
        part = pred[(pred["layer"] == row.layer) & (pred["target"] == row.target)]
        assert len(part) == row.n and part["id"].is_unique and (part["fold"] >= 0).all()
        if row.target == "label":  # the table's score is the UA of exactly these predictions
            assert unweighted_recall(part["truth"].astype(str), part["prediction"].astype(str)) == row.score
        # every utterance was predicted by the fold that held its speaker out
        assert (part.groupby("speaker")["fold"].nunique() == 1).all()
    speakers = dict(zip(f.ids, f.speakers, strict=True))
    assert all(speakers[i] == s for i, s in zip(pred["id"], pred["speaker"], strict=True))


def test_probe_intervals_cover_the_pooled_score_and_say_their_scheme():
    f = _features(n_per=15)
    _, pred = probing.layer_probe(f, ["label", "arousal"], layers=[0, 3], seed=0, predictions=True)
    t = probing.probe_intervals(pred, n_resamples=100)
    assert list(t.columns) == list(probing.INTERVAL_COLUMNS) and len(t) == 4
    assert (t["ci_low"] <= t["score"]).all() and (t["score"] <= t["ci_high"]).all()
    assert "speaker bootstrap" in t.attrs["scheme"] and "100 resamples" in t.attrs["scheme"]
    label = t[t["target"] == "label"].set_index("layer")
    assert label.loc[3, "ci_low"] > label.loc[0, "ci_high"]  # layer 3 holds the emotion, layer 0 noise
    assert label["wa"].notna().all() and t[t["target"] == "arousal"]["wa"].isna().all()
    assert (t["speakers"] == 6).all()


def test_probe_difference_holds_for_an_obvious_winner_and_is_unresolved_for_twins():
    f = _features(n_per=15)
    _, pred = probing.layer_probe(f, ["label", "arousal"], layers=[0, 3], seed=0, predictions=True)
    win = probing.probe_difference(pred, pred, layer_a=3, layer_b=0, n_resamples=100)
    assert str(win.verdict) == "holds" and win.low > 0
    lose = probing.probe_difference(pred, pred, layer_a=0, layer_b=3, n_resamples=100)
    assert str(lose.verdict) == "does not hold"
    twins = probing.probe_difference(pred, pred, layer_a=3, layer_b=3, n_resamples=50)
    assert str(twins.verdict) == "not resolved" and twins.difference == 0.0
    ccc = probing.probe_difference(pred, pred, layer_a=3, layer_b=0, target="arousal", n_resamples=50)
    assert ccc.metric == "CCC"
    with pytest.raises(EmocircError, match="expected one"):
        probing.probe_difference(pred, pred, layer_b=0)
    with pytest.raises(EmocircError, match="same utterances"):
        probing.probe_difference(
            pred, pred.drop(index=pred.index[pred["layer"] == 3][0]), layer_a=3, layer_b=3
        )


def test_weighted_probe_predictions_compare_with_a_layer():
    f = _features(n_per=10)
    score, _, wpred = probing.weighted_layer_probe(f, n_splits=3, epochs=30, seed=0, predictions=True)
    assert set(wpred["layer"]) == {-1} and len(wpred) == score["n"].iloc[0]
    _, pred = probing.layer_probe(f, "label", layers=[0], n_splits=3, seed=0, predictions=True)
    d = probing.probe_difference(wpred, pred, n_resamples=50)
    assert d.difference == pytest.approx(score["score"].iloc[0] - unweighted_recall(
        pred["truth"].astype(str), pred["prediction"].astype(str)))  # fmt: skip
    table = probing.compare_probes({"w": probing.probe_intervals(wpred, n_resamples=30)})
    assert ("label", "ci low") in table.columns and ("label", "fold spread") not in table.columns


def test_probe_margin_keeps_its_keys_and_uses_the_speaker_bootstrap():
    good = probing.FrameProbeResult(
        pd.DataFrame({"layer": [1], "score": [0.8]}),
        pd.DataFrame(
            {"layer": 1, "group": list("abcdef"), "correct": [80, 75, 85, 80, 70, 90], "total": 100}
        ),
    )
    same = probing.probe_margin(good, good, n_boot=100)
    assert set(same) >= {"margin", "lo", "hi", "layer_a", "layer_b", "groups"}
    assert (same["margin"], same["lo"], same["hi"]) == (0.0, 0.0, 0.0)
    assert "speaker bootstrap" in same["scheme"] and "6 speakers" in same["scheme"]


def test_fast_ua_on_codes_is_the_metrics_modules_ua():
    from emocirc.metrics import weighted_accuracy

    rng = np.random.default_rng(0)
    t = rng.choice(["anger", "sadness", "neutral"], 200)
    p = rng.choice(["anger", "sadness", "happiness"], 200)  # one label never true, one never predicted
    (tc, pc), k = probing._label_codes(t, p)
    for idx in (np.arange(200), rng.integers(0, 200, 200), np.flatnonzero(t != "neutral")):
        assert probing._ua_of_codes(k)(tc[idx], pc[idx]) == pytest.approx(unweighted_recall(t[idx], p[idx]))
        assert probing._wa_of_codes(tc[idx], pc[idx]) == pytest.approx(weighted_accuracy(t[idx], p[idx]))


def test_probe_margin_with_one_held_out_speaker_has_no_interval():
    one = probing.FrameProbeResult(
        pd.DataFrame({"layer": [1], "score": [0.8]}),
        pd.DataFrame({"layer": 1, "group": ["a"], "correct": [80], "total": 100}),
    )
    m = probing.probe_margin(one, one)
    assert m["margin"] == 0.0 and np.isnan(m["lo"]) and "needs at least 2" in m["scheme"]
    assert "does not resolve" in probing.describe_margin(m)
