"""Tests of emocirc.diary and the ``emocirc diary`` command: windows, densities, summaries, the map."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emocirc import diary as D
from emocirc.cli import main
from emocirc.errors import EmocircError
from tests.features_files import write_features_file

SR = D.SAMPLE_RATE


pytestmark = pytest.mark.usefixtures("emocirc_cache")


@pytest.fixture(scope="module")
def backbone():
    from emocirc.backbones import load_backbone

    return load_backbone("tiny")


@pytest.fixture(scope="module")
def tone_diary(tmp_path_factory):
    """Four days sliding from all-happiness to all-sadness, tone voice."""
    root = tmp_path_factory.mktemp("diary") / "d"
    return D.make_diary(
        root,
        days=4,
        recordings_per_day=2,
        recording_s=12,
        seed=3,
        start_mix={"happiness": 0.5, "anger": 0.5},
        end_mix={"sadness": 0.5, "boredom": 0.5},
        synthesizer=D.tone_synthesizer,
    )


@pytest.fixture(scope="module")
def tone_corpus(tmp_path_factory):
    """A labelled corpus of tone utterances to fit the mapping on."""
    folder = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(7)
    rows = []
    for i, label in enumerate(np.repeat(["anger", "happiness", "sadness", "neutral", "boredom"], 8)):
        path = folder / f"u{i:02d}.wav"
        sf.write(path, D.tone_synthesizer(str(label), rng), SR)
        rows.append({"path": str(path), "label": str(label)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- making and reading diaries


def test_day_mix_slides_linearly_and_sums_to_one():
    mixes = [D.day_mix(d, 5, D.HEALTHY_MIX, D.DIMINISHED_MIX) for d in range(5)]
    assert mixes[0]["happiness"] == pytest.approx(D.HEALTHY_MIX["happiness"])
    assert mixes[-1]["sadness"] == pytest.approx(D.DIMINISHED_MIX["sadness"])
    sad = [m["sadness"] for m in mixes]
    assert np.all(np.diff(sad) > 0)
    assert sad[2] == pytest.approx((D.HEALTHY_MIX["sadness"] + D.DIMINISHED_MIX["sadness"]) / 2)
    assert all(sum(m.values()) == pytest.approx(1.0) for m in mixes)


def test_default_mixes_drift_towards_low_valence_low_arousal():
    def centre(mix):
        return np.array([p * np.array(D.EMOTION_POSITIONS[lab]) for lab, p in mix.items()]).sum(axis=0)

    start, end = centre(D.HEALTHY_MIX), centre(D.DIMINISHED_MIX)
    assert end[0] < start[0] - 0.3 and end[1] < start[1] - 0.2


def test_make_diary_layout_and_segments(tone_diary):
    manifest = pd.read_csv(tone_diary / "manifest.csv", dtype=str)
    assert len(manifest) == 8
    assert sorted(manifest["day"].unique()) == ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07"]
    for rel in manifest["path"]:
        data, sr = sf.read(tone_diary / rel)
        assert sr == SR and len(data) == 12 * SR
    seg = pd.read_csv(tone_diary / "segments.csv")
    assert (seg["start"] >= 0).all() and (seg["end"] <= 12).all()
    for _, group in seg.groupby("path"):
        g = group.sort_values("start")
        assert (g["start"].to_numpy()[1:] >= g["end"].to_numpy()[:-1]).all(), "utterances overlap"
    first = seg[seg["day"] == "2024-03-04"]["label"]
    last = seg[seg["day"] == "2024-03-07"]["label"]
    assert set(first) <= {"happiness", "anger"} and set(last) <= {"sadness", "boredom"}
    by_day = seg.groupby("day")[["valence", "arousal"]].mean()
    assert (by_day.iloc[:2].mean() > by_day.iloc[2:].mean() + 0.4).all()


def test_make_diary_is_reproducible_and_seed_dependent(tmp_path):
    kw = {"days": 2, "recordings_per_day": 1, "recording_s": 5, "synthesizer": D.tone_synthesizer}
    a = D.make_diary(tmp_path / "a", seed=1, **kw)
    b = D.make_diary(tmp_path / "b", seed=1, **kw)
    c = D.make_diary(tmp_path / "c", seed=2, **kw)
    wav = "2024-03-04/0900.wav"
    assert (a / wav).read_bytes() == (b / wav).read_bytes()
    assert (a / wav).read_bytes() != (c / wav).read_bytes()
    assert (a / "segments.csv").read_text() == (b / "segments.csv").read_text()


def test_make_diary_refuses_existing_and_leaves_nothing_half_written(tmp_path):
    kw = {"days": 1, "recordings_per_day": 1, "recording_s": 3, "synthesizer": D.tone_synthesizer}
    D.make_diary(tmp_path / "d", **kw)
    with pytest.raises(EmocircError, match="already exists"):
        D.make_diary(tmp_path / "d", **kw)

    calls = []

    def failing(label, rng):
        calls.append(label)
        if len(calls) > 3:
            raise RuntimeError("synthesiser crashed")
        return D.tone_synthesizer(label, rng)

    with pytest.raises(RuntimeError):
        D.make_diary(tmp_path / "broken", days=3, recordings_per_day=1, recording_s=10, synthesizer=failing)
    assert not (tmp_path / "broken").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "d"] == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0}, "days >= 1"),
        ({"recording_s": 0.5}, "recording_s=0.5"),
        ({"start_date": "03/04/2024"}, "'03/04/2024' is not a date"),
        ({"start_mix": {"joy": 1.0}}, "'joy' has no circumplex position"),
    ],
)
def test_make_diary_bad_input(tmp_path, kwargs, message):
    with pytest.raises(EmocircError, match=message):
        D.make_diary(tmp_path / "x", synthesizer=D.tone_synthesizer, **kwargs)
    assert not (tmp_path / "x").exists()


def _wav(path):
    """Two seconds of a 220 Hz tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(2 * SR) / SR
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32), SR)
    return path


