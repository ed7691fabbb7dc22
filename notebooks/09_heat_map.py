# %% [markdown]
# # The emotional heat map, and mood monitoring from the voice alone
#
# **Reproduces**: the aim behind the seed report's Figure 6 ("Visualization
# of emotion changing during two weeks in a Circumplex Model"). There, a
# company's tool drew a person's emotions over two weeks as a heat map on
# Russell's circumplex {cite}`russell1980`, from face and voice; a healthy
# emotional tone showed as a varied map centred near neutral, a diminished
# one as low intensity and a preponderance of neutral and low states. The
# report's long-term aim {cite}`dasilva2023` was to draw the same map *from
# the voice alone*, for the early detection of mood disorders. The seed shows
# the figure as a picture and gives no number, so this chapter builds the
# method, turns it into a monitoring instrument, and checks the instrument on
# synthetic diaries whose true emotions are known.
#
# The method: recordings from a mood diary are segmented by a voice activity
# detector (Silero VAD), cut into short windows, each window embedded with a
# wav2vec2-family encoder {cite}`baevski2020` and placed on the
# valence-arousal plane by a mapping fitted on a labelled corpus with
# valence and arousal ratings (the IEMOCAP layout {cite}`busso2008`). The
# windows of each day become a density over the circumplex (the heat map),
# and the day's *affect dynamics* as ecological momentary assessment measures
# them: mean level, variability (SD), instability (mean squared successive
# difference) and inertia (lag-1 autocorrelation). Monitoring is within the
# person: the first days are the person's own baseline, every later day is a
# z-score against it, and an EWMA control chart flags the days that leave the
# baseline's control limits.
#
# **What it needs**: a diary (by default a synthetic cohort: per seed one
# *control*, who keeps a varied, healthy tone for two weeks, and one
# *changer*, whose mix switches to sadness and boredom on a known day; each
# person a British-English eSpeak NG voice of their own, recording several
# times a day), the IEMOCAP-layout corpus, and an encoder.

# %% tags=["parameters"]
diary_root = (
    None  # your diary: folder of YYYY-MM-DD/HHMM*.wav or CSV path,day[,time][,speaker]; None = synthetic
)
iemocap_root = None  # IEMOCAP folder for fitting the mapping; None = the embedded synthetic corpus
skip_bad = False  # True: leave out damaged audio files (listed in the banner) instead of stopping
iemocap_scale = 1.0  # size of the synthetic IEMOCAP (1.0 = 900 utterances); the same in every chapter
seeds = [0, 1, 2]  # synthetic cohort: one control and one changer per seed
days = 14  # synthetic diaries: number of days (the seed's figure spans two weeks)
change_day = 10  # synthetic changers: day index (0-based) on which their emotion mix switches
recordings_per_day = 4  # synthetic diaries: recordings per day, spread from 09:00 to 21:00
recording_s = 10.0  # synthetic diaries: seconds per recording
baseline_days = 7  # the first days that make each person's baseline
min_speech_s = 15.0  # seconds of speech a day needs to get a number
n_boot = 100  # bootstrap resamples per interval
ewma_lambda = 0.3  # EWMA weight of the newest day
ewma_L = 3.0  # control limits, in standard deviations of the EWMA
backbone = (
    "tiny-pretrained"  # pre-trained here; "tiny" (random init), "base-random", a checkpoint or a hub id
)
device = "auto"
seed = 0
layer = None  # hidden state to use; None = the middle layer (paralinguistic information peaks there)
method = "ridge"  # mapping: "ridge" (to the ratings) or "procrustes" (emotion centres to the circumplex)
vad = "auto"  # voice activity detector: "silero", "energy" (a level gate), "auto" = silero if installed
window_s = 3.0  # window length in seconds
hop_s = 3.0  # hop between windows; equal to the window so that successive windows share no audio
explorer_windows = [6.0]  # further window lengths offered by the explorer (hop: the window)
grid_size = 50  # density cells per axis
bandwidth = 0.15  # Gaussian kernel width on the -1..1 plane

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from emocirc import diary as moods
from emocirc import diary_report, mood_validation
from emocirc.backbones import load_backbone
from emocirc.corpora import load_corpus
from emocirc.features import resolve_device
from emocirc.plotting import apply_style, heatmap
from emocirc.provenance import banner
from emocirc.synth import ensure_corpus
from emocirc.vad import resolve_vad

apply_style()
device = str(resolve_device(device))
work = Path(tempfile.mkdtemp())
train_root = iemocap_root or ensure_corpus("iemocap", seed=seed, scale=iemocap_scale)
cohort = None
if diary_root is None:
    cohort = mood_validation.ensure_cohort(
        seeds=seeds,
        days=days,
        change_day=change_day,
        recordings_per_day=recordings_per_day,
        recording_s=recording_s,
    )
    diary_root = cohort["root"].iloc[0]
