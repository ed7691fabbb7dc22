"""Within-person mood monitoring: affect dynamics, a personal baseline and control charts.

Longitudinal mood research works within the person: each day is compared
with the person's own baseline, not with a population.  From the windows of
a diary placed on the circumplex (:func:`emocirc.diary.map_diary`) this
module computes

1. the *affect dynamics* of ecological momentary assessment, per day
   (:func:`day_dynamics`) and per week (:func:`week_dynamics`): mean level
   of valence and arousal, variability (SD), instability (MSSD, the mean
   squared successive difference), inertia (lag-1 autocorrelation), the
   share of time in each circumplex quadrant and the emotional range (mean
   distance from the period's centre); each with a bootstrap interval from
   resampling blocks of consecutive windows within the period;
2. a *baseline* from the first ``baseline_days`` days and each day's mean
   valence and arousal as a z-score against it, and an *EWMA control chart*
   with limits from the baseline (optionally a two-sided CUSUM) that flags
   days out of control (:func:`mood_chart`).

A day with less than ``min_speech_s`` seconds of speech is ``"not enough
speech"`` and a day without a recording ``"no recording"``: they get no
number, and the charts carry their state over them.

Successive windows that overlap share audio, which inflates inertia and
deflates instability; compute dynamics on windows with ``hop_s == window_s``.
This is a research measurement of a voice signal, not a diagnosis.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from emocirc.errors import EmocircError
from emocirc.inference import block_bootstrap, moving_blocks

#: Day (or week) states.
OK, NOT_ENOUGH_SPEECH, NO_RECORDING = "ok", "not enough speech", "no recording"

#: Circumplex quadrants: name -> (sign of valence, sign of arousal).
QUADRANTS: dict[str, tuple[int, int]] = {
    "pleasant_activated": (1, 1),
    "unpleasant_activated": (-1, 1),
    "unpleasant_deactivated": (-1, -1),
    "pleasant_deactivated": (1, -1),
}

#: The dynamics measures, in table order.
MEASURES: tuple[str, ...] = (
    "valence_mean",
    "arousal_mean",
    "valence_sd",
    "arousal_sd",
    "valence_mssd",
    "arousal_mssd",
    "valence_ac1",
    "arousal_ac1",
    *(f"share_{q}" for q in QUADRANTS),
    "range",
)

#: The measures the control chart follows by default.
CHART_MEASURES: tuple[str, ...] = ("valence_mean", "arousal_mean")


# --------------------------------------------------------------------------- dynamics of one period


def affect_dynamics(va: np.ndarray, runs: np.ndarray | None = None) -> dict[str, float]:
    """The dynamics measures of one period's windows, in time order.

    Parameters
    ----------
    va:
        ``(n, 2)`` valence and arousal of the windows, ordered in time.
    runs:
        Run label per window (e.g. the recording): successive differences
        and lag-1 pairs are taken only within a run, never across the gap
        between two recordings.  Default: one run.

    Examples
    --------
    >>> va = np.array([[0.2, 0.1], [0.4, 0.1], [0.2, -0.1], [0.4, -0.1]])
    >>> d = affect_dynamics(va)
    >>> round(d["valence_mean"], 2), round(d["valence_mssd"], 2), round(d["valence_ac1"], 2)
    (0.3, 0.04, -1.0)
    >>> d["share_pleasant_activated"], d["share_pleasant_deactivated"]
    (0.5, 0.5)
    """
    va = np.asarray(va, dtype=float).reshape(-1, 2)
    n = len(va)
    out = dict.fromkeys(MEASURES, np.nan)
    if n == 0:
        return out
    runs = np.zeros(n, dtype=np.int64) if runs is None else np.asarray(runs)
    same = runs[1:] == runs[:-1]
    centre = va.mean(axis=0)
    for k, dim in enumerate(("valence", "arousal")):
        x = va[:, k]
        out[f"{dim}_mean"] = float(centre[k])
        out[f"{dim}_sd"] = float(x.std(ddof=1)) if n > 1 else np.nan
        if same.any():
            diff = np.diff(x)[same]
            out[f"{dim}_mssd"] = float(np.mean(diff**2))
            dev = x - centre[k]
            var = float(np.mean(dev**2))
            lag = float(np.mean((dev[:-1] * dev[1:])[same]))
            out[f"{dim}_ac1"] = lag / var if var > 0 else np.nan
    for name, (sv, sa) in QUADRANTS.items():
        out[f"share_{name}"] = float(np.mean((np.sign(va[:, 0]) == sv) & (np.sign(va[:, 1]) == sa)))
    out["range"] = float(np.mean(np.hypot(*(va - centre).T)))
    return out


def bootstrap_dynamics(
    va: np.ndarray,
    runs: np.ndarray | None = None,
    n_boot: int = 200,
    block: int = 4,
    level: float = 0.95,
    rng: np.random.Generator | None = None,
) -> tuple[dict[str, float], dict[str, float], dict[str, float], dict[str, float]]:
    """:func:`affect_dynamics` with bootstrap intervals: (estimate, low, high, standard error).

    The intervals are :func:`emocirc.inference.block_bootstrap`'s (the
    book's scheme for windows in time, documented there): each run is cut
    into blocks of ``block`` consecutive windows; a resample draws as many
    blocks as the period has, with replacement, so that the order within a
    block (what MSSD and inertia measure) survives.  A period of fewer than
    two blocks gets no interval (NaN).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> va = rng.normal(0.3, 0.1, (40, 2))
    >>> est, lo, hi, se = bootstrap_dynamics(va, n_boot=100, rng=rng)
    >>> bool(lo["valence_mean"] < est["valence_mean"] < hi["valence_mean"]), se["valence_mean"] < 0.05
    (True, True)
    """
    va = np.asarray(va, dtype=float).reshape(-1, 2)
    n = len(va)
    runs = np.zeros(n, dtype=np.int64) if runs is None else np.asarray(runs)
    est = affect_dynamics(va, runs)
    nan = dict.fromkeys(MEASURES, np.nan)
    if n < 2 or n_boot < 1 or len(moving_blocks(n, runs, block)) < 2:
        return est, nan, dict(nan), dict(nan)

    def measures(idx: np.ndarray, seams: np.ndarray) -> list[float]:
        d = affect_dynamics(va[idx], seams)
        return [d[m] for m in MEASURES]

    res = block_bootstrap(
        measures,
        n,
        runs,
        block=block,
        n_resamples=n_boot,
        confidence_level=level,
        seed=rng or np.random.default_rng(0),
        names=list(MEASURES),
    )
    return (
        est,
        dict(zip(MEASURES, map(float, res.low), strict=True)),
        dict(zip(MEASURES, map(float, res.high), strict=True)),
        dict(zip(MEASURES, map(float, res.standard_error), strict=True)),
    )


# --------------------------------------------------------------------------- per day, per week


def calendar(days: Sequence[str]) -> list[str]:
    """Every day from the first to the last of ``days`` (ISO dates), gaps included.

    Examples
    --------
    >>> calendar(["2024-03-06", "2024-03-04"])
    ['2024-03-04', '2024-03-05', '2024-03-06']
    """
    if len(days) == 0:
        raise EmocircError("diary calendar: expected at least one day")
    try:
        parsed = sorted({_dt.date.fromisoformat(str(d)) for d in days})
    except ValueError as err:
        raise EmocircError(f"diary calendar: {err}; expected days as YYYY-MM-DD") from None
    n = (parsed[-1] - parsed[0]).days + 1
    return [(parsed[0] + _dt.timedelta(days=k)).isoformat() for k in range(n)]


def day_speech(windows: pd.DataFrame, recordings: pd.DataFrame | None = None) -> pd.DataFrame:
    """Recordings and seconds of speech per day: ``day``, ``n_recordings``, ``speech_s``.

    From the voice activity detection of every recording (``recordings``,
    :attr:`emocirc.diary.DiaryMap.recordings`) when given; otherwise
    estimated from the windows (``speech`` share times length, non-overlapping
    part only).

    Examples
    --------
    >>> rec = pd.DataFrame({"day": ["a", "a", "b"], "speech_s": [10.0, 5.0, 0.0]})
    >>> day_speech(pd.DataFrame(), rec).values.tolist()
    [['a', 2, 15.0], ['b', 1, 0.0]]
    """
    if recordings is not None:
        g = recordings.groupby(recordings["day"].astype(str), sort=True)
        out = pd.DataFrame({"n_recordings": g.size(), "speech_s": g["speech_s"].sum().astype(float)})
        return out.rename_axis("day").reset_index()
    if len(windows) == 0:
        return pd.DataFrame(columns=["day", "n_recordings", "speech_s"])
    hop = float(windows.attrs.get("hop_s", np.inf))
    length = (windows["end"] - windows["start"]).clip(upper=hop)
    share = windows["speech"] if "speech" in windows else 1.0
    w = windows.assign(_s=length * share)
    g = w.groupby(w["day"].astype(str), sort=True)
    out = pd.DataFrame({"n_recordings": g["recording"].nunique(), "speech_s": g["_s"].sum().astype(float)})
    return out.rename_axis("day").reset_index()


def period_dynamics(
    windows: pd.DataFrame,
    period: pd.Series,
    periods: Sequence[str],
    speech_s: pd.Series,
    min_speech_s: float,
    n_boot: int = 200,
    block: int = 4,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Dynamics per period (day or week) with intervals; the table behind :func:`day_dynamics`.

    ``period`` labels each window; ``periods`` are all periods to report
    (also those without windows); ``speech_s`` is speech seconds per period.
    Columns: ``period``, ``status``, ``speech_s``, ``n_windows``, then each
    measure with ``_lo``, ``_hi`` and ``_se``.
    """
    rng = np.random.default_rng(seed)
    order = windows.sort_values(["time", "recording", "start"], kind="stable") if len(windows) else windows
    rows = []
    for name in periods:
        sel = order[period.reindex(order.index) == name] if len(order) else order
        speech = float(speech_s.get(name, 0.0))
        row: dict[str, Any] = {"period": name, "speech_s": speech, "n_windows": len(sel)}
        if speech == 0 and len(sel) == 0 and name not in speech_s.index:
            row["status"] = NO_RECORDING
        elif speech < min_speech_s or len(sel) < 2:
            row["status"] = NOT_ENOUGH_SPEECH
        else:
            row["status"] = OK
            va = sel[["valence", "arousal"]].to_numpy(float)
            runs = pd.factorize(sel["recording"])[0]
            est, lo, hi, se = bootstrap_dynamics(va, runs, n_boot=n_boot, block=block, level=level, rng=rng)
            for m in MEASURES:
                row[m], row[f"{m}_lo"], row[f"{m}_hi"], row[f"{m}_se"] = est[m], lo[m], hi[m], se[m]
        rows.append(row)
    columns = ["period", "status", "speech_s", "n_windows"]
    columns += [f"{m}{suffix}" for m in MEASURES for suffix in ("", "_lo", "_hi", "_se")]
    return pd.DataFrame(rows).reindex(columns=columns)