def test_load_diary_from_day_folders(tmp_path):
    _wav(tmp_path / "2024-05-02" / "b.wav")
    _wav(tmp_path / "2024-05-01" / "z.wav")
    _wav(tmp_path / "2024-05-01" / "a.wav")
    _wav(tmp_path / "notes" / "x.wav")  # not a day: ignored
    diary = D.load_diary(tmp_path)
    assert diary["day"].tolist() == ["2024-05-01", "2024-05-01", "2024-05-02"]
    assert [p.rsplit("/", 1)[-1] for p in diary["path"]] == ["a.wav", "z.wav", "b.wav"]
    assert diary["recording"].tolist() == ["2024-05-01/a", "2024-05-01/z", "2024-05-02/b"]
    assert diary.attrs["segments"] is None and diary.attrs["ignored"] == ["notes"]


def test_load_diary_reads_times_from_file_names_and_allows_gaps(tmp_path):
    _wav(tmp_path / "2024-05-01" / "1830_evening.wav")
    _wav(tmp_path / "2024-05-01" / "0715.wav")
    _wav(tmp_path / "2024-05-01" / "walk.wav")  # no time in the name: unknown, sorted first
    _wav(tmp_path / "2024-05-04" / "1200.WAV")  # two days missing in between
    diary = D.load_diary(tmp_path)
    assert diary[["day", "time"]].values.tolist() == [
        ["2024-05-01", ""],
        ["2024-05-01", "07:15"],
        ["2024-05-01", "18:30"],
        ["2024-05-04", "12:00"],
    ]
    assert D.time_from_name("2359x.wav") == "23:59"
    with pytest.raises(EmocircError, match="'25:61' is not a time of day"):
        D.time_from_name("2561.wav")


@pytest.mark.parametrize("folder", ["2024-13-01", "04-03-2024", "2024-3-4x"])
def test_load_diary_refuses_folders_that_look_like_bad_dates(tmp_path, folder):
    _wav(tmp_path / "2024-05-01" / "0900.wav")
    _wav(tmp_path / folder / "0900.wav")
    with pytest.raises(EmocircError, match=f"'{folder}' is not a date; expected YYYY-MM-DD"):
        D.load_diary(tmp_path)


