"""Tests of emocirc.mood: affect dynamics, intervals, day and week tables, baseline and control charts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emocirc import mood as M
from emocirc.errors import EmocircError


def _ar1(n, phi, sd, rng):
    x = np.zeros(n)
    x[0] = rng.normal(0, sd / np.sqrt(1 - phi**2))
    for t in range(1, n):
        x[t] = phi * x[t - 1] + rng.normal(0, sd)
    return x


def test_dynamics_of_an_ar1_process_known_answers():
    rng = np.random.default_rng(0)
    phi, sd = 0.6, 0.1
    v = _ar1(20000, phi, sd, rng)
    a = _ar1(20000, -0.3, sd, rng)
    d = M.affect_dynamics(np.stack([v, a], axis=1))
    var = sd**2 / (1 - phi**2)
    assert d["valence_ac1"] == pytest.approx(phi, abs=0.03)
    assert d["arousal_ac1"] == pytest.approx(-0.3, abs=0.03)
    assert d["valence_sd"] == pytest.approx(np.sqrt(var), rel=0.05)
    assert d["valence_mssd"] == pytest.approx(2 * var * (1 - phi), rel=0.05)
    shares = [d[f"share_{q}"] for q in M.QUADRANTS]
    assert sum(shares) == pytest.approx(1.0)


def test_successive_differences_never_cross_recordings():
    va = np.array([[0.0, 0.0], [0.1, 0.0], [0.9, 0.0], [1.0, 0.0]])
    one_run = M.affect_dynamics(va)
    two_runs = M.affect_dynamics(va, runs=np.array([0, 0, 1, 1]))
    assert two_runs["valence_mssd"] == pytest.approx(0.01)
    assert one_run["valence_mssd"] == pytest.approx((0.01 + 0.64 + 0.01) / 3)
    single = M.affect_dynamics(va, runs=np.arange(4))
    assert np.isnan(single["valence_mssd"]) and np.isnan(single["valence_ac1"])
    assert np.isnan(M.affect_dynamics(np.zeros((0, 2)))["valence_mean"])


def test_quadrant_shares_and_range():
    va = np.array([[0.5, 0.5], [-0.5, 0.5], [-0.5, -0.5], [-0.5, -0.5]])
    d = M.affect_dynamics(va)
    assert d["share_pleasant_activated"] == 0.25 and d["share_unpleasant_deactivated"] == 0.5
    assert d["share_pleasant_deactivated"] == 0.0
    same = M.affect_dynamics(np.full((5, 2), 0.3))
    assert same["range"] == 0.0 and same["valence_sd"] == 0.0


def test_bootstrap_intervals_cover_the_mean_and_shrink_with_more_windows():
    rng = np.random.default_rng(1)
    covered, widths = 0, {}
    for _ in range(40):
        va = np.stack([_ar1(60, 0.3, 0.1, rng), rng.normal(0, 0.1, 60)], axis=1)
        _, lo, hi, _ = M.bootstrap_dynamics(va, n_boot=150, level=0.9, rng=rng)
        covered += lo["valence_mean"] <= 0.0 <= hi["valence_mean"]
    assert covered >= 28  # nominal 36 of 40; blocks of 4 under-cover an AR(1) a little
    for n in (20, 320):
        va = rng.normal(0, 0.1, (n, 2))
        _, lo, hi, se = M.bootstrap_dynamics(va, n_boot=150, rng=rng)
        widths[n] = hi["arousal_sd"] - lo["arousal_sd"]
    assert widths[320] < widths[20] / 2
    est, lo, _, _ = M.bootstrap_dynamics(np.zeros((1, 2)))
    assert est["valence_mean"] == 0.0 and np.isnan(lo["valence_mean"])


def _windows(day_centres, per_day=12, recordings=2, sd=0.05, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for day, (v, a) in day_centres.items():
        for r in range(recordings):
            for k in range(per_day // recordings):
                rows.append(
                    {
                        "day": day,
                        "time": f"{9 + 3 * r:02d}:00",
                        "recording": f"{day}/{r}",
                        "start": 3.0 * k,
                        "end": 3.0 * k + 3.0,
                        "valence": v + rng.normal(0, sd),
                        "arousal": a + rng.normal(0, sd),
                    }
                )
    return pd.DataFrame(rows)


def _recordings(speech_by_day, recordings=2):
    return pd.DataFrame(
        [
            {"day": d, "recording": f"{d}/{r}", "speech_s": s / recordings}
            for d, s in speech_by_day.items()
            for r in range(recordings)
        ]
    )


def test_day_dynamics_marks_missing_days_and_days_with_too_little_speech():
    w = _windows({"2024-03-04": (0.3, 0.1), "2024-03-05": (0.2, 0.0), "2024-03-07": (-0.4, -0.2)})
    rec = _recordings({"2024-03-04": 40.0, "2024-03-05": 5.0, "2024-03-07": 40.0, "2024-03-08": 0.0})
    d = M.day_dynamics(w, rec, min_speech_s=20.0, n_boot=50).set_index("day")
    assert d.index.tolist() == ["2024-03-04", "2024-03-05", "2024-03-06", "2024-03-07", "2024-03-08"]
    assert d["status"].tolist() == ["ok", "not enough speech", "no recording", "ok", "not enough speech"]
    assert d.loc["2024-03-07", "valence_mean"] == pytest.approx(-0.4, abs=0.03)
    assert d.loc["2024-03-04", "valence_mean_lo"] < 0.3 < d.loc["2024-03-04", "valence_mean_hi"]
    # Never a number where there is not enough speech.
    not_ok = d["status"] != "ok"
    assert d.loc[not_ok, list(M.MEASURES)].isna().all().all()
    assert d.loc["2024-03-08", "n_recordings"] == 2 and d.loc["2024-03-06", "n_recordings"] == 0
    assert d.loc["2024-03-05", "speech_s"] == pytest.approx(5.0)


def test_week_dynamics_blocks_of_seven_days():
    days = [f"2024-03-{d:02d}" for d in range(4, 18)]
    w = _windows({d: (0.3 if k < 7 else -0.3, 0.0) for k, d in enumerate(days)}, per_day=6)
    rec = _recordings(dict.fromkeys(days, 30.0))
    wk = M.week_dynamics(w, rec, n_boot=30)
    assert wk["week"].tolist() == ["W1", "W2"]
    assert wk[["first_day", "last_day"]].values.tolist() == [
        ["2024-03-04", "2024-03-10"],
        ["2024-03-11", "2024-03-17"],
    ]
    assert wk["valence_mean"].round(1).tolist() == [0.3, -0.3]
    assert wk["speech_s"].tolist() == [210.0, 210.0]


def _daily(values, se=0.02, status=None):
    n = len(values)
    return pd.DataFrame(
        {
            "day": [f"d{k:02d}" for k in range(n)],
            "status": status or ["ok"] * n,
            "valence_mean": values,
            "valence_mean_se": se,
            "arousal_mean": np.zeros(n),
            "arousal_mean_se": se,
        }
    )


def test_chart_stays_quiet_on_a_stable_person_and_flags_a_step():
    rng = np.random.default_rng(3)
    quiet = 0
    for _ in range(50):
        chart = M.mood_chart(_daily(rng.normal(0, 0.1, 21)), baseline_days=7, measures=["valence_mean"])
        quiet += not chart["flag"].any()
    assert quiet >= 35  # a baseline of 7 days estimates the SD roughly: some false alarms remain
    values = np.concatenate([rng.normal(0, 0.1, 10), rng.normal(-0.4, 0.1, 6)])
    chart = M.mood_chart(_daily(values), baseline_days=7)
    assert M.first_flag(chart, 10) is not None and M.first_flag(chart, 10) <= 2
    assert (chart.loc[chart["valence_mean_flag"], "valence_mean_z"] < 0).all()
    assert chart["phase"].tolist() == ["baseline"] * 7 + ["monitoring"] * 9
    assert chart.loc[:6, "valence_mean_ewma"].isna().all()
    assert chart.attrs["baseline"]["valence_mean"]["days"] == 7


def test_chart_limits_and_the_within_day_floor():
    chart = M.mood_chart(_daily([0.0, 0.01, -0.01, 0.0, 0.01, -0.01, 0.0, 0.0, 0.0], se=0.1), baseline_days=7)
    base = chart.attrs["baseline"]["valence_mean"]
    assert base["sd"] == pytest.approx(0.1) and base["sd_between"] < 0.01
    lam, L = 0.3, 3.0
    # The first monitored EWMA is lambda * z (SD lambda); later ones tend to sqrt(lambda / (2 - lambda)).
    assert chart["valence_mean_limit"].iloc[7] == pytest.approx(L * lam)
    assert (
        chart["valence_mean_limit"].iloc[7]
        < chart["valence_mean_limit"].iloc[8]
        < L * np.sqrt(lam / (2 - lam))
    )


def test_chart_carries_over_days_without_a_number():
    values = [0.0, 0.1, -0.1, 0.05, -0.05, 0.0, 0.02, np.nan, -0.6, np.nan]
    status = ["ok"] * 7 + ["not enough speech", "ok", "no recording"]
    chart = M.mood_chart(_daily(values, status=status), baseline_days=7)
    assert np.isnan(chart["valence_mean_z"].iloc[7]) and not chart["flag"].iloc[7]
    assert np.isnan(chart["valence_mean_ewma"].iloc[7])  # nothing to carry yet
    assert chart["valence_mean_ewma"].iloc[9] == chart["valence_mean_ewma"].iloc[8]
    assert not chart["flag"].iloc[9]


def test_chart_bad_diaries_are_one_line_errors():
    with pytest.raises(EmocircError, match=r"diary of 1 day\(s\)"):
        M.mood_chart(_daily([0.1]), baseline_days=7)
    status = ["not enough speech"] * 5 + ["ok"] * 5
    with pytest.raises(EmocircError, match="only 2 of the first 7 days have enough speech"):
        M.mood_chart(_daily(np.zeros(10), status=status), baseline_days=7)
    with pytest.raises(EmocircError, match="no variation"):
        M.mood_chart(_daily(np.zeros(10), se=0.0), baseline_days=7)
    with pytest.raises(EmocircError, match="ewma_lambda"):
        M.mood_chart(_daily(np.zeros(10)), ewma_lambda=0)
    with pytest.raises(EmocircError, match="missing column.*arousal_mean"):
        M.mood_chart(_daily(np.zeros(10)).drop(columns="arousal_mean"))
    with pytest.raises(EmocircError, match="expected at least one day"):
        M.calendar([])
    with pytest.raises(EmocircError, match="YYYY-MM-DD"):
        M.calendar(["yesterday"])


def test_cusum_signals_a_small_persistent_shift():
    values = np.concatenate([np.tile([0.1, -0.1], 4), np.full(10, -0.12)])
    chart = M.mood_chart(_daily(values, se=0.01), baseline_days=8, measures=["valence_mean"])
    assert M.first_flag(chart, 8, "cusum_flag") is not None


# --------------------------------------------------------------------------- validation against a known truth


def _report(person, v_after, change_day=10, days=14, sd=0.05, seed=0):
    """A MoodReport of constructed windows: valence v_after from change_day on, truth alike."""
    from emocirc.diary import DiaryMap
    from emocirc.diary_report import build_report

    day_names = [f"2024-03-{4 + d:02d}" for d in range(days)]
    centres = {d: (v_after if k >= change_day else 0.2, 0.0) for k, d in enumerate(day_names)}
    w = _windows(centres, per_day=12, sd=sd, seed=seed)
    w["true_valence"] = [centres[d][0] for d in w["day"]]
    w["true_arousal"] = 0.1 * (w["true_valence"] < 0.2)
    w["speaker"] = person
    rec = _recordings(dict.fromkeys(day_names, 30.0)).assign(speaker=person, time="09:00", path="x")
    dmap = DiaryMap.from_windows(w, grid_size=10, recordings=rec)
    (report,) = build_report(dmap, baseline_days=7, min_speech_s=10, n_boot=30)
    return report


def test_person_outcome_scores_a_changer_and_a_control():
    from emocirc.mood_validation import person_outcome

    changer = person_outcome(_report("p", v_after=-0.5), "changer", change_day=10)
    assert changer["monitored_days"] == 3 and changer["delay"] is not None and changer["delay"] <= 1
    assert changer["valence_shift"] < -3 and changer["valence_true_change"] == pytest.approx(-0.7)
    assert changer["valence_recovered"] is True
    # Arousal truly rose by 0.1 but the constructed estimate did not move: direction at chance.
    assert changer["arousal_true_change"] == pytest.approx(0.1)
    control = person_outcome(_report("c", v_after=0.2, seed=1), "control", change_day=None)
    assert control["monitored_days"] == 7 and "delay" not in control
    with pytest.raises(EmocircError, match="role 'patient'"):
        person_outcome(_report("c", v_after=0.2), "patient", None)
    with pytest.raises(EmocircError, match="after the baseline"):
        person_outcome(_report("c", v_after=0.2), "changer", 3)


def test_wilson_interval_and_summary():
    from emocirc.mood_validation import validation_summary, wilson_interval

    lo, hi = wilson_interval(5, 10)
    assert lo < 0.5 < hi and hi - lo == pytest.approx(2 * 0.5 - 2 * lo)
    assert np.isnan(wilson_interval(0, 0)[0])
    outcomes = pd.DataFrame(
        [
            {"role": "control", "monitored_days": 7, "false_alarms": 1},
            {"role": "control", "monitored_days": 7, "false_alarms": 0},
            *[
                {
                    "role": "changer",
                    "monitored_days": 3,
                    "false_alarms": 0,
                    "delay": d,
                    "valence_delay": d,
                    "arousal_delay": None,
                    "valence_recovered": True,
                    "arousal_recovered": k == 0,
                }
                for k, d in enumerate([0, 2, None])
            ],
        ]
    )
    s = validation_summary(outcomes).set_index("quantity")
    assert s.loc["false alarms per monitored day (controls)", ["k", "n"]].tolist() == [1, 14]
    assert s.loc["controls with any false alarm", "estimate"] == 0.5
    assert s.loc["changers detected", ["k", "n"]].tolist() == [2, 3]
    assert s.loc["detection delay (days)", "estimate"] == 1.0
    assert 0 <= s.loc["detection delay (days)", "low"] <= 1 <= s.loc["detection delay (days)", "high"] <= 2
    assert s.loc["arousal flagged (changers)", "k"] == 0
    assert s.loc["arousal direction recovered (changers)", "estimate"] == pytest.approx(1 / 3)


def test_make_cohort_distinct_voices_reuse_and_refusal(tmp_path):
    from emocirc.diary import HEALTHY_MIX, tone_synthesizer
    from emocirc.mood_validation import make_cohort

    kw = {"days": 3, "change_day": 2, "recordings_per_day": 1, "recording_s": 3}
    factory = lambda v, g, s: tone_synthesizer  # noqa: E731
    c = make_cohort(tmp_path, seeds=[0, 1], synthesizer_factory=factory, **kw)
    assert c["role"].tolist() == ["control", "changer"] * 2 and c["voice"].nunique() == 4
    stamp = (tmp_path / "changer-1" / "manifest.csv").stat().st_mtime_ns
    again = make_cohort(tmp_path, seeds=[0, 1], synthesizer_factory=factory, **kw)
    assert again.equals(c) and (tmp_path / "changer-1" / "manifest.csv").stat().st_mtime_ns == stamp
    seg = pd.read_csv(tmp_path / "control-0" / "segments.csv")
    assert set(seg["label"]) <= set(HEALTHY_MIX)
    with pytest.raises(EmocircError, match="holds a different diary"):
        make_cohort(tmp_path, seeds=[0], synthesizer_factory=factory, **{**kw, "change_day": 1})
    with pytest.raises(EmocircError, match="distinct seeds"):
        make_cohort(tmp_path, seeds=[0, 0], synthesizer_factory=factory, **kw)


def test_validation_text_follows_the_numbers_axis_by_axis():
    from emocirc.mood_validation import validation_summary, validation_text

    def outcomes(n, valence_ok, arousal_ok, delays):
        rows = [{"role": "control", "monitored_days": 7, "false_alarms": 0} for _ in range(n)]
        for k in range(n):
            rows.append(
                {
                    "role": "changer",
                    "monitored_days": 3,
                    "false_alarms": int(k == 0),
                    "delay": delays[k],
                    "valence_delay": delays[k],
                    "arousal_delay": None,
                    "valence_recovered": k < valence_ok,
                    "arousal_recovered": k < arousal_ok,
                }
            )
        return pd.DataFrame(rows)

    text = validation_text(validation_summary(outcomes(12, 12, 0, [1] * 12)))
    assert text[0].startswith("Controls: 0 of 84 monitored days flagged")
    assert text[1].startswith("Changers before their change: 1 of 36")
    assert "12 of 12 changers flagged" in text[2] and "mean delay 1.0 days" in text[2]
    assert text[3].startswith("Valence: flagged in 12 of 12") and "more often than chance" in text[3]
    assert text[4].startswith("Arousal: flagged in 0 of 12") and "opposite direction" in text[4]
    few = validation_text(validation_summary(outcomes(3, 3, 2, [None] * 3)))
    assert "none was flagged, so there is no delay to report" in few[2]
    assert "includes chance" in few[3] and "includes chance" in few[4]


def test_ensure_cohort_keys_the_cache_by_its_arguments(tmp_path):
    from emocirc.mood_validation import ensure_cohort

    kw = {"seeds": [0], "days": 2, "change_day": 1, "recordings_per_day": 1, "recording_s": 2}
    a = ensure_cohort(tmp_path, **kw)
    b = ensure_cohort(tmp_path, **{**kw, "recording_s": 3})
    assert a["root"][0] != b["root"][0] and a["voice"].tolist() == b["voice"].tolist()
    assert ensure_cohort(tmp_path, **kw)["root"].tolist() == a["root"].tolist()
    with pytest.raises(EmocircError, match="custom synthesizer"):
        ensure_cohort(tmp_path, synthesizer_factory=lambda v, g, s: None, **kw)


def test_build_report_names_the_person_whose_diary_is_too_short():
    from emocirc.diary import DiaryMap
    from emocirc.diary_report import build_report

    days = [f"2024-03-{4 + d:02d}" for d in range(9)]
    w = pd.concat(
        [
            _windows(dict.fromkeys(days, (0.1, 0.0))).assign(speaker="long"),
            _windows({days[0]: (0.1, 0.0)}).assign(speaker="short"),
        ]
    )
    rec = pd.concat(
        [
            _recordings(dict.fromkeys(days, 30.0)).assign(speaker="long"),
            _recordings({days[0]: 30.0}).assign(speaker="short"),
        ]
    ).assign(time="09:00")
    dmap = DiaryMap.from_windows(w, grid_size=8, recordings=rec)
    with pytest.raises(EmocircError, match=r"person 'short': diary of 1 day\(s\)"):
        build_report(dmap, baseline_days=7, min_speech_s=10, n_boot=5)
    (one,) = build_report(
        DiaryMap.from_windows(
            w[w["speaker"] == "long"], grid_size=8, recordings=rec[rec["speaker"] == "long"]
        ),
        n_boot=5,
    )
    assert one.person == "long" and len(one.daily) == 9 and one.weekly["week"].tolist() == ["W1", "W2"]


def test_day_rates_get_a_person_bootstrap_wider_than_wilson_when_days_go_together():
    from emocirc.mood_validation import PERSON_BOOTSTRAP, WILSON, validation_summary, wilson_interval

    # Ten controls of ten days each: three flagged on every day, seven on none.  Days within a
    # person are perfectly correlated, so there are ten independent trials, not a hundred.
    outcomes = pd.DataFrame(
        [{"role": "control", "monitored_days": 10, "false_alarms": 10 * (k < 3)} for k in range(10)]
    )
    s = validation_summary(outcomes, n_boot=400).set_index("quantity")
    day = s.loc["false alarms per monitored day (controls)"]
    assert day["interval"] == PERSON_BOOTSTRAP and day["estimate"] == pytest.approx(0.3)
    w_lo, w_hi = wilson_interval(30, 100)
    assert day["low"] < day["estimate"] < day["high"]
    assert day["high"] - day["low"] > 1.8 * (w_hi - w_lo)  # about 0.6 against 0.18
    # A share of persons keeps its Wilson interval: each person is one trial.
    persons = s.loc["controls with any false alarm"]
    assert persons["interval"] == WILSON
    assert (persons["low"], persons["high"]) == pytest.approx(wilson_interval(3, 10))


def test_block_bootstrap_of_dynamics_is_inference_block_bootstrap():
    from emocirc.inference import block_bootstrap

    rng = np.random.default_rng(3)
    va = rng.normal(0, 1, (30, 2))
    est, lo, hi, se = M.bootstrap_dynamics(va, n_boot=50, block=5, rng=np.random.default_rng(7))
    res = block_bootstrap(
        lambda i, b: list(M.affect_dynamics(va[i], b).values()),
        30,
        block=5,
        n_resamples=50,
        seed=np.random.default_rng(7),
    )
    assert [lo[m] for m in M.MEASURES] == pytest.approx(res.low.tolist(), nan_ok=True)
    assert [se[m] for m in M.MEASURES] == pytest.approx(res.standard_error.tolist(), nan_ok=True)