encoder = load_backbone(backbone, device=device)
layer = encoder.num_layers // 2 if layer is None else layer
banner({"IEMOCAP": train_root, "Mood diary": diary_root}, backbone, skip_bad=skip_bad, corpora=["IEMOCAP"])

# %% [markdown]
# ## The diaries
#
# One row per person. A synthetic diary also keeps the truth: which emotion
# each utterance was spoken with. Controls draw every utterance from the
# healthy mix; changers from the healthy mix before `change_day` and from
# the diminished one (mostly sadness and boredom) from then on. A diary of
# your own recordings has no such truth, and the sections that compare with
# it are skipped.

# %%
if cohort is not None:
    display(cohort.drop(columns="root"))
    segments = pd.read_csv(Path(cohort["root"].iloc[1]) / "segments.csv")
    display(pd.crosstab(segments["day"], segments["label"], normalize="index").round(2))
print(f"voice activity detector: {resolve_vad(vad)}")

# %% [markdown]
# *Tables: the cohort, and the share of each emotion among each day's
# utterances of the first changer.*
#
# ## The mapping onto valence and arousal
#
# The mapping is fitted on the IEMOCAP-layout corpus, whose utterances carry
# valence and arousal ratings (1-5, rescaled to -1..1). Each utterance is
# embedded exactly as a diary window will be (the same encoder, layer and
# precision); `ridge` regresses the ratings on the principal components of
# the embeddings, `procrustes` moves the emotion centres onto their NRC VAD
# positions {cite}`mohammad2018`.

# %%
corpus = load_corpus(train_root, skip_bad=skip_bad)
mapping = moods.fit_corpus_mapping(corpus, encoder, layer, method=method, device=device, seed=seed)
print(f"fitted '{method}' on {len(corpus)} utterances, layer {layer} of {encoder.num_layers}")

# %% [markdown]
# ## Every person mapped and charted
#
# For each person: the voice activity detector finds the speech in every
# recording; windows of `window_s` seconds that are at least a quarter
# speech are embedded and mapped; each day gets its density and its affect
# dynamics with block-bootstrap intervals; days with less than
# `min_speech_s` seconds of speech get no number. The first `baseline_days` days are the person's baseline.

# %%
monitoring = {"baseline_days": baseline_days, "min_speech_s": min_speech_s, "n_boot": n_boot, "seed": seed}
monitoring |= {"ewma_lambda": ewma_lambda, "ewma_L": ewma_L}
map_options = {"window_s": window_s, "hop_s": hop_s, "grid_size": grid_size, "bandwidth": bandwidth}
if cohort is not None:
    reports, outcomes = mood_validation.evaluate_cohort(
        cohort, encoder, mapping, layer, device=device, vad=vad, **map_options, **monitoring
    )
else:
    own_map = moods.map_diary(
        diary_root, encoder, mapping, layer=layer, device=device, vad=vad, **map_options
    )
    built = diary_report.build_report(own_map, **monitoring)
    reports = {rep.person or "diarist": rep for rep in built}
shown = next((p for p in reports if p.startswith("changer")), next(iter(reports)))
report = reports[shown]
figures = report.figures()
plt.close("all")  # shown one by one below
print(
    f"{shown}: {len(report.diary_map.recordings)} recordings, flagged days: {report.flagged_days() or 'none'}"
)

# %% [markdown]
# The report of one person, as `emocirc diary report` writes it (the same
# figures and tables; the command line puts them into one self-contained
# HTML page with the provenance and the statement that this is a research
# measurement, not a diagnosis). First, how much speech each recording slot
# of each day held:

# %%
figures["speech"]

# %% [markdown]
# *Figure: speech seconds found by the voice activity detector per day and
# time-of-day slot; hatched cells had no recording; days below the minimum
# are marked.*
#
# Then the heat map, one density per day (the seed's Figure 6, from the
# voice alone):

# %%
figures["heatmaps"].suptitle(f"{shown}: one density per diary day", y=1.01)
figures["heatmaps"]

# %% [markdown]
# *Figure: each panel is one day, valence across and arousal up, with
# Russell's eight anchors at the rim; darker means more of that day's
# windows were placed there, on one colour scale for all days; the cross is
# the day's mean.*
#
# And the control chart: each day's mean valence and arousal as a z-score
# against the baseline (points), the EWMA (line), its control limits (band)
# and the flagged days (red), with the known change day of a synthetic
# changer dashed.

# %%
figures["chart"]

# %% [markdown]
# *Figure: baseline days shaded; days without a number are labelled.*
#
# The affect dynamics per day, each with its 95 % interval
# (`range` is the mean distance of the windows from the day's centre).
# These intervals are not the speaker bootstrap of the earlier chapters
# ({ref}`speaker-bootstrap`): a diary day has one speaker, and its windows
# are a time series whose neighbours share a mood. They come from the book's
# second scheme, the **block bootstrap** (`emocirc.inference.block_bootstrap`,
# documented beside the speaker bootstrap): each recording of the day is cut
# into blocks of consecutive windows, the blocks are resampled with
# replacement and laid end to end, and every measure is recomputed, so that
# the order within a block (what instability and inertia measure) survives
# and the interval carries the windows' serial dependence. A day of fewer
# than two blocks gets no interval.

