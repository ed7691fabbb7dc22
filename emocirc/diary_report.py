"""The mood-monitoring report of a diary: one self-contained HTML page and its tables.

:func:`build_report` turns a diary placed on the circumplex
(:class:`emocirc.diary.DiaryMap`) into a :class:`MoodReport` per person:
speech per recording and day, the affect dynamics per day and week
(:mod:`emocirc.mood`), the baseline z-scores and the EWMA/CUSUM chart.
:func:`write_report` writes, atomically as one folder, ``report.html``
(figures embedded as PNG, so it opens offline) and the CSV tables behind it.
The page says what it is: a research measurement of a voice signal, not a
diagnosis.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from emocirc._io import atomic_dir
from emocirc.errors import EmocircError
from emocirc.inference import BLOCK_SCHEME
from emocirc.mood import MEASURES

#: The sentence every report carries.
NOT_A_DIAGNOSIS = (
    "This is a research measurement of the voice, not a diagnosis: the numbers describe how a "
    "speech model places these recordings on the valence-arousal plane, relative to the person's "
    "own baseline. They are not validated for clinical use and must not guide care on their own."
)

#: Columns of the dynamics table shown on the page: every measure but the
#: quadrant shares, which are in the CSV.
SHOWN = tuple(m for m in MEASURES if not m.startswith("share_"))

#: The quadrant shares (valence sign x arousal sign) of the dynamics table.
QUADRANT_SHARES = (
    "share_pleasant_activated",
    "share_unpleasant_activated",
    "share_unpleasant_deactivated",
    "share_pleasant_deactivated",
)


@dataclass
class MoodReport:
    """Everything one person's report shows.

    Attributes
    ----------
    person:
        The speaker name (``""`` for a one-person diary).
    diary_map:
        The person's :class:`emocirc.diary.DiaryMap`.
    daily, weekly:
        :func:`emocirc.mood.day_dynamics` and :func:`emocirc.mood.week_dynamics`.
    chart:
        :func:`emocirc.mood.mood_chart` of the daily means.
    params:
        The monitoring parameters (baseline days, minimum speech, EWMA...).
    """

    person: str
    diary_map: Any
    daily: pd.DataFrame
    weekly: pd.DataFrame
    chart: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)

    def flagged_days(self) -> list[str]:
        """Days the EWMA chart flags."""
        return self.chart.loc[self.chart["flag"], "day"].astype(str).tolist()

    def figures(self) -> dict[str, Any]:
        """The report's figures (matplotlib), keyed by name, in page order."""
        from emocirc.mood import CHART_MEASURES
        from emocirc.plotting.heatmap import plot_day_densities
        from emocirc.plotting.mood import plot_control_chart, plot_speech_grid

        recordings = self.diary_map.recordings
        if recordings is None:
            raise EmocircError("report: the diary map has no speech per recording (map it with map_diary)")
        days = self.daily["day"].astype(str).tolist()
        return {
            "speech": plot_speech_grid(recordings, days, min_speech_s=self.params.get("min_speech_s")),
            "heatmaps": plot_day_densities(self.diary_map),
            "chart": plot_control_chart(
                self.chart, measures=list(CHART_MEASURES), change_day=self.params.get("change_day")
            ),
        }


def build_report(
    diary_map: Any,
    baseline_days: int = 7,
    min_speech_s: float = 20.0,
    min_week_speech_s: float = 60.0,
    n_boot: int = 200,
    ewma_lambda: float = 0.3,
    ewma_L: float = 3.0,
    seed: int = 0,
    change_day: int | None = None,
) -> list[MoodReport]:
    """One :class:`MoodReport` per person (speaker) of a mapped diary.

    Parameters
    ----------
    diary_map:
        A :class:`emocirc.diary.DiaryMap` from :func:`emocirc.diary.map_diary`
        (it carries the speech per recording).
    baseline_days:
        The first days that make the personal baseline.
    min_speech_s, min_week_speech_s:
        Speech a day (a week) needs to get a number.
    n_boot:
        Resamples of each interval (the block bootstrap of consecutive
        windows, :func:`emocirc.inference.block_bootstrap`).
    ewma_lambda, ewma_L:
        EWMA weight and width of the control limits (in SDs of the EWMA).
    seed:
        Seed of the block bootstrap.
    change_day:
        Index of a known change (synthetic diaries), only drawn.
    """
    from emocirc.diary import DiaryMap
    from emocirc.mood import day_dynamics, mood_chart, week_dynamics

    if diary_map.recordings is None:
        raise EmocircError("report: the diary map has no speech per recording (map it with map_diary)")
    windows, recordings = diary_map.windows, diary_map.recordings
    if "speaker" not in windows:
        windows = windows.assign(speaker="")
    if "speaker" not in recordings:
        recordings = recordings.assign(speaker="")
    people = sorted(set(recordings["speaker"].astype(str)))
    reports = []
    for person in people:
        rec = recordings[recordings["speaker"].astype(str) == person].reset_index(drop=True)
        win = windows[windows["speaker"].astype(str) == person].reset_index(drop=True)
        if len(win) == 0:
            who = f"person {person!r}" if person else "the diary"
            raise EmocircError(f"report: no recording of {who} held speech; expected speech recordings")
        params = dict(diary_map.params)
        grid_size = int(params.get("grid_size", len(diary_map.grid)))
        bandwidth, method = float(params.get("bandwidth", 0.15)), str(params.get("method", "kde"))
        own_params = {k: v for k, v in params.items() if k not in ("grid_size", "bandwidth", "method")}
        own = DiaryMap.from_windows(
            win, grid_size=grid_size, bandwidth=bandwidth, method=method, params=own_params, recordings=rec
        )
        daily = day_dynamics(win, rec, min_speech_s=min_speech_s, n_boot=n_boot, seed=seed)
        weekly = week_dynamics(win, rec, min_speech_s=min_week_speech_s, n_boot=n_boot, seed=seed)
        try:
            chart = mood_chart(daily, baseline_days=baseline_days, ewma_lambda=ewma_lambda, ewma_L=ewma_L)
        except EmocircError as err:
            if not person:
                raise
            raise EmocircError(f"person {person!r}: {err}") from None
        monitoring = {
            "baseline_days": baseline_days,
            "min_speech_s": min_speech_s,
            "min_week_speech_s": min_week_speech_s,
            "n_boot": n_boot,
            "ewma_lambda": ewma_lambda,
            "ewma_L": ewma_L,
            "seed": seed,
            "change_day": change_day,
        }
        reports.append(MoodReport(person, own, daily, weekly, chart, monitoring))
    return reports