def test_load_diary_csv_with_time_and_speaker(tmp_path):
    for name in ("a", "b", "c"):
        _wav(tmp_path / f"{name}.wav")
    csv = tmp_path / "d.csv"
    csv.write_text(
        "path,day,time,speaker\nc.wav,2024-01-01,18:00,P2\nb.wav,2024-01-01,9:05,P1\na.wav,2024-01-01,,P1\n"
    )
    diary = D.load_diary(csv)
    assert diary[["speaker", "time"]].values.tolist() == [["P1", ""], ["P1", "09:05"], ["P2", "18:00"]]
    assert diary["recording"].tolist() == ["P1/2024-01-01/a", "P1/2024-01-01/b", "P2/2024-01-01/c"]
    csv.write_text("path,day,time\na.wav,2024-01-01,noon\n")
    with pytest.raises(EmocircError, match="'noon' is not a time of day"):
        D.load_diary(csv)
    csv.write_text("path,day\n")
    with pytest.raises(EmocircError, match="no recordings listed"):
        D.load_diary(csv)


def test_make_diary_step_change_and_stable_person(tmp_path):
    kw = {"days": 4, "recordings_per_day": 4, "recording_s": 8, "synthesizer": D.tone_synthesizer}
    step = D.make_diary(
        tmp_path / "s",
        start_mix={"happiness": 1.0},
        end_mix={"sadness": 1.0},
        change_day=2,
        speaker="P",
        **kw,
    )
    seg = pd.read_csv(step / "segments.csv")
    labels = seg.groupby("day")["label"].agg(set).tolist()
    assert labels == [{"happiness"}, {"happiness"}, {"sadness"}, {"sadness"}]
    manifest = pd.read_csv(step / "manifest.csv", dtype=str)
    assert manifest["time"].unique().tolist() == ["09:00", "12:00", "15:00", "18:00"]
    assert set(manifest["speaker"]) == {"P"}
    assert json.loads((step / D.SYNTHETIC_MARKER).read_text())["change_day"] == 2
    with pytest.raises(EmocircError, match="change_day=4"):
        D.make_diary(tmp_path / "x", change_day=4, **kw)


def test_diary_voices_are_distinct_and_not_the_training_corpora_voices():
    from emocirc import synth

    voices = D.diary_voices(6)
    assert len({v for v, _ in voices}) == 6 and {g for _, g in voices} == {"F", "M"}
    variant = lambda v: v.split("+", 1)[1]  # noqa: E731
    taken = {variant(v) for v in synth.EMODB_VOICES.values()}
    taken |= {variant(v) for pair in synth.IEMOCAP_VOICES.values() for v in pair}
    assert not taken & {variant(v) for v, _ in voices}
    assert D.DIARY_VOICE == voices[0][0]
    with pytest.raises(EmocircError, match="diary_voices"):
        D.diary_voices(0)


def test_load_diary_from_csv_with_relative_paths(tmp_path):
    _wav(tmp_path / "clips" / "one.wav")
    _wav(tmp_path / "clips" / "two.wav")
    csv = tmp_path / "my_diary.csv"
    csv.write_text("path,day\nclips/two.wav,2024-01-02\nclips/one.wav,2024-01-01\n")
    diary = D.load_diary(csv)
    assert diary["day"].tolist() == ["2024-01-01", "2024-01-02"]
    assert diary["path"].tolist() == [
        str(tmp_path / "clips" / "one.wav"),
        str(tmp_path / "clips" / "two.wav"),
    ]


def test_load_diary_errors_name_the_problem(tmp_path):
    with pytest.raises(EmocircError, match="does not exist"):
        D.load_diary(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmocircError, match="YYYY-MM-DD"):
        D.load_diary(tmp_path / "empty")
    bad_day = tmp_path / "bad.csv"
    bad_day.write_text("path,day\na.wav,yesterday\n")
    with pytest.raises(EmocircError, match=r"bad\.csv.*'yesterday' is not a date"):
        D.load_diary(bad_day)
    no_day = tmp_path / "noday.csv"
    no_day.write_text("path\na.wav\n")
    with pytest.raises(EmocircError, match="missing column.*day"):
        D.load_diary(no_day)
    missing = tmp_path / "missing.csv"
    missing.write_text("path,day\ngone.wav,2024-01-01\n")
    with pytest.raises(EmocircError, match="gone.wav does not exist"):
        D.load_diary(missing)


