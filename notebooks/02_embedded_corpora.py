# %% [markdown]
# # The embedded corpora
#
# **Reproduces**: the seed report's data section (3.2: EMODB's ten actors and
# seven emotions {cite}`burkhardt2005`, IEMOCAP's five dyadic sessions and
# four classes {cite}`busso2008`) in a form that runs without the licensed
# recordings, and checks, with a classic prosodic baseline, the two
# observations about prosody that the seed's later figures rest on: arousal
# is easier to hear than valence, and happiness sits close to anger
# (its Figures 17 and 21 and its conclusion) {cite}`dasilva2023`.
#
# EMODB and IEMOCAP cannot be downloaded here, and most readers meet this
# book before they hold either. So emocirc speaks both corpora's sentences
# with the eSpeak NG synthesiser and writes them in the real on-disk layouts:
# the loaders of every later chapter read them exactly as they read the real
# ones, and swapping in the real corpora is a change of one parameter.
#
# **What it needs**: nothing to download; the eSpeak NG library ships with the
# `espeakng-loader` wheel. Generating the corpora takes a few seconds to a
# minute; they are cached and regenerated only when the generator changes.

# %% tags=["parameters"]
emodb_root = None  # EMODB folder; None = the embedded synthetic corpus
iemocap_root = None  # IEMOCAP folder; None = the embedded synthetic corpus
emodb_scale = 0.3  # size of the synthetic EMODB (1.0 = 1,400 utterances); the same in every chapter
iemocap_scale = 1.0  # size of the synthetic IEMOCAP (1.0 = 900 utterances); the same in every chapter
seed = 0  # seed of the synthetic corpora
example_speaker = "03"  # EMODB speaker whose utterances are shown and played
example_sentence = "a01"  # EMODB text code of the examples
skip_bad = False  # True: leave out damaged audio files (listed in the banner) instead of stopping
n_boot = 500  # speaker-bootstrap resamples of every interval (emocirc.inference)

# %%
import pandas as pd
from IPython.display import Audio, Markdown, display

from emocirc import egemaps, prosodic_baseline, synthesis_rules
from emocirc.audio import SAMPLE_RATE, load_audio
from emocirc.corpora import load_corpus
from emocirc.inference import classification_intervals, paired_difference
from emocirc.plotting import apply_style
from emocirc.plotting.audio import plot_spectrograms
from emocirc.provenance import banner
from emocirc.synth import ensure_corpus

apply_style()
emodb_root = emodb_root or ensure_corpus("emodb", seed=seed, scale=emodb_scale)
iemocap_root = iemocap_root or ensure_corpus("iemocap", seed=seed, scale=iemocap_scale)
banner({"EMODB": emodb_root, "IEMOCAP": iemocap_root}, "none", skip_bad=skip_bad)

# %% [markdown]
# ## How an emotion is rendered
#
# Acted emotions differ from neutral speech in pitch level, pitch range,
# speech rate, loudness and voice quality. Murray and Arnott's review
# {cite}`murray1993` tabulates the directions; Burkhardt's Emofilt
# {cite}`burkhardt2005emofilt`, which re-synthesised EMODB's emotions from
# rules, gives magnitudes. The table below is the single rule table of the
# package (`emocirc.synthesis_rules.RULES`), tempered from Emofilt's extremes:
# percentages are relative to neutral (duration above 100 % is slower),
# intensity is in dB. Voice quality is approximated after synthesis:
# jitter by perturbing the pitch period, breathiness by noise that follows
# the speech envelope, harshness ("chest tone") by soft saturation.
# Valence, arousal and dominance (1-5) place each emotion on the circumplex;
# valence and arousal come from the package's one table of emotion positions
# (`emocirc.russell.EMOTION_POSITIONS`): the NRC VAD lexicon
# {cite}`mohammad2018` where it has the word, neutral at the origin, and
# estimates for frustration and surprise.
#
# Anger and happiness get the *same* pitch, rate and loudness rules: they
# differ only in voice quality, which is how Emofilt's author describes them
# and why prosody alone places happiness near anger.

