"""Circumplex statistics on constructed data with known answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from emocirc import circumplex as cx
from emocirc.errors import EmocircError
from emocirc.russell import expected_positions, to_rating

ANGLES = {
    "happiness": 10.0,
    "anger": 100.0,
    "fear": 130.0,
    "sadness": 200.0,
    "boredom": 245.0,
    "neutral": 320.0,
}


def clusters(angles=ANGLES, radius=5.0, n=60, sd=0.5, seed=0, extra_dims=0):
    """Gaussian clusters centred at known angles on a circle about the origin, exactly centred."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for label, deg in angles.items():
        t = np.radians(deg)
        noise = rng.normal(0, sd, (n, 2 + extra_dims))
        noise -= noise.mean(axis=0)  # centroids land exactly on their targets
        centre = np.zeros(2 + extra_dims)
        centre[:2] = radius * np.cos(t), radius * np.sin(t)
        X.append(centre + noise)
        y += [label] * n
    return np.vstack(X), np.array(y)


pytestmark = pytest.mark.usefixtures("emocirc_cache")


def test_polar_centroids_recover_known_angles_radii_and_order():
    X, y = clusters()
    polar = cx.polar_centroids(X, y, origin=[0.0, 0.0], n_boot=100, seed=1)
    for label, deg in ANGLES.items():
        assert polar.loc[label, "angle_deg"] == pytest.approx(deg, abs=1e-9)
        assert polar.loc[label, "radius"] == pytest.approx(5.0, abs=1e-9)
        assert polar.loc[label, "angle_low"] <= deg <= polar.loc[label, "angle_high"]
        assert polar.loc[label, "radius_low"] <= 5.0 <= polar.loc[label, "radius_high"]
    assert cx.angular_order(polar) == sorted(ANGLES, key=ANGLES.get)
    # Equal clusters round the circle do not all balance, so the grand mean shifts the
    # origin; the order of well-separated clusters must survive it.
    assert cx.angular_order(cx.polar_centroids(X, y)) == sorted(ANGLES, key=ANGLES.get)


def test_angle_interval_straddles_zero_degrees():
    X, y = clusters({"a": 359.0, "b": 120.0, "c": 240.0}, sd=2.0, n=40)
    p = cx.polar_centroids(X, y, origin=[0, 0], n_boot=200)
    assert p.loc["a", "angle_low"] < 359.0 < p.loc["a", "angle_high"]
    assert p.loc["a", "angle_high"] - p.loc["a", "angle_low"] < 30  # not the 360-degree wrap-around


def test_neutral_origin_gives_neutral_no_angle():
    X, y = clusters()
    p = cx.polar_centroids(X, y, origin="neutral")
    assert p.loc["neutral", "radius"] == pytest.approx(0.0, abs=1e-9)
    assert np.isnan(p.loc["neutral", "angle_deg"])
    assert p.index[-1] == "neutral"
    assert "neutral" not in cx.angular_order(p)
    with pytest.raises(EmocircError, match="neutral"):
        cx.polar_centroids(X[y != "neutral"], y[y != "neutral"], origin="neutral")


def test_pooled_mahalanobis_matches_the_analytic_value():
    # Shared covariance diag(1, 4); means differ by (2, 4): d^2 = 4/1 + 16/4 = 8.
    rng = np.random.default_rng(0)
    cov = np.diag([1.0, 4.0])
    a = rng.multivariate_normal([0, 0], cov, 4000)
    b = rng.multivariate_normal([2, 4], cov, 4000)
    X, y = np.vstack([a, b]), np.array(["a"] * 4000 + ["b"] * 4000)
    m = cx.mahalanobis_matrix(X, y)
    assert m.loc["a", "b"] == pytest.approx(np.sqrt(8), rel=0.03)
    assert m.loc["a", "b"] == m.loc["b", "a"]
    table = cx.mahalanobis_table(X[::10], y[::10], n_boot=200, seed=3)
    row = table.iloc[0]
    assert row.ci_low < np.sqrt(8) < row.ci_high
    assert row.ci_low < row.distance < row.ci_high