# %%
display(diary_report.interval_table(report.daily, "day"))

# %% [markdown]
# The same per week (seven-day blocks from the first day), where a change
# shows as a step between the weeks:

# %%
display(diary_report.interval_table(report.weekly, "week"))

# %%
provenance = diary_report.report_provenance(
    report.diary_map.params["diary"], backbone, train_root, resolve_vad(vad)
)
out = diary_report.write_report([report], work / "report", provenance)
print(
    f"the HTML report of {shown}: {out / 'report.html'} ({(out / 'report.html').stat().st_size // 1024} KiB)"
)

# %% [markdown]
# ## Does the chart find the change, and only the change?
#
# Each synthetic person is scored against the truth: on a control, every
# flagged monitored day is a false alarm; on a changer, a flag before the
# change day is one too, and the *detection delay* is the number of days
# from the change to the first flag (0: flagged on the change day). The
# direction is recovered on an axis when the mean z-score after the change
# has the sign of the true change in that axis.
#
# Which interval goes with which number (the table's `interval` column): a
# share of *persons* (controls with any false alarm, changers detected,
# direction recovered) counts each person as one trial, independent of the
# others, and carries a Wilson interval. A false-alarm rate *per monitored
# day* pools several days of each person, and one person's days go together
# (a voice that sits near a control limit is flagged on many days), so a
# Wilson interval would count correlated days as independent trials: these
# rates, and the mean detection delay, carry a **person bootstrap** instead,
# the speaker bootstrap with the persons as the clusters, each drawn person
# bringing all their days (`emocirc.inference.cluster_proportion`). Where
# every person has the same rate (no flagged day at all, say) resampling
# persons cannot vary it, and the days' Wilson interval is shown, labelled
# so, as a lower bound on the uncertainty.

# %%
if cohort is not None:
    summary = mood_validation.validation_summary(outcomes)
    display(outcomes.drop(columns=["voice"]).round(2))
    display(summary.round(3))
    for line in mood_validation.validation_text(summary):
        print(line)

# %% [markdown]
# *Tables: one row per person, then the pooled numbers with their 95 %
# intervals; the sentences are written from the table.*
#
# ## Explore by person, day and window length
#
# The explorer below redraws one person's day when the menus or the slider
# move, for the window lengths in the menu. In a live notebook it is
# interactive; on the printed page its current view is shown as a still
# figure after it.

# %%
persons = list(reports)[:2]
maps = {p: {window_s: reports[p].diary_map} for p in persons}
for p in persons:
    for extra in explorer_windows:
        maps[p][extra] = moods.map_diary(
            reports[p].diary_map.params["diary"],
            encoder,
            mapping,
            layer=layer,
            window_s=extra,
            hop_s=extra,
            grid_size=grid_size,
            bandwidth=bandwidth,
            device=device,
            speech=reports[p].diary_map.recordings,
        )
explorer = heatmap.diary_explorer(maps, day=len(report.daily) - 1, window_s=window_s, person=persons[-1])
explorer

# %%
explorer.still()

# %% [markdown]
# *Figure: the explorer's view of the last day of one person (left) with
# all that person's daily means, estimated and, for a synthetic diary, true
# (right; the vertical line marks the day shown).*
#
# ## How to read these numbers
#
# - The voices here are synthetic and their emotions were put in by a rule
#   table; the validation says whether the pipeline recovers a change that
#   is in the prosody, not how a person's mood shows in their voice. Nothing
#   here is a finding about human speech, nor a clinical measure: the report
#   says so on its first line.
# - Monitoring compares a person with their own baseline, in the same voice.
#   The absolute place of a day is less trustworthy: the mapping was fitted
#   on other (American-English) voices, and a regression fitted on noisy
#   embeddings shrinks its predictions towards the training corpus's mean,
#   so a day can sit shifted and a change come out smaller than the true one.
#   z-scores against the person's own baseline undo the shift, not the
#   shrinkage; the chart flags when the shrunken change still stands out of
#   the day-to-day noise.
# - A baseline of a week estimates each person's day-to-day spread from few
#   days; the chart takes the larger of that spread and the typical
#   within-day uncertainty, so that a chance run of similar days does not
#   make it flag noise. With a handful of synthetic persons the intervals on
#   the false-alarm rate and the delay are wide; more seeds narrow them.
# - Inertia and instability are computed within recordings only, on windows
#   that share no audio; with overlapping windows they would measure the
#   overlap.
# - The seed's figure came from face and voice together; whether voice
#   alone is enough needs human recordings over weeks, which no public corpus
#   used here provides.
#
# **Next**: the bibliography; run `emocirc diary report` on a folder of your
# own dated recordings (`YYYY-MM-DD/HHMM*.wav`) with a real encoder
# (`--backbone`) to get the same report for yourself.