# %%
synthesis_rules.rules_table()

# %% [markdown]
# Three layers make classes overlap as they do in acted speech: each speaker
# has habits (a pitch level, a rate, a recording level, how strongly they act,
# and their own way of acting each emotion), each utterance varies around
# them, and in the IEMOCAP layout each utterance's own arousal rating shifts
# its pitch, rate and loudness further. The noise levels are part of the
# module, shown here so that nothing is hidden:

# %%
pd.DataFrame(
    {
        "per utterance (sd)": pd.Series(synthesis_rules.UTTERANCE_NOISE),
        "per speaker and emotion (sd)": pd.Series(synthesis_rules.HABIT_SPREAD),
        "per arousal point": pd.Series(synthesis_rules.AROUSAL_SLOPE),
    }
)

# %% [markdown]
# ## The two corpora
#
# The EMODB layout keeps the release's ten speakers (five female, five male),
# its ten German sentences, its seven emotions with their German initials and
# its file names (`03a01Wa.wav`: speaker 03, text a01, *Wut*, version a).
# At scale 1 every speaker speaks every sentence in every emotion twice
# (1,400 files, where the release has 535 with unequal counts).

# %%
emodb = load_corpus(emodb_root, skip_bad=skip_bad)
pd.crosstab(emodb["speaker"], emodb["label"], margins=True)

# %% [markdown]
# The IEMOCAP layout has five sessions of two speakers, improvised and
# scripted dialogs, the release's evaluation files (summary lines with times
# and valence/arousal/dominance on 1-5, annotator lines, the sub-folders and
# a stray macOS `._` file the loader must skip) and its label codes,
# including `xxx` (annotators did not agree), which the loader drops. The
# usual four classes merge excitement into happiness:

# %%
iemocap = load_corpus(iemocap_root, skip_bad=skip_bad)
four = load_corpus(iemocap_root, four_class=True, skip_bad=skip_bad)
pd.DataFrame(
    {"all labels": iemocap["label"].value_counts(), "four classes": four["label"].value_counts()}
).fillna(0).astype(int)

# %% [markdown]
# Each utterance's valence and arousal are drawn around its emotion's place on
# the circumplex, and the summary is the mean of two simulated annotators'
# integer ratings, as in the release:

# %%
iemocap.groupby("label")[["valence", "arousal", "dominance"]].agg(["mean", "std"]).round(2)

# %% [markdown]
# ## What they sound like
#
# One sentence by one speaker in each emotion. The dots trace the pitch (F0)
# the baseline below measures. Anger and happiness are high, wide and fast;
# sadness and boredom low, narrow and slow; disgust very slow.

# %%
examples = emodb[(emodb["speaker"] == example_speaker) & (emodb["sentence"] == example_sentence)]
examples = examples.drop_duplicates("label").set_index("label")
order = [e for e in synthesis_rules.EMODB_EMOTIONS if e in examples.index]
waves = {label: load_audio(examples.loc[label, "path"]) for label in order}
fig = plot_spectrograms(
    waves,
    ncols=2,
    suptitle=f"Figure 1: speaker {example_speaker}, sentence {example_sentence}, in each emotion (synthetic)",
)

# %% [markdown]
# Listen (synthetic speech: it sounds robotic, and the emotions are
# caricatures of the rules above):

# %%
for label, wave in waves.items():
    display(Markdown(f"**{label}**: {examples.loc[label, 'text']}"), Audio(wave, rate=SAMPLE_RATE))

# %% [markdown]
# ## A prosodic baseline
#
# Before any neural network: how far do pitch, energy and rate get? For each
# utterance `emocirc.prosodic_baseline` measures F0 (normalised autocorrelation),
# frame energy and a speech-rate proxy (energy peaks per second), z-scores the
# statistics within each speaker, and trains a logistic regression with one
# speaker held out at a time (leave-one-speaker-out, so no test voice is ever
# heard in training).