def test_mahalanobis_ranks_known_distances_and_is_seeded():
    X, y = clusters()
    t = cx.mahalanobis_table(X, y, n_boot=30, seed=5)
    d = {(r.a, r.b): r.distance for r in t.itertuples()}
    d.update({(b, a): v for (a, b), v in list(d.items())})
    # 30 degrees apart (anger-fear) is closer than 100 (sadness-anger), closer than 180-ish.
    assert d[("anger", "fear")] < d[("anger", "sadness")] < d[("happiness", "sadness")]
    assert len(t) == 15
    again = cx.mahalanobis_table(X, y, n_boot=30, seed=5)
    assert again.equals(t)
    other = cx.mahalanobis_table(X, y, n_boot=30, seed=6)
    assert not np.allclose(other["ci_low"], t["ci_low"])


def test_point_form_is_symmetric_and_grows_with_separation():
    X, y = clusters()
    m = cx.mahalanobis_matrix(X, y, form="point")
    assert np.allclose(m.values, m.values.T)
    # Within a class the mean distance of 2-D Gaussian points is about sqrt(pi/2).
    assert np.diag(m.values) == pytest.approx(np.full(6, np.sqrt(np.pi / 2)), rel=0.15)
    assert m.loc["anger", "fear"] < m.loc["anger", "sadness"]


def test_emotion_gaussians_recover_covariance_and_classify():
    rng = np.random.default_rng(1)
    cov = np.array([[2.0, 0.8], [0.8, 1.0]])
    X = np.vstack([rng.multivariate_normal([0, 0], cov, 3000), rng.multivariate_normal([6, 0], cov, 3000)])
    y = np.array(["anger"] * 3000 + ["sadness"] * 3000)
    g = cx.EmotionGaussians().fit(X, y)
    assert np.allclose(g.covariances_[0], cov, atol=0.15)
    assert np.mean(g.predict(X) == y) > 0.97
    d = g.mahalanobis(np.array([[0.0, 0.0]]))
    assert d[0, 0] == pytest.approx(0.0, abs=0.1)


def test_pca_transfer_and_explained_variance():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(200, 6)) * [10, 5, 1, 1, 1, 1]
    B = rng.normal(size=(50, 6)) * [10, 5, 1, 1, 1, 1] + 3
    pca = cx.EmbeddingPCA(n_components=3).fit(A)
    assert pca.explained_variance_ratio_[:2].sum() > 0.9
    assert np.all(np.diff(pca.cumulative_variance_) > 0)
    # Applying to another corpus uses the first corpus's centre and axes.
    expected = (B - A.mean(axis=0)) @ pca.pca_.components_.T
    assert np.allclose(pca.transform(B), expected)
    std = cx.EmbeddingPCA(n_components=3, standardize=True).fit(A)
    assert std.explained_variance_ratio_[0] < 0.5  # scale no longer dominates
    with pytest.raises(EmocircError, match="n_components"):
        cx.EmbeddingPCA(n_components=5).fit(A[:3])


@pytest.mark.parametrize("turn", [0.0, 37.0, -120.0, 179.0])
@pytest.mark.parametrize("mirror", [False, True])
def test_procrustes_recovers_rotation_reflection_and_scale(turn, mirror):
    targets = expected_positions(["anger", "happiness", "sadness", "boredom", "fear"], "nrc-vad")[
        ["valence", "arousal"]
    ]
    V = targets.to_numpy()
    # Build embeddings by undoing a known map: x = (v_centred @ R^-1) / s + shift.
    Rot = np.array(
        [
            [np.cos(np.radians(turn)), np.sin(np.radians(turn))],
            [-np.sin(np.radians(turn)), np.cos(np.radians(turn))],
        ]
    )
    R = (np.diag([1.0, -1.0]) if mirror else np.eye(2)) @ Rot
    centres = ((V - V.mean(axis=0)) @ R.T) / 2.5 + [7.0, -3.0]
    rng = np.random.default_rng(0)
    X = np.vstack([c + rng.normal(0, 0.05, (40, 2)) - 0 for c in centres])
    y = np.repeat(targets.index.to_numpy(), 40)
    m = cx.CircumplexMapping(reference="nrc-vad").fit(X, y)
    assert m.reflection_ is mirror
    assert ((m.rotation_deg_ - turn + 180) % 360) - 180 == pytest.approx(0.0, abs=1.0)
    assert m.scale_ == pytest.approx(2.5, rel=0.02)
    assert m.disparity_ < 0.01
    proj = m.transform(X)
    for label in targets.index:
        assert proj[y == label].mean(axis=0) == pytest.approx(targets.loc[label].to_numpy(), abs=0.03)


