"""Checking mood monitoring against a known truth: synthetic controls and changers.

A *control* speaks with one emotion mix for the whole diary; a *changer*
switches from one mix to another on a known day.  Both are synthetic diaries
(:func:`emocirc.diary.make_diary`), each person with a voice of their own
(:func:`emocirc.diary.diary_voices`), over several seeds
(:func:`make_cohort`).  After mapping and charting each person
(:func:`emocirc.diary_report.build_report`), :func:`person_outcome` scores
the chart against the truth and :func:`validation_summary` pools the
persons: the false-alarm rate on controls (and on changers before their
change), the share of changers detected and the detection delay, and
whether the direction of the change in valence and arousal is recovered,
each with an interval.

Which interval goes with which number (the ``interval`` column of
:func:`validation_summary`):

- a share of *persons* (controls with any false alarm, changers detected,
  direction recovered): each person is one trial, independent of the
  others, so the Wilson score interval (:data:`WILSON`);
- a rate over *days* pooled from several persons (false alarms per
  monitored day): one person's days are not independent (a person whose
  voice sits near a control limit is flagged on many days), so the persons
  are resampled whole -- the book's speaker bootstrap with persons as the
  clusters, :func:`emocirc.inference.cluster_proportion`
  (:data:`PERSON_BOOTSTRAP`); a Wilson interval on the pooled days would
  count correlated days as independent trials and come out too narrow.
  Only where every person has the same rate (no flagged day at all, say),
  so that resampling persons cannot vary it, is the days' Wilson interval
  given instead, labelled so (:data:`WILSON_DAYS`): it is then a lower
  bound on the uncertainty;
- the mean detection delay: the same person bootstrap over the detected
  changers.

All of it measures the method on synthetic speech; it says nothing about
how a person's mood shows in their voice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emocirc.errors import EmocircError
from emocirc.inference import cluster_proportion, speaker_bootstrap

#: Interval of a share of persons (each person one independent trial).
WILSON = "Wilson (each person one trial)"
#: Interval of a quantity pooled over several days of each person.
PERSON_BOOTSTRAP = "person bootstrap (persons resampled, all their days kept)"
#: The persons' rates are all equal (none flagged, say): the person bootstrap has nothing to
#: resample, and the days' Wilson interval is given instead, a lower bound on the uncertainty.
WILSON_DAYS = "Wilson on days (every person's rate the same, nothing to resample over persons)"
#: Fewer than two persons: nothing to resample.
NO_INTERVAL = "none (fewer than 2 persons)"

#: The two kinds of synthetic person.
ROLES = ("control", "changer")


def make_cohort(
    out: str | os.PathLike[str],
    seeds: Sequence[int] = (0, 1, 2),
    days: int = 14,
    change_day: int = 10,
    recordings_per_day: int = 4,
    recording_s: float = 12.0,
    start_mix: Mapping[str, float] | None = None,
    end_mix: Mapping[str, float] | None = None,
    synthesizer_factory: Callable[[str, str, int], Any] | None = None,
) -> pd.DataFrame:
    """Write one control and one changer diary per seed under ``out`` (reused when already there).

    Parameters
    ----------
    out:
        Folder holding one diary folder per person.
    seeds:
        One control and one changer per seed.
    days, recordings_per_day, recording_s:
        Size of every diary.
    change_day:
        Day index on which the changers' mix switches from ``start_mix``
        to ``end_mix`` (default :data:`emocirc.diary.HEALTHY_MIX` to
        :data:`emocirc.diary.DIMINISHED_MIX`); the controls keep ``start_mix``.
    synthesizer_factory:
        ``(voice, gender, seed) -> synthesizer`` (default
        :func:`emocirc.diary.espeak_synthesizer`).

    Returns
    -------
    One row per person: ``person``, ``role``, ``seed``, ``voice``, ``root``,
    ``change_day`` (None for controls).

    Examples
    --------
    >>> import tempfile
    >>> from emocirc.diary import tone_synthesizer
    >>> c = make_cohort(tempfile.mkdtemp(), seeds=[0], days=3, change_day=2, recordings_per_day=1,
    ...                 recording_s=3, synthesizer_factory=lambda v, g, s: tone_synthesizer)
    >>> c[["person", "role", "voice"]].values.tolist()
    [['control-0', 'control', 'en+linda'], ['changer-0', 'changer', 'en+paul']]
    """
    from emocirc.diary import DIMINISHED_MIX, HEALTHY_MIX, diary_voices, espeak_synthesizer, make_diary
    from emocirc.provenance import SYNTHETIC_MARKER

    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise EmocircError(f"cohort seeds {seeds}: expected distinct seeds, at least one")
    start = dict(HEALTHY_MIX if start_mix is None else start_mix)
    end = dict(DIMINISHED_MIX if end_mix is None else end_mix)
    factory = synthesizer_factory or (lambda voice, gender, seed: espeak_synthesizer(voice, gender, seed))
    voices = diary_voices(len(ROLES) * len(seeds))
    out = Path(out)
    rows = []
    for k, seed in enumerate(seeds):
        for r, role in enumerate(ROLES):
            voice, gender = voices[len(ROLES) * k + r]
            person = f"{role}-{seed}"
            root = out / person
            diary_seed = 1000 * r + seed  # controls and changers draw their emotions independently
            kwargs = {
                "days": days,
                "recordings_per_day": recordings_per_day,
                "recording_s": recording_s,
                "seed": diary_seed,
                "start_mix": start,
                "end_mix": end if role == "changer" else start,
                "change_day": change_day if role == "changer" else None,
                "speaker": person,
            }
            marker = root / SYNTHETIC_MARKER
            if marker.is_file():
                meta = json.loads(marker.read_text())
                same = all(meta.get(key) == value for key, value in kwargs.items() if key != "speaker")
                if not same:
                    raise EmocircError(
                        f"{root} holds a different diary: expected {kwargs}; remove it or pick another out"
                    )
            else:
                make_diary(root, synthesizer=factory(voice, gender, diary_seed), **kwargs)
            rows.append(
                {
                    "person": person,
                    "role": role,
                    "seed": seed,
                    "voice": voice,
                    "root": str(root),
                    "change_day": change_day if role == "changer" else None,
                }
            )
    return pd.DataFrame(rows)


def ensure_cohort(cache_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> pd.DataFrame:
    """:func:`make_cohort` in emocirc's cache, keyed by everything that shapes its audio; reused when there.

    The folder is ``<cache_dir>/diaries/cohort-<hash>`` (``cache_dir``
    defaults to :func:`emocirc._io.default_cache_dir`); the hash covers the
    arguments (``kwargs`` of :func:`make_cohort`, default eSpeak voices
    only), the diary persons' voices, the diary generator's code and the
    synthetic corpora's version key (generator version, eSpeak NG version,
    rule table).

    Examples
    --------
    >>> import tempfile
    >>> cache, kw = tempfile.mkdtemp(), dict(seeds=[0], days=2, change_day=1, recordings_per_day=1, recording_s=2)
    >>> a, b = ensure_cohort(cache, **kw), ensure_cohort(cache, **kw)
    >>> a.equals(b), Path(a["root"][0]).parent.parent.name
    (True, 'diaries')
    """
    import hashlib
    import inspect

    from emocirc import diary
    from emocirc._io import default_cache_dir
    from emocirc.synth import corpus_key

    if "synthesizer_factory" in kwargs:
        raise EmocircError(
            "ensure_cohort: a custom synthesizer cannot be keyed; call make_cohort with a folder"
        )
    n = len(ROLES) * len(list(kwargs.get("seeds", (0, 1, 2))))
    key = {
        "kwargs": {k: (list(v) if isinstance(v, tuple) else v) for k, v in sorted(kwargs.items())},
        "voices": diary.diary_voices(n),
        "code": hashlib.sha256(
            (inspect.getsource(diary.make_diary) + inspect.getsource(diary.espeak_synthesizer)).encode()
            + json.dumps(list(diary.DIARY_LINES)).encode()
        ).hexdigest(),
        "synth": corpus_key("emodb"),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:12]
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return make_cohort(base / "diaries" / f"cohort-{digest}", **kwargs)


def person_outcome(report: Any, role: str, change_day: int | None) -> dict[str, Any]:
    """Score one person's chart against the truth.

    Parameters
    ----------
    report:
        The person's :class:`emocirc.diary_report.MoodReport` (its diary
        map must hold the true positions of a synthetic diary).
    role:
        ``"control"`` or ``"changer"``.
    change_day:
        The changer's change day index (ignored for controls).

    Returns
    -------
    ``monitored_days`` and ``false_alarms``: the monitored days with a
    number before any change (every monitored day for a control) and how
    many of them were flagged; for a changer ``delay`` (days from the change
    to the first flag, None when never flagged) and per axis
    ``<axis>_delay``, ``<axis>_shift`` (mean z-score after the change),
    ``<axis>_true_change`` (true daily mean after minus before) and
    ``<axis>_recovered`` (same sign).
    """
    from emocirc.mood import OK, first_flag

    if role not in ROLES:
        raise EmocircError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    chart = report.chart
    n = len(chart)
    idx = np.arange(n)
    monitored = (chart["phase"] == "monitoring").to_numpy() & (chart["status"] == OK).to_numpy()
    before = monitored if role == "control" else monitored & (idx < int(change_day))
    out: dict[str, Any] = {
        "person": report.person,
        "role": role,
        "monitored_days": int(before.sum()),
        "false_alarms": int(chart["flag"].to_numpy(bool)[before].sum()),
    }
    if role == "changer":
        if change_day is None or not 0 <= change_day < n:
            raise EmocircError(f"change_day={change_day}: expected a day index 0..{n - 1}")
        if change_day < int((chart["phase"] == "baseline").sum()):
            raise EmocircError(f"change_day={change_day}: expected a change after the baseline days")
        out["delay"] = first_flag(chart, change_day)
        truth = report.diary_map.truth_summary()
        if truth is None:
            raise EmocircError(
                "person outcome: the diary map holds no true positions (not a synthetic diary)"
            )
        truth = truth.set_index(truth["day"].astype(str)).reindex(chart["day"].astype(str))
        after = idx >= change_day
        for axis in ("valence", "arousal"):
            out[f"{axis}_delay"] = first_flag(chart, change_day, f"{axis}_mean_flag")
            z = chart[f"{axis}_mean_z"].to_numpy(float)
            out[f"{axis}_shift"] = float(np.nanmean(z[after])) if np.isfinite(z[after]).any() else np.nan
            t = truth[f"{axis}_mean"].to_numpy(float)
            out[f"{axis}_true_change"] = float(np.nanmean(t[after]) - np.nanmean(t[~after]))
            out[f"{axis}_recovered"] = bool(
                np.sign(out[f"{axis}_shift"]) == np.sign(out[f"{axis}_true_change"])
            )
    return out


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (NaN when ``n == 0``).

    Examples
    --------
    >>> [round(x, 3) for x in wilson_interval(0, 10)]
    [0.0, 0.278]
    """
    from scipy.stats import norm

    if n == 0:
        return (np.nan, np.nan)
    z = float(norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def validation_summary(
    outcomes: pd.DataFrame, level: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Pool the persons' outcomes into the numbers a validation reports, each with an interval.

    Rows (``quantity``): ``false alarms per monitored day (controls)``,
    ``controls with any false alarm``, ``false alarms per day before the
    change (changers)``, ``changers detected``, ``detection delay (days)``
    (mean over detected changers, bootstrap interval over them), and per
    axis ``<axis> flagged``, ``<axis> direction recovered``.  Columns:
    ``quantity``, ``estimate``, ``low``, ``high``, ``k``, ``n``,
    ``interval`` (which scheme gave ``low``/``high``, see the module notes):
    shares of persons carry Wilson intervals (:data:`WILSON`); the per-day
    false-alarm rates, which pool several days of each person, and the mean
    delay carry person-bootstrap intervals (:data:`PERSON_BOOTSTRAP`;
    :data:`NO_INTERVAL`, NaN, with fewer than two persons).

    Examples
    --------
    >>> o = pd.DataFrame([
    ...     {"role": "control", "monitored_days": 7, "false_alarms": 0},
    ...     {"role": "changer", "monitored_days": 3, "false_alarms": 0, "delay": 1,
    ...      "valence_delay": 1, "arousal_delay": None, "valence_recovered": True, "arousal_recovered": False}])
    >>> s = validation_summary(o).set_index("quantity")
    >>> int(s.loc["changers detected", "k"]), float(s.loc["detection delay (days)", "estimate"])
    (1, 1.0)
    """
    rows = []

    def proportion(name: str, k: int, n: int) -> None:
        lo, hi = wilson_interval(k, n, level)
        rows.append(
            {"quantity": name, "estimate": k / n if n else np.nan, "low": lo, "high": hi, "k": k, "n": n,
             "interval": WILSON}
        )  # fmt: skip

    def day_rate(name: str, persons: pd.DataFrame, offset: int) -> None:
        k = persons["false_alarms"].to_numpy(float)
        n = persons["monitored_days"].to_numpy(float)
        row = {"quantity": name, "k": int(k.sum()), "n": int(n.sum())}
        row["estimate"] = k.sum() / n.sum() if n.sum() else np.nan
        row |= {"low": np.nan, "high": np.nan, "interval": NO_INTERVAL}
        if len(persons) >= 2 and n.sum() > 0:
            res = cluster_proportion(k, n, n_resamples=n_boot, confidence_level=level, seed=seed + offset)
            row |= {"low": float(res.low[0]), "high": float(res.high[0]), "interval": PERSON_BOOTSTRAP}
            if row["high"] - row["low"] <= 0:
                # Every person has the same rate (no flagged day, say): nothing varies between them.
                lo, hi = wilson_interval(int(k.sum()), int(n.sum()), level)
                row |= {"low": lo, "high": hi, "interval": WILSON_DAYS}
        rows.append(row)

    controls = outcomes[outcomes["role"] == "control"]
    changers = outcomes[outcomes["role"] == "changer"]
    day_rate("false alarms per monitored day (controls)", controls, 0)
    proportion("controls with any false alarm", int((controls["false_alarms"] > 0).sum()), len(controls))
    day_rate("false alarms per day before the change (changers)", changers, 1)
    if len(changers):
        delays = pd.to_numeric(changers["delay"], errors="coerce")
        detected = delays.dropna().to_numpy(float)
        proportion("changers detected", len(detected), len(changers))
        row = {"quantity": "detection delay (days)", "k": len(detected), "n": len(changers)}
        row |= {"interval": NO_INTERVAL}
        if len(detected):
            row["estimate"] = float(detected.mean())
        if len(detected) >= 2:
            res = speaker_bootstrap(
                lambda idx: detected[idx].mean(),
                np.arange(len(detected)),
                n_resamples=n_boot,
                confidence_level=level,
                seed=seed + 2,
                within=False,
            )
            row |= {"low": float(res.low[0]), "high": float(res.high[0]), "interval": PERSON_BOOTSTRAP}
        rows.append(row)
        for axis in ("valence", "arousal"):
            flagged = pd.to_numeric(changers[f"{axis}_delay"], errors="coerce").notna()
            proportion(f"{axis} flagged (changers)", int(flagged.sum()), len(changers))
            proportion(
                f"{axis} direction recovered (changers)",
                int(changers[f"{axis}_recovered"].astype(bool).sum()),
                len(changers),
            )
    return pd.DataFrame(rows, columns=["quantity", "estimate", "low", "high", "k", "n", "interval"])


def evaluate_cohort(
    cohort: pd.DataFrame,
    backbone: Any,
    mapping: Any,
    layer: int,
    window_s: float = 3.0,
    hop_s: float = 3.0,
    baseline_days: int = 7,
    min_speech_s: float = 20.0,
    n_boot: int = 200,
    ewma_lambda: float = 0.3,
    ewma_L: float = 3.0,
    grid_size: int = 50,
    bandwidth: float = 0.15,
    device: str = "cpu",
    vad: str = "auto",
    seed: int = 0,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Map, chart and score every person of a cohort from :func:`make_cohort`.

    Returns the persons' :class:`emocirc.diary_report.MoodReport` (keyed by
    person) and their :func:`person_outcome` rows as a table.
    """
    from emocirc.diary import map_diary
    from emocirc.diary_report import build_report

    reports, rows = {}, []
    for person in cohort.itertuples(index=False):
        change = None if pd.isna(person.change_day) else int(person.change_day)
        diary_map = map_diary(
            person.root,
            backbone,
            mapping,
            layer=layer,
            window_s=window_s,
            hop_s=hop_s,
            grid_size=grid_size,
            bandwidth=bandwidth,
            device=device,
            vad=vad,
        )
        (report,) = build_report(
            diary_map,
            baseline_days=baseline_days,
            min_speech_s=min_speech_s,
            n_boot=n_boot,
            ewma_lambda=ewma_lambda,
            ewma_L=ewma_L,
            seed=seed,
            change_day=change,
        )
        reports[person.person] = report
        rows.append(
            {**person_outcome(report, person.role, change), "seed": person.seed, "voice": person.voice}
        )
    return reports, pd.DataFrame(rows)


def validation_text(summary: pd.DataFrame, level: float = 0.95) -> list[str]:
    """Sentences that read a :func:`validation_summary` out, axis by axis, from its numbers alone.

    Where an interval does not settle a claim (a direction recovered no
    more often than chance, one half of the time), the sentence says so.

    Examples
    --------
    >>> o = pd.DataFrame([{"role": "control", "monitored_days": 7, "false_alarms": 0}])
    >>> validation_text(validation_summary(o))[0]
    'Controls: 0 of 7 monitored days flagged (false-alarm rate 0%, no interval: fewer than 2 persons to resample); 0 of 1 controls had any false alarm.'
    """
    s = summary.set_index("quantity")
    pct = f"{level:.0%}"

    def span(q: str, fmt: str = ".0%") -> str:
        lo, hi = s.loc[q, "low"], s.loc[q, "high"]
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return "no interval: fewer than 2 persons to resample"
        how = {PERSON_BOOTSTRAP: " over persons", WILSON_DAYS: " (Wilson, days as trials)"}
        how = how.get(s.loc[q, "interval"], "")
        return f"{pct} interval{how} {lo:{fmt}}-{hi:{fmt}}"

    lines = []
    q = "false alarms per monitored day (controls)"
    if q in s.index and s.loc[q, "n"] > 0:
        any_q = "controls with any false alarm"
        lines.append(
            f"Controls: {s.loc[q, 'k']:.0f} of {s.loc[q, 'n']:.0f} monitored days flagged "
            f"(false-alarm rate {s.loc[q, 'estimate']:.0%}, {span(q)}); "
            f"{s.loc[any_q, 'k']:.0f} of {s.loc[any_q, 'n']:.0f} controls had any false alarm."
        )
    q = "false alarms per day before the change (changers)"
    if q in s.index and s.loc[q, "n"] > 0:
        lines.append(
            f"Changers before their change: {s.loc[q, 'k']:.0f} of {s.loc[q, 'n']:.0f} monitored days flagged "
            f"({s.loc[q, 'estimate']:.0%}, {span(q)})."
        )
    if "changers detected" in s.index:
        q = "changers detected"
        text = (
            f"Detection: {s.loc[q, 'k']:.0f} of {s.loc[q, 'n']:.0f} changers flagged on or after the change day "
            f"({span(q)})"
        )
        d = "detection delay (days)"
        if s.loc[d, "k"] > 0:
            text += (
                f"; mean delay {s.loc[d, 'estimate']:.1f} days after the change "
                f"({span(d, '.1f')}, over the detected ones)."
            )
        else:
            text += "; none was flagged, so there is no delay to report."
        lines.append(text)
        for axis in ("valence", "arousal"):
            f, r = f"{axis} flagged (changers)", f"{axis} direction recovered (changers)"
            if s.loc[r, "low"] > 0.5:
                verdict = "more often than chance (one half) would give"
            elif s.loc[r, "high"] < 0.5:
                verdict = "less often than chance: the change shows in the opposite direction"
            else:
                verdict = "an interval that includes chance (one half), so these persons do not show that it is recovered"
            lines.append(
                f"{axis.capitalize()}: flagged in {s.loc[f, 'k']:.0f} of {s.loc[f, 'n']:.0f} changers; the "
                f"direction of the true change recovered in {s.loc[r, 'k']:.0f} of {s.loc[r, 'n']:.0f} "
                f"({span(r)}), {verdict}."
            )
    return lines