# %%
features = prosodic_baseline.extract_prosodic_features(emodb["path"])
features.groupby(emodb["label"].to_numpy()).mean().T.round(2)

# %%
result = prosodic_baseline.loso_baseline(features, emodb["label"], emodb["speaker"], seed=seed)
arousal = prosodic_baseline.binary_loso(
    features,
    emodb["label"],
    emodb["speaker"],
    prosodic_baseline.HIGH_AROUSAL,
    prosodic_baseline.LOW_AROUSAL,
    seed=seed,
)
pairs = prosodic_baseline.pairwise_accuracies(features, emodb["label"], emodb["speaker"], seed=seed)
# Intervals: the held-out predictions are kept and EMODB's speakers resampled
# (then utterances within them), the scheme of emocirc.inference (chapter 5 explains it).
prosodic_ci = classification_intervals(
    emodb["label"], result.predictions, emodb["speaker"], n_resamples=n_boot, seed=seed
)


def _ci(table, metric):
    row = table.loc[metric]
    return f"{row['estimate']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


display(
    Markdown(
        f"Seven classes: weighted accuracy {_ci(prosodic_ci, 'WA')}, unweighted recall "
        f"{_ci(prosodic_ci, 'UA')} (chance 0.14; 95 % speaker-bootstrap intervals over "
        f"{emodb['speaker'].nunique()} speakers). High against low arousal "
        f"({', '.join(prosodic_baseline.HIGH_AROUSAL)} vs {', '.join(prosodic_baseline.LOW_AROUSAL)}): balanced accuracy "
        f"**{arousal:.2f}**. Most confused pair: **{' / '.join(result.most_confused_pair())}**."
    )
)

# %% [markdown]
# Table 1: the baseline's confusion matrix (rows: true emotion, columns:
# predicted; leave-one-speaker-out over all utterances).

# %%
result.confusion.style.background_gradient(cmap="Greys", axis=None)

# %% [markdown]
# Table 2: the hardest two-class problems (balanced accuracy of a
# leave-one-speaker-out logistic regression on each pair).

# %%
pairs.head(6).to_frame()

# %% [markdown]
# ## The field's standard expert features: eGeMAPS
#
# The hand-made set above is this book's own. Papers on speech emotion report
# openSMILE's extended Geneva Minimalistic Acoustic Parameter Set (eGeMAPS
# v02) instead {cite}`eyben2016gemaps`: 88 functionals of pitch, loudness,
# spectral balance, formants, voice quality and rhythm, the expert-feature
# row of most baselines. `emocirc.egemaps` computes them with audEERING's
# `opensmile` package, an optional extra under audEERING's research licence
# (see the README); here they are scored exactly like the prosodic set
# (z-scored within each speaker, logistic regression, one speaker held out at
# a time).

# %%
if egemaps.is_available():
    egemaps_features = egemaps.extract_egemaps_features(emodb["path"])
    egemaps_result = prosodic_baseline.loso_baseline(
        egemaps_features, emodb["label"], emodb["speaker"], seed=seed
    )
    egemaps_arousal = prosodic_baseline.binary_loso(
        egemaps_features,
        emodb["label"],
        emodb["speaker"],
        prosodic_baseline.HIGH_AROUSAL,
        prosodic_baseline.LOW_AROUSAL,
        seed=seed,
    )
    egemaps_ci = classification_intervals(
        emodb["label"], egemaps_result.predictions, emodb["speaker"], n_resamples=n_boot, seed=seed
    )
    gap = paired_difference(
        emodb["label"],
        egemaps_result.predictions,
        result.predictions,
        emodb["speaker"],
        metric="UA",
        n_resamples=n_boot,
        seed=seed,
    )
    display(
        Markdown(
            f"Table 3: the two expert feature sets on EMODB's seven classes (leave-one-speaker-out; "
            f"95 % speaker-bootstrap intervals). eGeMAPS minus the prosodic set, paired on the same "
            f"utterances: {gap.difference:+.2f} UA [{gap.low:+.2f}, {gap.high:+.2f}]; "
            f'"eGeMAPS scores higher": **{gap.verdict}**.'
        ),
        pd.DataFrame(
            {
                "features": [len(prosodic_baseline.FEATURE_NAMES), egemaps_features.shape[1]],
                "WA": [_ci(prosodic_ci, "WA"), _ci(egemaps_ci, "WA")],
                "UA": [_ci(prosodic_ci, "UA"), _ci(egemaps_ci, "UA")],
                "high vs low arousal (UA)": [arousal, egemaps_arousal],
                "most confused pair": [
                    " / ".join(result.most_confused_pair()),
                    " / ".join(egemaps_result.most_confused_pair()),
                ],
            },
            index=pd.Index(["hand-made prosodic", "eGeMAPS v02"], name="feature set"),
        ).round(2),
    )