def test_procrustes_without_reflection_cannot_fit_a_mirror_image():
    targets = {
        "anger": (-0.5, 0.8),
        "happiness": (0.9, 0.4),
        "sadness": (-0.9, -0.4),
        "boredom": (-0.5, -0.7),
    }
    X = np.vstack([np.array([v, -a]) + np.zeros((5, 2)) for v, a in targets.values()])
    y = np.repeat(list(targets), 5)
    free = cx.CircumplexMapping(reference=targets).fit(X, y)
    rigid = cx.CircumplexMapping(reference=targets, reflection=False).fit(X, y)
    assert free.reflection_ and free.disparity_ < 1e-10
    assert not rigid.reflection_ and rigid.disparity_ > 0.1
    assert np.linalg.det(rigid.rotation_) > 0


def test_procrustes_needs_three_reference_labels():
    X, y = clusters({"neutral": 0, "disgust": 90, "anger": 180})
    with pytest.raises(EmocircError, match="at least 3 labels"):
        cx.CircumplexMapping(reference="russell").fit(X, y)


def test_order_agreement_invariant_to_rotation_and_reflection():
    expected = {k: v for k, v in ANGLES.items() if k != "neutral"}
    for turn in (0, 90, 233):
        for sign in (1, -1):
            observed = {k: (sign * v + turn) % 360 for k, v in expected.items()}
            r = cx.circular_order_agreement(observed, expected)
            assert r.statistic == 1.0
            assert r.reflected is (sign == -1)
    # 5 labels: only the 5 rotations x 2 directions of the order score 1 of 120 permutations.
    r = cx.circular_order_agreement(expected, expected)
    assert r.exact and r.n_permutations == 120
    assert r.p_value == pytest.approx(10 / 120)


def test_order_agreement_statistic_drops_for_a_scrambled_order():
    expected = {k: 360 * i / 9 for i, k in enumerate("abcdefghi")}
    scrambled = dict(zip(expected, [expected[k] for k in "aebicgdhf"], strict=True))
    r = cx.circular_order_agreement(scrambled, expected, n_permutations=2000, seed=0)
    assert 0.5 <= r.statistic < 0.8
    assert r.p_value > 0.05
    assert not r.exact and r.n_permutations == 2000
    perfect = cx.circular_order_agreement(expected, expected, n_permutations=2000, seed=0)
    assert perfect.p_value < 0.01
    # The statistic counts triples: flipping two neighbours changes only the triples holding both.
    swapped = dict(expected, a=expected["b"], b=expected["a"])
    n_triples = len(list(itertools.combinations(range(9), 3)))
    assert cx.circular_order_agreement(swapped, expected).statistic == pytest.approx(1 - 7 / n_triples)


def test_order_agreement_leaves_out_labels_without_angles():
    r = cx.circular_order_agreement(
        {"a": 0, "b": 100, "c": 200, "n": np.nan}, {"a": 0, "b": 90, "c": 180, "n": 5}
    )
    assert r.labels == ["a", "b", "c"]
    with pytest.raises(EmocircError, match="at least 3"):
        cx.circular_order_agreement({"a": 0, "b": 1}, {"a": 0, "b": 1})