def write_report(
    reports: Sequence[MoodReport],
    out: str | os.PathLike[str],
    provenance: Mapping[str, str],
    title: str = "Mood diary report",
) -> Path:
    """Write ``report.html`` and the tables of every person into ``out``, atomically as one folder.

    Per person (``<person>_`` prefix when there are several): ``days.csv``
    (dynamics per day with intervals and status), ``weeks.csv``,
    ``chart.csv`` (z-scores, EWMA, limits, flags), ``recordings.csv``
    (speech per recording), ``windows.csv``; and ``provenance.json``.

    Parameters
    ----------
    reports:
        From :func:`build_report`.
    out:
        Folder to write (replaced as a whole if it exists).
    provenance:
        Lines naming the data and the backbone (e.g. from
        :func:`report_provenance`); shown on the page and saved.
    title:
        Page title.
    """
    import matplotlib.pyplot as plt

    if not reports:
        raise EmocircError("report: expected at least one person's report")
    out = Path(out)
    sections = []
    with atomic_dir(out) as tmp:
        for rep in reports:
            prefix = f"{_safe(rep.person)}_" if len(reports) > 1 else ""
            rep.daily.to_csv(tmp / f"{prefix}days.csv", index=False)
            rep.weekly.to_csv(tmp / f"{prefix}weeks.csv", index=False)
            rep.chart.to_csv(tmp / f"{prefix}chart.csv", index=False)
            rep.diary_map.recordings.drop(columns=["segments"], errors="ignore").to_csv(
                tmp / f"{prefix}recordings.csv", index=False
            )
            rep.diary_map.windows.to_csv(tmp / f"{prefix}windows.csv", index=False)
            figures = rep.figures()
            images = {name: _png(fig) for name, fig in figures.items()}
            for fig in figures.values():
                plt.close(fig)
            sections.append(_section(rep, images))
        meta = {
            "title": title,
            "written": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "provenance": dict(provenance),
            "people": [rep.person for rep in reports],
            "monitoring": reports[0].params,
            "mapping": {k: v for k, v in reports[0].diary_map.params.items()},
            "statement": NOT_A_DIAGNOSIS,
        }
        (tmp / "provenance.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")
        (tmp / "report.html").write_text(_page(title, meta, sections), encoding="utf-8")
    return out


def report_provenance(
    diary_root: Any, backbone: Any, mapping_data: Any = None, vad: str = ""
) -> dict[str, str]:
    """The report's provenance lines: what the diary is, which backbone, what the mapping was fitted on.

    Examples
    --------
    >>> report_provenance("/nowhere", "tiny")["backbone"].startswith("`tiny`")
    True
    """
    from emocirc.provenance import describe_backbone, describe_data, is_synthetic

    lines = {
        "diary": describe_data("Mood diary", diary_root)
        if is_synthetic(diary_root)
        else f"recordings at `{diary_root}`",
        "backbone": describe_backbone(backbone),
    }
    if mapping_data is not None:
        lines["mapping fitted on"] = (
            describe_data("IEMOCAP", mapping_data) if is_synthetic(mapping_data) else f"`{mapping_data}`"
        )
    if vad:
        lines["voice activity detector"] = {
            "silero": "Silero VAD (silero-vad package)",
            "energy": "energy gate (silero-vad not installed)",
        }.get(vad, vad)
    return lines