# --------------------------------------------------------------------------- windows


def test_active_windows_drop_silence_keep_speech():
    x = np.zeros(6 * SR, dtype=np.float32)
    x[2 * SR : 4 * SR] = 0.2 * np.sin(2 * np.pi * 180 * np.arange(2 * SR) / SR)
    x += np.random.default_rng(1).normal(0, 1e-4, len(x)).astype(np.float32)
    keep = D.active_windows(x, [(i * SR, (i + 1) * SR) for i in range(6)])
    assert keep.tolist() == [False, False, True, True, False, False]


def test_embed_windows_matches_each_window_alone(tone_diary, backbone):
    from emocirc.audio import load_audio
    from emocirc.fast_forward import forward_hidden_states

    diary = D.load_diary(tone_diary).iloc[:1]
    windows, emb = D.embed_windows(diary, backbone, window_s=3.0, hop_s=1.5, layers=[0, 2], vad="energy")
    assert emb.shape == (len(windows), 2, backbone.hidden_size) and emb.dtype == np.float32
    assert len(windows) >= 4
    assert (windows["end"] - windows["start"]).round(6).eq(3.0).all()
    assert windows["end"].max() <= 12.0 and windows["start"].is_monotonic_increasing
    signal = load_audio(diary["path"].iloc[0])
    start = int(round(windows["start"].iloc[1] * SR))
    alone = forward_hidden_states(backbone, [signal[start : start + 3 * SR]], [0, 2])[0]
    np.testing.assert_allclose(emb[1], alone, rtol=1e-4, atol=1e-5)
    # A recording of silence and one burst keeps only the windows around the burst.
    x = np.random.default_rng(0).normal(0, 1e-4, 10 * SR).astype(np.float32)
    x[4 * SR : 6 * SR] += 0.2 * np.sin(2 * np.pi * 200 * np.arange(2 * SR) / SR).astype(np.float32)
    path = tone_diary.parent / "burst.wav"
    sf.write(path, x, SR)
    one = pd.DataFrame({"recording": ["b"], "path": [str(path)], "day": ["2024-01-01"], "time": [""]})
    burst, _ = D.embed_windows(one, backbone, window_s=2.0, hop_s=1.0, layers=[1], vad="energy")
    assert burst["start"].tolist() == [3.0, 4.0, 5.0]
    assert burst["speech"].tolist() == pytest.approx([0.5, 1.0, 0.5], abs=0.02)
    assert burst.attrs["vad"] == "energy"
    with pytest.raises(EmocircError, match=r"layers \[9\]"):
        D.embed_windows(diary, backbone, layers=[9])


def test_true_positions_weight_by_overlap():
    windows = pd.DataFrame({"path": ["/x/a.wav", "/x/a.wav"], "start": [0.0, 10.0], "end": [2.0, 12.0]})
    segments = pd.DataFrame(
        {
            "path": ["/x/a.wav"] * 2,
            "start": [0.0, 1.5],
            "end": [1.5, 2.0],
            "valence": [0.8, -0.4],
            "arousal": [0.0, 0.4],
        }
    )
    truth = D.true_positions(windows, segments)
    assert truth.iloc[0].tolist() == pytest.approx([(1.5 * 0.8 - 0.5 * 0.4) / 2.0, 0.5 * 0.4 / 2.0])
    assert truth.iloc[1].isna().all()


# --------------------------------------------------------------------------- density and summaries


@pytest.mark.parametrize(("v", "a"), [(0.6, 0.6), (-0.6, 0.6), (-0.6, -0.6), (0.6, -0.6)])
def test_density_peaks_in_the_quadrant_of_the_points(v, a):
    rng = np.random.default_rng(0)
    vs, as_ = v + rng.normal(0, 0.1, 60), a + rng.normal(0, 0.1, 60)
    for method in ("kde", "hist"):
        grid, dens = D.circumplex_density(vs, as_, grid_size=40, method=method)
        i, j = np.unravel_index(dens.argmax(), dens.shape)
        assert abs(grid[j] - v) < 0.25 and abs(grid[i] - a) < 0.25, method
        assert dens.sum() * (2 / 40) ** 2 == pytest.approx(1.0)
        quadrant = dens[(grid * np.sign(a) > 0)][:, grid * np.sign(v) > 0]
        assert quadrant.sum() / dens.sum() > 0.9