def test_concordance_correlation_properties():
    rng = np.random.default_rng(0)
    t = rng.normal(size=500)
    t -= t.mean()
    assert cx.concordance_correlation(t, t) == pytest.approx(1.0)
    assert cx.concordance_correlation(t, -t) == pytest.approx(-1.0)
    # Pearson 1, but shifted and scaled: CCC < 1 by the known formula.
    p = 2 * t + 1
    expected = 2 * 2 * t.var() / (t.var() + 4 * t.var() + 1)
    assert cx.concordance_correlation(t, p) == pytest.approx(expected)
    assert cx.concordance_correlation([1, np.nan, 3], [1, 5, 3]) == pytest.approx(1.0)


def test_speaker_independent_scores_ridge_and_procrustes():
    # Embeddings carry valence/arousal linearly; the labelled clusters sit at Russell's angles.
    rng = np.random.default_rng(0)
    labels = ["anger", "happiness", "sadness", "neutral"]
    pos = expected_positions(labels, "russell")[["valence", "arousal"]].to_numpy()
    n = 40
    y = np.repeat(labels, n)
    va_unit = np.repeat(pos, n, axis=0) + rng.normal(0, 0.15, (len(y), 2))
    mix = rng.normal(size=(2, 12))
    X = va_unit @ mix * 4 + rng.normal(0, 0.05, (len(y), 12))
    ratings = to_rating(va_unit)
    speakers = np.tile([f"s{i}" for i in range(5)], len(y) // 5)
    ridge = cx.speaker_independent_ccc(X, y, ratings[:, 0], ratings[:, 1], speakers, method="ridge")
    assert ridge["folds"] == 5 and ridge["valence"] > 0.9 and ridge["arousal"] > 0.9
    auto = cx.speaker_independent_ccc(X, y, ratings[:, 0], ratings[:, 1], speakers, method="procrustes")
    assert auto["valence"] > 0.8 and auto["arousal"] > 0.8
    assert np.isfinite(auto["predictions"]).all()
    with pytest.raises(EmocircError, match="speakers"):
        cx.speaker_independent_ccc(X, y, ratings[:, 0], ratings[:, 1], np.full(len(y), "s"), method="ridge")


def test_analyze_recovers_geometry_and_validates_input():
    X, y = clusters(extra_dims=3, n=40)
    emb = np.stack([X * 0.1, X], axis=1)  # two layers; the last carries the geometry
    feats = {"embeddings": emb, "labels": y, "layers": np.array([0, 4])}
    res = cx.analyze(feats, dims=3, n_boot=20, seed=0)
    assert res.layer == 4 and res.coords.shape == (len(y), 3)
    # PCA may flip or swap axes: the order agrees up to rotation and reflection.
    assert res.order_agreement.statistic == 1.0
    assert res.mapping.disparity_ < 0.2
    d = res.to_dict()
    assert set(d) >= {
        "explained_variance_ratio",
        "centroids",
        "mahalanobis",
        "polar",
        "order",
        "order_agreement",
        "procrustes",
    }
    assert set(d["mahalanobis"][0]) == {"a", "b", "distance", "ci_low", "ci_high"}
    assert sum(d["explained_variance_ratio"][:2]) > 0.9
    res0 = cx.analyze(feats, layer=0, n_boot=0)
    assert res0.layer == 0
    # Plain 2-D embeddings are accepted.
    assert cx.analyze({"embeddings": X, "labels": y}, n_boot=0).layer is None
    with pytest.raises(EmocircError, match="layer 7"):
        cx.analyze(feats, layer=7)
    with pytest.raises(EmocircError, match="'labels'"):
        cx.analyze({"embeddings": X})
    with pytest.raises(EmocircError, match="at least 2 emotions"):
        cx.analyze({"embeddings": X, "labels": np.full(len(X), "anger")})
    with pytest.raises(EmocircError, match="expected more than dims"):
        cx.analyze({"embeddings": X[:3], "labels": np.array(["anger", "anger", "sadness"])}, dims=3)


def speaker_clusters(angles=ANGLES, radius=5.0, n_speakers=8, per=8, speaker_sd=1.0, sd=0.5, seed=0, dims=4):
    """Clusters at known angles; each speaker's utterances of an emotion share that speaker's habit."""
    rng = np.random.default_rng(seed)
    X, y, s = [], [], []
    for label, deg in angles.items():
        t = np.radians(deg)
        centre = np.zeros(dims)
        centre[:2] = radius * np.cos(t), radius * np.sin(t)
        for sp in range(n_speakers):
            habit = rng.normal(0, speaker_sd, dims)  # how this speaker renders this emotion
            X.append(centre + habit + rng.normal(0, sd, (per, dims)))
            y += [label] * per
            s += [f"s{sp}"] * per
    return np.vstack(X), np.array(y), np.array(s)


def test_analyze_intervals_widen_when_speakers_are_known():
    X, y, s = speaker_clusters()
    with_speakers = cx.analyze({"embeddings": X, "labels": y, "speakers": s}, n_boot=100, seed=0)
    without = cx.analyze({"embeddings": X, "labels": y}, n_boot=100, seed=0)
    assert "speaker" in with_speakers.bootstrap.describe() and with_speakers.bootstrap.n_speakers == 8
    assert any("no speaker ids" in n for n in without.notes)
    width = lambda r: (r.polar["radius_high"] - r.polar["radius_low"]).mean()  # noqa: E731
    assert width(with_speakers) > 1.5 * width(without)
    # The circle is clear and both axes carry variance: the order is identifiable.
    assert with_speakers.order_check.identifiable, with_speakers.order_check.reasons
    d = with_speakers.to_dict()
    assert d["order_check"]["identifiable"] and d["plane"] == "principal components 1 and 2"
    assert len(d["variance_share"]) == 2
    farther = with_speakers.distance_contrast(("happiness", "sadness"), ("anger", "fear"))
    assert farther["verdict"] == "holds" and farther["difference"] > 0
    reverse = with_speakers.distance_contrast(("anger", "fear"), ("happiness", "sadness"))
    assert reverse["verdict"] == "does not hold"
    assert with_speakers.nearest_claim("anger", "fear")["verdict"] == "holds"
    assert with_speakers.nearest_claim("anger", "sadness")["verdict"] == "does not hold"
    with pytest.raises(EmocircError, match="pair"):
        with_speakers.distance_contrast(("anger", "anger"), ("anger", "fear"))
    with pytest.raises(EmocircError, match="n_boot"):
        without_boot = cx.analyze({"embeddings": X, "labels": y, "speakers": s}, n_boot=0)
        without_boot.distance_contrast(("anger", "fear"), ("happiness", "sadness"))


def test_flat_plane_declares_the_order_not_identifiable():
    # Centres spread along PC1 only; the second axis is noise of 1/20 the size.
    angles = {"happiness": 0.0, "anger": 178.0, "sadness": 182.0, "boredom": 3.0}
    X, y, s = speaker_clusters(angles, radius=5.0, sd=0.2, speaker_sd=0.05)
    X[:, 1:] *= 0.05
    res = cx.analyze({"embeddings": X, "labels": y, "speakers": s}, n_boot=60, seed=0)
    check = res.order_check
    assert not check.identifiable
    assert check.second_share < cx.MIN_SECOND_SHARE
    assert "not identifiable" in check.sentence() and "second axis" in check.sentence()


def test_close_neighbours_are_not_resolved():
    angles = {"a": 0.0, "b": 2.0, "c": 120.0, "d": 240.0}
    X, y, s = speaker_clusters(angles, sd=1.0, speaker_sd=0.5)
    res = cx.analyze({"embeddings": X, "labels": y, "speakers": s}, n_boot=100, seed=1)
    gaps = res.order_check.gaps.set_index(["from", "to"])
    pair = ("a", "b") if ("a", "b") in gaps.index else ("b", "a")
    assert gaps.loc[pair, "resolved"] == "not resolved"
    assert not res.order_check.identifiable and "neighbours" in res.order_check.sentence()
    far = [r for r in res.order_check.gaps.itertuples() if {r[1], r[2]} == {"c", "d"}]
    assert far and far[0].resolved == "holds"


def test_emotion_plane_chosen_components_and_lda():
    rng = np.random.default_rng(0)
    # The emotions differ along dimension 2 (third PC); dimension 0 is large label-free noise.
    n = 40
    centres = {"anger": (0, 0, 4), "sadness": (0, 0, -4), "neutral": (0, 3, 0)}
    X = np.vstack([np.array(c) + rng.normal(0, 1, (n, 3)) * [8, 1, 1] for c in centres.values()])
    y = np.repeat(list(centres), n)
    pc13 = cx.EmotionPlane(components=(0, 2)).fit(X)
    assert pc13.variance_share_[0] > 0.5 and pc13.describe() == "principal components 1 and 3"
    lda = cx.EmotionPlane(kind="lda").fit(X, y)
    # The discriminant plane ignores the noisy dimension 0 and spans dimensions 1-2.
    assert np.all(np.abs(lda.axes_[0]) < 0.2)
    res = cx.analyze({"embeddings": X, "labels": y}, plane="lda", n_boot=0)
    assert res.plane.kind == "lda" and res.plane_coords.shape == (3 * n, 2)
    with pytest.raises(EmocircError, match="plane"):
        cx.analyze({"embeddings": X, "labels": y}, plane="ica")
    with pytest.raises(EmocircError, match="labels"):
        cx.EmotionPlane(kind="lda").fit(X)
    with pytest.raises(EmocircError, match="components"):
        cx.EmotionPlane(components=(1, 1)).fit(X)


def test_matched_reference_scores_the_map_against_its_own_positions():
    from emocirc.russell import expected_positions

    labels = ["anger", "happiness", "sadness", "fear", "boredom"]
    rng = np.random.default_rng(0)
    for reference in ("russell", "nrc-vad"):
        pos = expected_positions(labels, reference)
        # Embeddings: the reference positions turned 70 degrees and stretched, plus noise.
        t = np.radians(70)
        R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
        y = np.repeat(labels, 24)
        X = 4 * pos.loc[y, ["valence", "arousal"]].to_numpy() @ R + rng.normal(0, 0.2, (len(y), 2))
        X = np.column_stack([X, rng.normal(0, 0.05, (len(y), 2))])
        speakers = np.tile(np.arange(6), len(y) // 6)
        nan = np.full(len(y), np.nan)
        res = cx.speaker_independent_ccc(X, y, nan, nan, speakers, reference=reference, target="reference")
        assert res["target"] == "reference" and res["valence"] > 0.9 and res["arousal"] > 0.9
        assert np.allclose(res["truth"], cx.reference_targets(y, reference))
    with pytest.raises(EmocircError, match="target"):
        cx.speaker_independent_ccc(X, y, nan, nan, speakers, target="lexicon")


def test_neutral_at_the_centre_does_not_block_the_order():
    angles = {"happiness": 10.0, "anger": 100.0, "sadness": 200.0, "boredom": 280.0}
    X, y, s = speaker_clusters(angles, speaker_sd=0.3)
    rng = np.random.default_rng(5)
    neutral = rng.normal(0, 0.5, (64, X.shape[1]))  # at the centre: its angle is anyone's guess
    X = np.vstack([X, neutral])
    y = np.concatenate([y, np.full(64, "neutral")])
    s = np.concatenate([s, np.tile([f"s{i}" for i in range(8)], 8)])
    res = cx.analyze({"embeddings": X, "labels": y, "speakers": s}, n_boot=100, seed=0)
    assert "neutral" not in set(res.order_check.gaps["from"]) | set(res.order_check.gaps["to"])
    assert res.order_check.identifiable, res.order_check.reasons