# --------------------------------------------------------------------------- HTML


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "person"


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, na_rep="", float_format=lambda x: f"{x:.2f}", border=0, classes="t")


def interval_table(daily: pd.DataFrame, key: str = "day", measures: Sequence[str] = SHOWN) -> pd.DataFrame:
    """The dynamics table as shown: each measure as ``estimate [low, high]``, a dash where a period has no number.

    Examples
    --------
    >>> d = pd.DataFrame({"day": ["a", "b"], "speech_s": [30.0, 2.0], "status": ["ok", "not enough speech"],
    ...                   "valence_mean": [0.2, None], "valence_mean_lo": [0.1, None], "valence_mean_hi": [0.3, None]})
    >>> interval_table(d, measures=["valence_mean"])["valence_mean"].tolist()
    ['0.20 [0.10, 0.30]', '—']
    """
    rows = []
    for _, row in daily.iterrows():
        out = {key: row[key], "speech (s)": f"{row['speech_s']:.0f}", "status": row["status"]}
        for m in measures:
            if row["status"] != "ok" or pd.isna(row[m]):
                out[m] = "—"
            elif pd.isna(row[f"{m}_lo"]):
                out[m] = f"{row[m]:.2f}"
            else:
                out[m] = f"{row[m]:.2f} [{row[f'{m}_lo']:.2f}, {row[f'{m}_hi']:.2f}]"
        rows.append(out)
    return pd.DataFrame(rows)


def _section(rep: MoodReport, images: Mapping[str, str]) -> str:
    who = html.escape(rep.person) if rep.person else "the diarist"
    rec = rep.diary_map.recordings
    flagged = rep.flagged_days()
    base = rep.chart.attrs.get("baseline", {})
    base_lines = "".join(
        f"<li>{html.escape(m.replace('_mean', ''))}: mean {b['mean']:+.2f}, SD {b['sd']:.2f} "
        f"over {b['days']} day(s)</li>"
        for m, b in base.items()
    )
    n_short = int((rep.daily["status"] == "not enough speech").sum())
    n_missing = int((rep.daily["status"] == "no recording").sum())
    chart_cols = ["day", "status", "phase"]
    for m in base:
        chart_cols += [f"{m}_z", f"{m}_ewma", f"{m}_limit", f"{m}_flag"]
    chart_cols += ["flag", "cusum_flag"]
    parts = [
        f"<h2>Person: {who}</h2>",
        f"<p>{len(rec)} recordings over {len(rep.daily)} calendar days; "
        f"{rec['speech_s'].sum():.0f} s of speech in all. {n_short} day(s) with not enough speech "
        f"(under {rep.params['min_speech_s']:g} s) and {n_missing} day(s) without a recording get no number.</p>",
        "<h3>Speech per day and time of day</h3>",
        f'<img alt="speech grid" src="data:image/png;base64,{images["speech"]}">',
        "<h3>Emotional heat map, day by day</h3>",
        f'<img alt="heat maps" src="data:image/png;base64,{images["heatmaps"]}">',
        "<h3>Against the personal baseline</h3>",
        f"<p>Baseline: the first {rep.params['baseline_days']} days.</p><ul>{base_lines}</ul>",
        f"<p>EWMA (lambda {rep.params['ewma_lambda']:g}) with control limits at "
        f"{rep.params['ewma_L']:g} SD of the EWMA. Flagged days: "
        f"{html.escape(', '.join(flagged)) if flagged else 'none'}.</p>",
        f'<img alt="control chart" src="data:image/png;base64,{images["chart"]}">',
        _table(rep.chart[chart_cols]),
        "<h3>Affect dynamics per day (95% block-bootstrap intervals)</h3>",
        f"<p>Intervals: {html.escape(BLOCK_SCHEME)}, within each day (week); "
        "emocirc.inference.block_bootstrap documents the scheme.</p>",
        _table(interval_table(rep.daily, "day", SHOWN)),
        "<h3>Share of time per circumplex quadrant, per day</h3>",
        _table(interval_table(rep.daily, "day", QUADRANT_SHARES)),
        "<h3>Per week</h3>",
        _table(interval_table(rep.weekly, "week", SHOWN)),
    ]
    return "\n".join(parts)


def _page(title: str, meta: Mapping[str, Any], sections: Sequence[str]) -> str:
    prov = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(str(v).replace('`', ''))}</li>"
        for k, v in meta["provenance"].items()
    )
    style = (
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "img{max-width:100%}table.t{border-collapse:collapse;font-size:12px;margin:1em 0}"
        "table.t td,table.t th{padding:2px 6px;border-bottom:1px solid #ddd;text-align:right}"
        ".warn{background:#fff3cd;border:1px solid #e0c36a;padding:.8em}"
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{style}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class='warn'><b>{html.escape(NOT_A_DIAGNOSIS)}</b></p>"
        f"<h2>Provenance</h2><ul>{prov}</ul><p>Written {html.escape(meta['written'])} by emocirc.</p>"
        + "\n".join(sections)
        + "</body></html>\n"
    )