def test_density_bandwidth_smooths_and_errors():
    grid, narrow = D.circumplex_density([0.0], [0.0], grid_size=41, bandwidth=0.05)
    _, wide = D.circumplex_density([0.0], [0.0], grid_size=41, bandwidth=0.4)
    assert narrow.max() > 5 * wide.max()
    _, empty = D.circumplex_density([np.nan], [0.1])
    assert not empty.any()
    with pytest.raises(EmocircError, match="bandwidth=0"):
        D.circumplex_density([0.0], [0.0], bandwidth=0)
    with pytest.raises(EmocircError, match="'gmm'"):
        D.circumplex_density([0.0], [0.0], method="gmm")
    with pytest.raises(EmocircError, match="differ in length"):
        D.circumplex_density([0.0, 1.0], [0.0])


def _drifting_windows(n_days=5, per_day=40, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for d in range(n_days):
        centre_v = 0.5 - 0.25 * d  # valence slides from 0.5 to -0.5
        for _ in range(per_day):
            rows.append(
                {
                    "day": f"2024-03-{4 + d:02d}",
                    "valence": centre_v + rng.normal(0, 0.05),
                    "arousal": -0.1 * d + rng.normal(0, 0.05),
                }
            )
    return pd.DataFrame(rows)


def test_day_summary_follows_a_constructed_drift():
    summary = D.day_summary(_drifting_windows())
    assert summary["day"].tolist() == [f"2024-03-{4 + d:02d}" for d in range(5)]
    assert summary["n_windows"].tolist() == [40] * 5
    np.testing.assert_allclose(summary["valence_mean"], [0.5, 0.25, 0.0, -0.25, -0.5], atol=0.03)
    np.testing.assert_allclose(summary["arousal_mean"], [0.0, -0.1, -0.2, -0.3, -0.4], atol=0.03)
    np.testing.assert_allclose(summary["spread"], 0.05 * np.sqrt(2), rtol=0.25)
    assert summary["low_low"].iloc[-1] == 1.0 and summary["low_low"].iloc[0] < 0.5


def test_day_summary_intensity_and_spread_known_answers():
    w = pd.DataFrame(
        {"day": ["a"] * 4 + ["b"] * 2, "valence": [1, -1, 0, 0, 0.3, 0.3], "arousal": [0, 0, 1, -1, 0.4, 0.4]}
    )
    s = D.day_summary(w).set_index("day")
    assert s.loc["a", "intensity"] == pytest.approx(1.0) and s.loc["a", "spread"] == pytest.approx(1.0)
    assert s.loc["b", "intensity"] == pytest.approx(0.5) and s.loc["b", "spread"] == pytest.approx(0.0)
    with pytest.raises(EmocircError, match="missing column.*arousal"):
        D.day_summary(w.drop(columns="arousal"))


def test_day_densities_move_with_the_drift():
    days, grid, dens = D.day_densities(_drifting_windows(), grid_size=41)
    assert len(days) == 5 and dens.shape == (5, 41, 41)
    peak_v = [grid[np.unravel_index(d.argmax(), d.shape)[1]] for d in dens]
    assert np.all(np.diff(peak_v) < 0)


def test_diary_map_save_load_roundtrip(tmp_path):
    w = _drifting_windows(3, 10).assign(true_valence=0.1, true_arousal=-0.2)
    m = D.DiaryMap.from_windows(w, grid_size=16, params={"window_s": 3.0})
    out = m.save(tmp_path / "map")
    back = D.DiaryMap.load(out)
    assert back.days == m.days and back.params["window_s"] == 3.0 and back.params["grid_size"] == 16
    np.testing.assert_allclose(back.density, m.density)
    pd.testing.assert_frame_equal(back.summary, m.summary, check_dtype=False)
    assert back.truth_summary()["valence_mean"].tolist() == pytest.approx([0.1] * 3)
    with pytest.raises(EmocircError, match="not a diary map"):
        D.DiaryMap.load(tmp_path)


def test_drift_report_against_truth():
    w = _drifting_windows(6, 20)
    # The estimate is the truth shifted by +0.2 and shrunk: correlated, same sign of change.
    w["true_valence"], w["true_arousal"] = w["valence"], w["arousal"]
    w["valence"], w["arousal"] = 0.2 + 0.5 * w["valence"], 0.2 + 0.5 * w["arousal"]
    r = D.drift_report(D.DiaryMap.from_windows(w, grid_size=10), edge_days=2)
    assert r.loc["valence", "true_change"] == pytest.approx(-1.0, abs=0.03)
    assert r.loc["valence", "change"] == pytest.approx(0.5 * r.loc["valence", "true_change"])
    assert r.loc["arousal", "day_correlation"] == pytest.approx(1.0)
    assert 0 < r.loc["valence", "window_ccc"] < 0.9
    bare = D.drift_report(D.DiaryMap.from_windows(_drifting_windows(4, 5), grid_size=10))
    assert "true_change" not in bare.columns
    with pytest.raises(EmocircError, match="edge_days=0"):
        D.drift_report(D.DiaryMap.from_windows(w, grid_size=10), edge_days=0)


# --------------------------------------------------------------------------- mapping


def test_corpus_targets_rescales_ratings_and_uses_positions():
    t = D.corpus_targets(["sadness", "anger"], np.array([3.0, np.nan]), np.array([2.0, np.nan]))
    assert t.tolist() == [[0.0, -0.5], list(D.EMOTION_POSITIONS["anger"])]


@pytest.mark.parametrize("method", ["ridge", "procrustes"])
def test_fit_va_mapping_recovers_constructed_positions(method):
    rng = np.random.default_rng(0)
    labels = np.repeat(["anger", "happiness", "sadness", "boredom", "neutral"], 40)
    pos = np.array([D.EMOTION_POSITIONS[lab] for lab in labels])
    mixing = rng.normal(size=(2, 12))
    X = pos @ mixing + rng.normal(0, 0.05, (len(labels), 12))
    m = D.fit_va_mapping(X, labels, method=method)
    va = D._apply_mapping(m, X)
    for lab in ("anger", "happiness", "sadness"):
        centre = va[labels == lab].mean(axis=0)
        # Procrustes is a similarity map after a standardised PCA, so only close.
        assert np.linalg.norm(centre - D.EMOTION_POSITIONS[lab]) < 0.3, (method, lab, centre)


def test_fit_va_mapping_bad_input():
    with pytest.raises(EmocircError, match="'svm'"):
        D.fit_va_mapping(np.zeros((5, 3)), ["anger"] * 5, method="svm")
    with pytest.raises(EmocircError, match="n labels"):
        D.fit_va_mapping(np.zeros((5, 3)), ["anger"] * 4)


def test_features_mapping_reads_an_extract_file(tmp_path):
    rng = np.random.default_rng(1)
    labels = np.repeat(["anger", "sadness", "happiness"], 20)
    pos = np.array([D.EMOTION_POSITIONS[lab] for lab in labels])
    emb = np.stack([rng.normal(size=(60, 6)), np.hstack([pos, rng.normal(0, 0.05, (60, 4))])], axis=1)
    path = tmp_path / "f.npz"
    write_features_file(path, emb, labels, layers=[0, 3])
    mapping, layer = D.features_mapping(path)
    assert layer == 3
    assert np.corrcoef(mapping.predict(emb[:, 1])[:, 0], pos[:, 0])[0, 1] > 0.95
    with pytest.raises(EmocircError, match="layer 5 not available"):
        D.features_mapping(path, layer=5)
    # 2-D embeddings: the layer comes from a one-entry 'layers' array, or must be given.
    flat = {"embeddings": emb[:, 1], "labels": labels}
    assert D.features_mapping({**flat, "layers": np.array([3])})[1] == 3
    assert D.features_mapping(flat, layer=3)[1] == 3
    with pytest.raises(EmocircError, match="no layer named"):
        D.features_mapping(flat)
    # A path must be a complete features file: the one reader checks it and names the file.
    partial = tmp_path / "partial.npz"
    np.savez(partial, embeddings=emb.astype(np.float32), layers=np.array([0, 3]), labels=labels)
    with pytest.raises(EmocircError, match="partial.npz: features file lacks array"):
        D.features_mapping(partial)


# --------------------------------------------------------------------------- the whole map


def test_map_diary_end_to_end_follows_the_drift(tone_diary, tone_corpus, backbone):
    mapping = D.fit_corpus_mapping(tone_corpus, backbone, layer=2)
    m = D.map_diary(
        tone_diary, backbone, mapping, layer=2, window_s=3.0, hop_s=1.5, grid_size=30, vad="energy"
    )
    assert m.days == ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07"]
    assert m.density.shape == (4, 30, 30)
    w = m.windows
    assert {"valence", "arousal", "true_valence", "true_arousal"} <= set(w.columns)
    assert w[["valence", "arousal"]].abs().le(1).all().all()
    # The tone voice carries arousal in pitch: the map must track it.
    ok = w["true_arousal"].notna()
    assert np.corrcoef(w.loc[ok, "arousal"], w.loc[ok, "true_arousal"])[0, 1] > 0.6
    # Valence is only in the tone's brightness, so weaker but still there.
    assert np.corrcoef(w.loc[ok, "valence"], w.loc[ok, "true_valence"])[0, 1] > 0.3
    s, truth = m.summary, m.truth_summary()
    assert s["arousal_mean"].iloc[-1] < s["arousal_mean"].iloc[0] - 0.3
    assert np.corrcoef(s["arousal_mean"], truth["arousal_mean"])[0, 1] > 0.8
    assert m.params["window_s"] == 3.0 and m.params["layer"] == 2 and m.params["vad"] == "energy"
    rec = m.recordings
    assert len(rec) == 8 and (rec["speech_s"] > 3).all() and (rec["speech_s"] <= 12).all()


# --------------------------------------------------------------------------- command line


def test_cli_make_and_map(tmp_path, tone_corpus, backbone, capsys):
    out = tmp_path / "diary"
    code = main(
        ["diary", "make", str(out), "--days", "2", "--per-day", "1", "--seconds", "6", "--voice", "tone"]
    )
    assert code == 0 and "wrote 2 recordings over 2 days" in capsys.readouterr().out
    assert (
        main(
            ["diary", "make", str(tmp_path / "s"), "--days", "3", "--per-day", "1", "--seconds", "3"]
            + ["--voice", "tone", "--change-day", "5"]
        )
        == 2
    )
    assert "change_day=5" in capsys.readouterr().err
    assert main(["diary", "make", str(out), "--voice", "tone"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err

    emb = D.embed_corpus(tone_corpus, backbone, [0, 1, 2])
    feats = tmp_path / "train.npz"
    write_features_file(feats, emb, tone_corpus["label"].to_numpy(str), layers=[0, 1, 2])
    map_dir = tmp_path / "map"
    code = main(
        ["diary", "map", str(out), "--out", str(map_dir), "--train-features", str(feats), "--layer", "1"]
        + ["--vad", "energy"]
    )
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "2024-03-04" in printed and "2024-03-05" in printed
    names = ("windows.csv", "summary.csv", "density.npz", "params.json", "recordings.csv", "heatmap.png")
    for name in (*names, "trajectory.png"):
        assert (map_dir / name).is_file(), name
    params = json.loads((map_dir / "params.json").read_text())
    assert params["layer"] == 1 and params["window_s"] == 3.0
    assert D.DiaryMap.load(map_dir).days == ["2024-03-04", "2024-03-05"]


def test_cli_map_bad_input_is_one_line(tmp_path, capsys):
    assert main(["diary", "map", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nothing does not exist" in err
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def train_features(tone_corpus, backbone, tmp_path_factory):
    emb = D.embed_corpus(tone_corpus, backbone, [0, 1, 2])
    feats = tmp_path_factory.mktemp("feats") / "train.npz"
    write_features_file(feats, emb, tone_corpus["label"].to_numpy(str), layers=[0, 1, 2])
    return feats


def _report_args(diary, out, feats, *extra):
    return [
        "diary",
        "report",
        str(diary),
        "--out",
        str(out),
        "--train-features",
        str(feats),
        "--layer",
        "1",
    ] + [
        "--vad",
        "energy",
        "--boot",
        "20",
        "--baseline-days",
        "4",
        "--min-speech",
        "5",
        *extra,
    ]


def test_cli_report_writes_a_self_contained_page_and_tables(tmp_path, train_features, capsys):
    import base64

    root = D.make_diary(
        tmp_path / "d",
        days=8,
        recordings_per_day=2,
        recording_s=8,
        seed=5,
        start_mix={"happiness": 0.5, "anger": 0.5},
        end_mix={"sadness": 0.5, "boredom": 0.5},
        change_day=5,
        synthesizer=D.tone_synthesizer,
    )
    # One day without speech: faint noise only. One day missing altogether (its recordings removed).
    for rel in ("2024-03-07/0900.wav", "2024-03-07/1800.wav"):
        sf.write(root / rel, np.random.default_rng(0).normal(0, 1e-4, 8 * SR).astype(np.float32), SR)
    folder = tmp_path / "mine"
    for wav in sorted(root.glob("2024-*/*.wav")):
        if not wav.parent.name == "2024-03-09":
            (folder / wav.parent.name).mkdir(parents=True, exist_ok=True)
            (folder / wav.parent.name / wav.name).write_bytes(wav.read_bytes())
    out = tmp_path / "report"
    assert main(_report_args(folder, out, train_features)) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "1 with not enough speech, 1 without a recording" in printed
    names = {p.name for p in out.iterdir()}
    assert {"report.html", "days.csv", "weeks.csv", "chart.csv", "recordings.csv", "provenance.json"} <= names
    days = pd.read_csv(out / "days.csv", dtype={"day": str})
    assert days["day"].tolist() == [f"2024-03-{d:02d}" for d in range(4, 12)]
    status = days.set_index("day")["status"]
    assert status["2024-03-07"] == "not enough speech" and status["2024-03-09"] == "no recording"
    assert days.loc[days["status"] != "ok", "valence_mean"].isna().all()
    ok = days[days["status"] == "ok"]
    assert (ok["valence_mean_lo"] <= ok["valence_mean"]).all() and (
        ok["valence_mean"] <= ok["valence_mean_hi"]
    ).all()
    chart = pd.read_csv(out / "chart.csv")
    assert {"valence_mean_z", "arousal_mean_ewma", "arousal_mean_limit", "flag"} <= set(chart.columns)
    page = (out / "report.html").read_text()
    assert "not a diagnosis" in page and "energy gate" in page and "Provenance" in page
    assert "share_unpleasant_deactivated" in page and "valence_mssd" in page
    # Offline: every image is inline PNG, nothing is fetched.
    assert "http://" not in page and "https://" not in page and 'src="data:image/png;base64,' in page
    first = page.split('src="data:image/png;base64,', 1)[1].split('"', 1)[0]
    assert base64.b64decode(first)[:4] == b"\x89PNG"
    meta = json.loads((out / "provenance.json").read_text())
    assert meta["monitoring"]["baseline_days"] == 4 and meta["mapping"]["vad"] == "energy"


def test_cli_report_bad_diaries_are_one_line_errors(tmp_path, train_features, capsys):
    (tmp_path / "empty").mkdir()
    assert main(_report_args(tmp_path / "empty", tmp_path / "o1", train_features)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no recordings found" in err
    one = tmp_path / "one" / "2024-03-04"
    one.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sf.write(one / "0900.wav", np.concatenate([D.tone_synthesizer("anger", rng) for _ in range(4)]), SR)
    assert main(_report_args(tmp_path / "one", tmp_path / "o2", train_features)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "diary of 1 day(s)" in err
    bad = tmp_path / "bad"
    (bad / "2024-02-30").mkdir(parents=True)
    sf.write(bad / "2024-02-30" / "0900.wav", np.zeros(SR, np.float32), SR)
    assert main(_report_args(bad, tmp_path / "o3", train_features)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'2024-02-30' is not a date" in err
    silent = tmp_path / "silent"
    for d in range(4, 13):
        (silent / f"2024-03-{d:02d}").mkdir(parents=True)
        sf.write(silent / f"2024-03-{d:02d}" / "0900.wav", np.zeros(4 * SR, np.float32), SR)
    assert main(_report_args(silent, tmp_path / "o4", train_features)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no window held speech" in err
    assert not any((tmp_path / f"o{k}").exists() for k in range(1, 5))