def day_dynamics(
    windows: pd.DataFrame,
    recordings: pd.DataFrame | None = None,
    min_speech_s: float = 20.0,
    n_boot: int = 200,
    block: int = 4,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Affect dynamics per calendar day, with bootstrap intervals and the days without a number.

    Parameters
    ----------
    windows:
        Windows on the circumplex: ``day``, ``time``, ``recording``,
        ``start``, ``valence``, ``arousal`` (e.g. ``DiaryMap.windows``).
    recordings:
        Speech per recording (``DiaryMap.recordings``): days whose
        recordings hold no speech still appear, as ``"not enough speech"``.
    min_speech_s:
        Seconds of speech a day needs to get a number.
    n_boot, block, level, seed:
        Bootstrap of :func:`bootstrap_dynamics`.

    Returns
    -------
    One row per day from the first to the last (``day``, ``status``:
    ``ok``, ``not enough speech`` or ``no recording``; ``speech_s``,
    ``n_recordings``, ``n_windows``; every measure of :data:`MEASURES` with
    ``_lo``/``_hi``/``_se``; NaN unless ``ok``).

    Examples
    --------
    >>> w = pd.DataFrame({"day": ["2024-01-01"] * 4 + ["2024-01-03"] * 4, "time": "09:00",
    ...                   "recording": ["r1"] * 4 + ["r2"] * 4, "start": [0, 3, 6, 9] * 2,
    ...                   "valence": [0.1, 0.3, 0.2, 0.4, -0.2, -0.1, -0.3, -0.2], "arousal": 0.1})
    >>> rec = pd.DataFrame({"day": ["2024-01-01", "2024-01-03"], "speech_s": [30.0, 8.0]})
    >>> d = day_dynamics(w, rec, n_boot=20)
    >>> d[["day", "status", "valence_mean"]].round(2).values.tolist()
    [['2024-01-01', 'ok', 0.25], ['2024-01-02', 'no recording', nan], ['2024-01-03', 'not enough speech', nan]]
    """
    _require(windows, ("day", "recording", "start", "valence", "arousal"))
    speech = day_speech(windows, recordings)
    known = list(speech["day"].astype(str)) + list(windows["day"].astype(str))
    days = calendar(known)
    if "time" not in windows:
        windows = windows.assign(time="")
    table = period_dynamics(
        windows,
        windows["day"].astype(str),
        days,
        speech.set_index("day")["speech_s"],
        min_speech_s,
        n_boot=n_boot,
        block=block,
        level=level,
        seed=seed,
    ).rename(columns={"period": "day"})
    counts = speech.set_index("day")["n_recordings"]
    table.insert(3, "n_recordings", [int(counts.get(d, 0)) for d in table["day"]])
    return table


def week_dynamics(
    windows: pd.DataFrame,
    recordings: pd.DataFrame | None = None,
    min_speech_s: float = 60.0,
    n_boot: int = 200,
    block: int = 4,
    level: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Affect dynamics per week: seven-day blocks from the diary's first day.

    Columns as :func:`day_dynamics`, with ``week`` (``"W1"``...), ``first_day``
    and ``last_day`` instead of ``day``.

    Examples
    --------
    >>> w = pd.DataFrame({"day": ["2024-01-01", "2024-01-02", "2024-01-09", "2024-01-09"],
    ...                   "recording": ["a", "b", "c", "c"], "start": [0, 0, 0, 3],
    ...                   "valence": [0.2, 0.4, -0.2, -0.4], "arousal": 0.0})
    >>> rec = pd.DataFrame({"day": ["2024-01-01", "2024-01-02", "2024-01-09"], "speech_s": 40.0})
    >>> week_dynamics(w, rec, min_speech_s=30, n_boot=10)[["week", "first_day", "valence_mean"]].round(2).values.tolist()
    [['W1', '2024-01-01', 0.3], ['W2', '2024-01-08', -0.3]]
    """
    _require(windows, ("day", "recording", "start", "valence", "arousal"))
    speech = day_speech(windows, recordings)
    days = calendar(list(speech["day"].astype(str)) + list(windows["day"].astype(str)))
    week_of = {d: f"W{k // 7 + 1}" for k, d in enumerate(days)}
    weeks = list(dict.fromkeys(week_of.values()))
    per_week = speech.assign(week=speech["day"].map(week_of)).groupby("week")["speech_s"].sum()
    if "time" not in windows:
        windows = windows.assign(time="")
    # Order within a week by day, then time: prefix the time with the day.
    w = windows.assign(time=windows["day"].astype(str) + " " + windows["time"].astype(str))
    table = period_dynamics(
        w,
        w["day"].astype(str).map(week_of),
        weeks,
        per_week,
        min_speech_s,
        n_boot=n_boot,
        block=block,
        level=level,
        seed=seed,
    ).rename(columns={"period": "week"})
    table.insert(1, "first_day", [days[7 * k] for k in range(len(weeks))])
    table.insert(2, "last_day", [days[min(7 * k + 6, len(days) - 1)] for k in range(len(weeks))])
    return table


# --------------------------------------------------------------------------- baseline and control chart


def mood_chart(
    daily: pd.DataFrame,
    baseline_days: int = 7,
    measures: Sequence[str] = CHART_MEASURES,
    ewma_lambda: float = 0.3,
    ewma_L: float = 3.0,
    cusum_k: float = 0.5,
    cusum_h: float = 4.0,
    min_baseline_days: int = 3,
) -> pd.DataFrame:
    """Daily z-scores against a personal baseline, an EWMA chart with control limits, and CUSUM.

    The baseline is the first ``baseline_days`` calendar days of ``daily``
    (:func:`day_dynamics`); of those, the days with a number give each
    measure's baseline mean and SD.  The SD is the larger of the
    between-day SD of the baseline days and the typical within-day
    bootstrap standard error, so that a few similar days do not make a
    chart that flags noise.  Each later day (the *monitoring* phase) is a
    z-score ``z = (x - mean) / sd``; the EWMA ``E_t = lambda z_t + (1 -
    lambda) E_{t-1}`` starts at 0 on the first monitored day and is out of
    control when ``|E_t| > L sqrt(lambda / (2 - lambda) (1 - (1 -
    lambda)^(2t)))``.  The two-sided CUSUM (``S+ = max(0, S+ + z - k)``,
    ``S- = max(0, S- - z - k)``) signals when either passes ``h``.  Days
    without a number keep the chart's state and are never flagged.

    Returns
    -------
    One row per day: ``day``, ``status``, ``phase`` (``baseline`` or
    ``monitoring``), and per measure ``<m>_z``, ``<m>_ewma``, ``<m>_limit``,
    ``<m>_flag``, ``<m>_cusum_pos``, ``<m>_cusum_neg``, ``<m>_cusum_flag``;
    then ``flag`` (an EWMA flag on any measure) and ``cusum_flag``.
    ``attrs["baseline"]`` holds each measure's ``mean``, ``sd`` and the
    number of baseline days used.

    Examples
    --------
    >>> days = [f"2024-01-{d:02d}" for d in range(1, 13)]
    >>> v = [0.1, -0.1, 0.0, 0.1, -0.1, 0.0, 0.05, 0.0, -0.6, -0.7, -0.6, -0.7]
    >>> daily = pd.DataFrame({"day": days, "status": "ok", "valence_mean": v, "valence_mean_se": 0.02})
    >>> chart = mood_chart(daily, baseline_days=7, measures=["valence_mean"])
    >>> chart.loc[chart["flag"], "day"].tolist()
    ['2024-01-09', '2024-01-10', '2024-01-11', '2024-01-12']
    """
    if not 0 < ewma_lambda <= 1:
        raise EmocircError(f"ewma_lambda={ewma_lambda}: expected 0 < lambda <= 1")
    if baseline_days < min_baseline_days:
        raise EmocircError(f"baseline_days={baseline_days}: expected at least {min_baseline_days} days")
    _require(daily, ("day", "status", *measures))
    n_days = len(daily)
    if n_days <= baseline_days:
        raise EmocircError(
            f"diary of {n_days} day(s): a baseline of {baseline_days} days needs at least "
            f"{baseline_days + 1} days, the later ones monitored"
        )
    ok = (daily["status"] == OK).to_numpy()
    base = np.arange(n_days) < baseline_days
    if (ok & base).sum() < min_baseline_days:
        raise EmocircError(
            f"baseline: only {(ok & base).sum()} of the first {baseline_days} days have enough speech; "
            f"expected at least {min_baseline_days}"
        )
    out = daily[["day", "status"]].copy()
    out["phase"] = np.where(base, "baseline", "monitoring")
    baseline: dict[str, dict[str, float]] = {}
    any_flag = np.zeros(n_days, bool)
    any_cusum = np.zeros(n_days, bool)
    for m in measures:
        x = daily[m].to_numpy(float)
        use = ok & base & np.isfinite(x)
        mean = float(np.mean(x[use]))
        sd_between = float(np.std(x[use], ddof=1)) if use.sum() > 1 else 0.0
        se = daily[f"{m}_se"].to_numpy(float) if f"{m}_se" in daily else np.full(n_days, np.nan)
        sd_within = float(np.sqrt(np.nanmean(se[use] ** 2))) if np.isfinite(se[use]).any() else 0.0
        sd = max(sd_between, sd_within)
        if not sd > 0:
            raise EmocircError(f"baseline of {m}: no variation over the baseline days; cannot scale z-scores")
        baseline[m] = {"mean": mean, "sd": sd, "sd_between": sd_between, "sd_within": sd_within}
        baseline[m]["days"] = int(use.sum())
        z = np.where(ok & np.isfinite(x), (x - mean) / sd, np.nan)
        ewma, limit = np.full(n_days, np.nan), np.full(n_days, np.nan)
        cpos, cneg = np.full(n_days, np.nan), np.full(n_days, np.nan)
        e, sp, sn, t = 0.0, 0.0, 0.0, 0
        for i in np.flatnonzero(~base):
            if np.isfinite(z[i]):
                t += 1
                e = ewma_lambda * z[i] + (1 - ewma_lambda) * e
                sp, sn = max(0.0, sp + z[i] - cusum_k), max(0.0, sn - z[i] - cusum_k)
            if t > 0:
                ewma[i], cpos[i], cneg[i] = e, sp, sn
                limit[i] = ewma_L * np.sqrt(
                    ewma_lambda / (2 - ewma_lambda) * (1 - (1 - ewma_lambda) ** (2 * t))
                )
        valid = np.isfinite(z) & ~base
        flag = valid & (np.abs(np.nan_to_num(ewma)) > np.nan_to_num(limit, nan=np.inf))
        cflag = valid & ((np.nan_to_num(cpos) > cusum_h) | (np.nan_to_num(cneg) > cusum_h))
        out[f"{m}_z"], out[f"{m}_ewma"], out[f"{m}_limit"], out[f"{m}_flag"] = z, ewma, limit, flag
        out[f"{m}_cusum_pos"], out[f"{m}_cusum_neg"], out[f"{m}_cusum_flag"] = cpos, cneg, cflag
        any_flag |= flag
        any_cusum |= cflag
    out["flag"], out["cusum_flag"] = any_flag, any_cusum
    out.attrs["baseline"] = baseline
    out.attrs["params"] = {
        "baseline_days": baseline_days,
        "ewma_lambda": ewma_lambda,
        "ewma_L": ewma_L,
        "cusum_k": cusum_k,
        "cusum_h": cusum_h,
    }
    return out.reset_index(drop=True)


def first_flag(chart: pd.DataFrame, from_index: int, column: str = "flag") -> int | None:
    """Days from day ``from_index`` to the first flagged day at or after it; None when none.

    Examples
    --------
    >>> chart = pd.DataFrame({"flag": [False, True, False, False, True]})
    >>> first_flag(chart, 2), first_flag(chart, 5)
    (2, None)
    """
    flags = np.flatnonzero(chart[column].to_numpy(bool)[from_index:])
    return int(flags[0]) if len(flags) else None


# --------------------------------------------------------------------------- helpers


def _require(df: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise EmocircError(
            f"mood table: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}"
        )