else:
    display(Markdown(f"eGeMAPS not installed: `{egemaps.INSTALL_HINT}`"))

# %% [markdown]
# In the IEMOCAP layout the ratings are audible too: within each speaker,
# louder and higher utterances were rated more aroused. Valence correlates
# less, and mostly through the label mix (happy and excited utterances are
# both pleasant and aroused, sad ones unpleasant and calm): the rules give
# valence no prosodic cue of its own, and in human speech it is also the
# harder dimension to hear.

# %%
iem_features = prosodic_baseline.normalize_per_speaker(
    prosodic_baseline.extract_prosodic_features(iemocap["path"]), iemocap["speaker"]
)
iem_features[["f0_mean", "energy_mean", "rate"]].corrwith(iemocap["valence"], method="spearman").to_frame(
    "valence"
).join(
    iem_features[["f0_mean", "energy_mean", "rate"]]
    .corrwith(iemocap["arousal"], method="spearman")
    .to_frame("arousal")
).round(2)

# %% [markdown]
# ## What synthetic speech can and cannot stand in for
#
# **It can** run every chapter end to end anywhere, exercise the same loaders,
# splits, feature extraction and fine-tuning code that the real corpora use,
# and answer a narrow question: *does a method pick up prosodic differences
# that we know are there?* Because we wrote the rules, we know the right
# answer: arousal should be easy, anger and happiness hard.
#
# **It cannot** say anything about how people express emotion. The voices are
# formant-synthesised, the "emotions" are the rule table above plus noise,
# every speaker of a corpus shares one synthesiser, and what a neural encoder
# learns from them may be artefacts of eSpeak NG. Accuracies here are not
# comparable to published ones, and the seed's observations are reproduced
# only in the sense that the rules were built to contain them.
#
# ## Set beside the report
#
# | | seed report / literature | here (synthetic) |
# |---|---|---|
# | EMODB | 535 utterances, 10 actors, 7 emotions | same speakers, sentences, emotions, file names; 1,400 files at scale 1 |
# | IEMOCAP 4-class | 5,531 utterances, 10 actors | 900 utterances at scale 1, 10 synthetic speakers |
# | prosody-only 7-class, leave-one-speaker-out | ComParE functionals on real EMODB: 77.1 % UAR (audEERING) | see the unweighted recall printed above |
# | eGeMAPS v02, 7-class, leave-one-speaker-out | the field's standard expert baseline | Table 3, when `opensmile` is installed |
# | arousal vs valence | arousal easier to place (seed's conclusion) | high vs low arousal nearly separable; valence barely in prosody |
# | happiness | confused with anger (seed, Figs 17 and 21) | anger / happiness the hardest pair, by construction |
#
# The numbers agree in direction with the report, and must: the rule table was
# built from the same literature. Where the baseline's accuracy is close to
# the real-EMODB figure, that is a sign the overlap between classes is of a
# plausible size, not evidence about human speech. The next chapters feed
# these corpora to wav2vec2.
