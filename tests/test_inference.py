"""The speaker bootstrap on constructed data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from emocirc import inference as inf
from emocirc.errors import EmocircError


def clustered(rng, n_speakers=10, per_speaker=30, speaker_sd=1.0, noise_sd=1.0):
    """Utterance values whose true mean is 0, sharing a random offset within each speaker."""
    speakers = np.repeat(np.arange(n_speakers), per_speaker)
    x = rng.normal(0, speaker_sd, n_speakers)[speakers] + rng.normal(0, noise_sd, len(speakers))
    return x, speakers


def test_speaker_bootstrap_covers_where_the_utterance_bootstrap_is_too_narrow():
    rng = np.random.default_rng(0)
    reps, covered_speaker, covered_naive = 100, 0, 0
    widths = []
    for r in range(reps):
        x, speakers = clustered(rng)
        stat = lambda idx, x=x: x[idx].mean()  # noqa: E731
        by_speaker = inf.speaker_bootstrap(stat, speakers, n_resamples=200, seed=r)
        naive = inf.speaker_bootstrap(stat, None, n_resamples=200, seed=r, n=len(x))
        covered_speaker += by_speaker.low[0] < 0 < by_speaker.high[0]
        covered_naive += naive.low[0] < 0 < naive.high[0]
        widths.append((by_speaker.high - by_speaker.low)[0] / (naive.high - naive.low)[0])
    # The mean of 10 speakers' offsets has SD 1/sqrt(10) ~ 0.32; utterances alone suggest ~ 0.08.
    assert covered_naive / reps < 0.55
    # Nominal 95 %; with 10 clusters the percentile interval runs a little short, both stages a
    # little long: anything near nominal passes, the naive rate cannot.
    assert covered_speaker / reps >= 0.88
    assert np.median(widths) > 2.5


def test_within_false_keeps_speakers_whole_and_bca_jackknifes_speakers():
    speakers = np.repeat(["a", "b", "c", "d", "e"], 4)
    x = np.repeat([0.0, 1.0, 2.0, 3.0, 4.0], 4)  # no variation within a speaker
    seen = []

    def stat(idx):
        seen.append(len(idx))
        return x[idx].mean()

    res = inf.speaker_bootstrap(stat, speakers, n_resamples=100, method="BCa", within=False, seed=3)
    # Resamples hold 5 whole speakers (20 utterances), jackknife samples 4 (16): never a broken speaker.
    assert set(seen) == {20, 16}
    # Speaker means are 0..4: every resample's mean is a mean of five of them.
    values = res.distribution[:, 0] * 5
    assert np.allclose(values, np.round(values))
    assert res.method == "BCa" and res.low[0] < 2 < res.high[0]


def test_seeded_and_failed_resamples_counted():
    rng = np.random.default_rng(1)
    x, speakers = clustered(rng, n_speakers=6, per_speaker=5)
    a = inf.speaker_bootstrap(lambda i: x[i].mean(), speakers, n_resamples=50, seed=7)
    b = inf.speaker_bootstrap(lambda i: x[i].mean(), speakers, n_resamples=50, seed=7)
    c = inf.speaker_bootstrap(lambda i: x[i].mean(), speakers, n_resamples=50, seed=8)
    assert np.array_equal(a.distribution, b.distribution)
    assert not np.array_equal(a.distribution, c.distribution)

    def fragile(idx):
        if 0 not in speakers[idx]:  # speaker 0 missing: "a class without utterances"
            raise EmocircError("no speaker 0")
        return x[idx].mean()

    res = inf.speaker_bootstrap(fragile, speakers, n_resamples=200, method="BCa", seed=0)
    # P(speaker 0 not drawn) = (5/6)^6 ~ 0.33.
    assert 30 < res.n_failed < 100
    assert res.method == "percentile" and np.isfinite(res.low[0])
    assert "failed" in res.describe()


def test_paired_difference_zero_for_equal_systems_and_resolved_for_a_better_one():
    rng = np.random.default_rng(2)
    labels = np.array(["anger", "happiness", "neutral", "sadness"])
    speakers = np.repeat(np.arange(10), 40)
    truth = labels[rng.integers(0, 4, len(speakers))]

    def noisy(p_correct):
        wrong = labels[rng.integers(0, 4, len(truth))]
        return np.where(rng.random(len(truth)) < p_correct, truth, wrong)

    a = noisy(0.6)
    same = inf.paired_difference(truth, a, a.copy(), speakers, metric="UA", n_resamples=100)
    assert same.difference == 0.0 and same.low == 0.0 and same.high == 0.0
    assert same.verdict is inf.Verdict.NOT_RESOLVED
    better = inf.paired_difference(truth, noisy(0.9), a, speakers, metric="WA", n_resamples=200)
    assert better.verdict is inf.Verdict.HOLDS and better.low > 0
    worse = inf.paired_difference(truth, a, noisy(0.95), speakers, metric="macro-F1", n_resamples=200)
    assert worse.verdict is inf.Verdict.DOES_NOT_HOLD
    # Two noisy copies of one system: the difference is not resolved.
    twin = inf.paired_difference(truth, noisy(0.6), noisy(0.6), speakers, metric="UA", n_resamples=200)
    assert twin.low < 0 < twin.high or twin.verdict is not inf.Verdict.NOT_RESOLVED
    with pytest.raises(EmocircError, match="metric"):
        inf.paired_difference(truth, a, a, speakers, metric="AUC")


def test_ccc_paired_difference_and_interval():
    rng = np.random.default_rng(3)
    speakers = np.repeat(np.arange(12), 20)
    t = rng.normal(size=len(speakers))
    good, bad = t + rng.normal(0, 0.2, len(t)), t + rng.normal(0, 2.0, len(t))
    d = inf.paired_difference(t, good, bad, speakers, metric="CCC", n_resamples=200)
    assert d.verdict is inf.Verdict.HOLDS and d.a > d.b
    r = inf.ccc_interval(t, good, speakers, n_resamples=100)
    assert r.low[0] < r.estimate[0] <= r.high[0] <= 1.0


def test_classification_intervals_contain_their_estimate():
    rng = np.random.default_rng(4)
    speakers = np.repeat(np.arange(8), 25)
    truth = np.array(["anger", "sadness"])[rng.integers(0, 2, len(speakers))]
    pred = np.where(rng.random(len(truth)) < 0.7, truth, "anger")
    table = inf.classification_intervals(truth, pred, speakers, n_resamples=200)
    assert list(table.index) == ["WA", "UA", "macro-F1"]
    assert (table["ci_low"] <= table["estimate"]).all() and (table["estimate"] <= table["ci_high"]).all()
    with pytest.raises(EmocircError, match="predictions"):
        inf.classification_intervals(truth, pred[:-1], speakers)
    with pytest.raises(EmocircError, match="at least 2 speakers"):
        inf.classification_intervals(truth, pred, np.zeros(len(truth)))


def test_confusion_shares_report_both_directions():
    # anger -> happiness 40 of 60, happiness -> anger 1 of 50: the second must be shown beside the first.
    t = ["anger"] * 60 + ["happiness"] * 50 + ["sadness"] * 30
    p = ["happiness"] * 40 + ["anger"] * 20 + ["anger"] + ["happiness"] * 49 + ["sadness"] * 30
    speakers = np.tile(np.arange(10), 14)
    s = inf.confusion_shares(t, p, speakers, threshold=0.2, n_resamples=100)
    assert s[["true", "predicted", "count", "n_true"]].values.tolist() == [
        ["anger", "happiness", 40, 60],
        ["happiness", "anger", 1, 50],
    ]
    assert s.loc[0, "share"] == pytest.approx(40 / 60)
    assert s.loc[0, "ci_low"] < 40 / 60 < s.loc[0, "ci_high"]
    assert inf.confusion_shares(t, t, speakers, n_resamples=10).empty


def test_verdict_and_validation():
    assert inf.verdict(0.1, 0.2) is inf.Verdict.HOLDS
    assert inf.verdict(-0.2, -0.1) is inf.Verdict.DOES_NOT_HOLD
    assert inf.verdict(-0.1, 0.1) is inf.Verdict.NOT_RESOLVED
    assert inf.verdict(float("nan"), 1.0) is inf.Verdict.NOT_RESOLVED
    assert inf.verdict(0.5, 0.7, threshold=0.6) is inf.Verdict.NOT_RESOLVED
    with pytest.raises(EmocircError, match="method"):
        inf.speaker_bootstrap(lambda i: 0.0, np.arange(4), method="studentized")
    with pytest.raises(EmocircError, match="speaker ids"):
        inf.speaker_groups(["a"], 2)
    assert inf.wrap_degrees([180.0]).tolist() == [-180.0]


def test_paired_difference_accepts_a_metric_function():
    t = np.arange(40.0)
    mae = lambda y, p: -float(np.mean(np.abs(y - p)))  # noqa: E731  (higher is better)
    d = inf.paired_difference(t, t + 0.1, t + 5.0, np.repeat(np.arange(8), 5), metric=mae, n_resamples=50)
    assert d.metric == "<lambda>" and d.difference == pytest.approx(4.9) and d.verdict is inf.Verdict.HOLDS


def test_speaker_ids_must_match_the_utterances():
    t = ["anger", "sadness"] * 5
    with pytest.raises(EmocircError, match="expected 10 speaker ids"):
        inf.classification_intervals(t, t, np.arange(9))


def _ar1(n, phi, mean, seed):
    rng = np.random.default_rng(seed)
    x = np.empty(n)
    x[0] = rng.normal()
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.normal() * np.sqrt(1 - phi**2)
    return x + mean


def test_block_bootstrap_covers_an_ar1_mean_and_is_wider_than_the_iid_bootstrap():
    from emocirc.inference import block_bootstrap

    covered, ratios = 0, []
    for seed in range(20):
        x = _ar1(600, 0.8, 0.5, seed)
        blocks = block_bootstrap(lambda i, b, x=x: x[i].mean(), len(x), block=30, n_resamples=200, seed=seed)
        iid = block_bootstrap(lambda i, b, x=x: x[i].mean(), len(x), block=1, n_resamples=200, seed=seed)
        covered += blocks.low[0] < 0.5 < blocks.high[0]
        ratios.append((blocks.high[0] - blocks.low[0]) / (iid.high[0] - iid.low[0]))
    # The true standard error is sqrt((1 + phi) / (1 - phi)) = 3 times the iid one.
    # Nominal 95 %; a block bootstrap with 20 blocks runs a little short, the iid one far shorter.
    assert covered >= 15
    assert min(ratios) > 1.5 and np.median(ratios) > 2.0


def test_block_bootstrap_keeps_order_within_blocks_and_never_crosses_runs():
    from emocirc.inference import block_bootstrap, moving_blocks

    runs = np.repeat([0, 1, 2], [5, 5, 2])
    assert [b.tolist() for b in moving_blocks(12, runs, 3)] == [
        [0, 1, 2], [3, 4], [5, 6, 7], [8, 9], [10, 11]
    ]  # fmt: skip
    seen = []

    def stat(idx, seams):
        for s in np.unique(seams):
            part = idx[seams == s]
            assert np.all(np.diff(part) == 1) and len(np.unique(runs[part])) == 1
        seen.append(len(idx))
        return float(idx.mean())

    r = block_bootstrap(stat, 12, runs, block=3, n_resamples=30, seed=1)
    assert r.n_blocks == 5 and r.method == "percentile" and "block bootstrap" in r.describe()
    with pytest.raises(EmocircError, match="at least 2 blocks"):
        block_bootstrap(stat, 3, block=4)
    with pytest.raises(EmocircError, match="block=0"):
        moving_blocks(5, None, 0)


def test_cluster_proportion_resamples_persons_not_days():
    from emocirc.inference import cluster_proportion
    from emocirc.mood_validation import wilson_interval

    k, n = np.array([10, 10, 10, 0, 0, 0, 0, 0, 0, 0]), np.full(10, 10)
    r = cluster_proportion(k, n, n_resamples=400)
    lo, hi = wilson_interval(30, 100)
    assert r.estimate[0] == pytest.approx(0.3) and r.n_speakers == 10 and not r.within
    assert (r.high[0] - r.low[0]) > 1.8 * (hi - lo)
    with pytest.raises(EmocircError, match="successes <= trials"):
        cluster_proportion([3], [2])
