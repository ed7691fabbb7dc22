# %% [markdown]
# # The second model: partial fine-tuning on IEMOCAP
#
# **Reproduces**: the seed report's fine-tuning (section 3.4.3, its Figures 13
# and 14) and its one number, 76 % weighted accuracy on IEMOCAP's four classes
# in a speaker-dependent split {cite}`dasilva2023`, beside the reference table
# of the field (section 2 of the project's references): Wang et al.
# {cite}`wang2021` report 79.58 % (speaker-dependent) and 73.01 %
# (speaker-independent) with the same recipe.
#
# The recipe is SpeechBrain's IEMOCAP one, which the seed followed: wav2vec2
# {cite}`baevski2020` with its CNN feature encoder frozen and its transformer
# trained, mean pooling over the valid frames, a linear layer without bias,
# two Adam optimisers (1e-5 for the encoder, 1e-4 for the head) annealed by
# NewBob on the validation error, batches of 4, and the checkpoint with the
# lowest validation error kept. Every knob is in `emocirc.finetune.FinetuneConfig`;
# the book's settings, shared by chapters 4-8, are `emocirc.encoders.BOOK_FINETUNE`,
# which the `finetune` parameter below overrides (the table after the first
# run shows them all).
#
# A random 80/10/10 split puts the same speakers in training and test, which
# flatters accuracy; the field trusts leave-one-session-out on IEMOCAP
# {cite}`busso2008`. This chapter runs both.
#
# **What it needs**: an IEMOCAP-layout corpus (the embedded synthetic one by
# default) and a backbone (the small pre-trained built-in one by default). Runs are cached:
# later chapters that ask for the same run reuse it.

# %% tags=["parameters"]
iemocap_root = None  # IEMOCAP folder; None = the embedded synthetic corpus
iemocap_scale = 1.0  # size of the synthetic IEMOCAP (1.0 = 900 utterances); the same in every chapter
backbone = "tiny-pretrained"  # pre-trained here; "tiny" (random init), a checkpoint or a hub id
# Fine-tuning settings shared by chapters 4-8 (set them in a PARAMS file's `shared` section):
# mode, epochs, batch_size, lr_backbone, lr_head and, on one GPU (speed only; see
# benchmarks/README.md), cuda_graphs, pad_multiple (changes what is learned) and compile.
finetune = {}  # fine-tuning settings over emocirc.encoders.BOOK_FINETUNE, e.g. {"epochs": 30}
device = "auto"
seed = 0
independent_protocol = "leave-one-session-out"
fold = "0"  # fold of the speaker-independent protocol: an index, or "all" (5 folds, slower)
skip_bad = False  # True: leave out damaged audio files (listed in the banner) instead of stopping
n_boot = 500  # speaker-bootstrap resamples of the first-vs-second interval (emocirc.inference)
min_interval_speakers = 4  # fewer held-out speakers than this: the interval is shown but not read

# %%
import pandas as pd
from IPython.display import Markdown, display

from emocirc.backbones import model_kind
from emocirc.circumplex import EmbeddingPCA
from emocirc.comparison import held_out_comparison, run_test_ids
from emocirc.corpora import load_corpus
from emocirc.encoders import chapter_encoder
from emocirc.features import extract_features
from emocirc.inference import paired_difference
from emocirc.plotting import apply_style
from emocirc.plotting import circumplex as circplot
from emocirc.plotting.training import training_curves
from emocirc.provenance import banner
from emocirc.runs import read_log, read_metrics
from emocirc.synth import ensure_corpus

apply_style()
iemocap_root = iemocap_root or ensure_corpus("iemocap", seed=seed, scale=iemocap_scale)
knobs = dict(backbone=backbone, finetune=finetune, device=device, seed=seed, skip_bad=skip_bad)
banner({"IEMOCAP": iemocap_root}, backbone, skip_bad=skip_bad)

# %% [markdown]
# ## The seed's protocol: speaker-dependent 80/10/10
#
# `chapter_encoder` fine-tunes once per corpus and configuration (the book's
# settings, `emocirc.encoders.BOOK_FINETUNE`, updated by `finetune`) and
# returns the run directory (the encoder in Hugging Face format, the head, the
# label map, the log and the metrics); rerunning the chapter, or a later
# chapter that asks for the same run, reuses it.

# %%
sd_encoder = chapter_encoder(iemocap_root, "finetuned", protocol="speaker-dependent", **knobs)
sd_run, config = sd_encoder.run, sd_encoder.config
display(
    Markdown(
        f"Learning rates: {config.lr_backbone:g} for the encoder and {config.lr_head:g} for the head, "
        f"{config.lr_backbone / 1e-5:.0f} and {config.lr_head / 1e-4:.0f} times the recipe's 1e-5 and 1e-4, "
        "which were tuned for wav2vec2-base (95 M parameters pre-trained on 960 hours); "
        '`benchmarks/README.md` ("Fine-tuning the pre-trained backbone") has the measurement behind them.'
    )
)
pd.Series(config.to_dict()).drop(["extra", "labels"]).to_frame("setting").T
sd = read_metrics(sd_run)  # one split: one fold
(sd_fold,) = sd["folds"].values()
log = read_log(sd_run)
# Learning rates in scientific notation: rounded to 3 decimals the encoder's reads 0.0.
log.round(3).assign(**{c: log[c].map("{:.2e}".format) for c in log.columns if c.startswith("lr_")})

# %%
fig = training_curves(log, title="Training curves, speaker-dependent split (dotted: the kept epoch)")

# %% [markdown]
# The figure above shows the training and validation loss per epoch and the
# validation error that NewBob anneals on; the dotted line marks the epoch
# whose weights are kept.

# %%
fig = circplot.confusion_matrix(
    sd_fold["test"]["confusion"], sd_fold["test"]["labels"], title="Test confusion, speaker-dependent split"
)

# %% [markdown]
# ## A speaker-independent protocol
#
# Leave-one-session-out holds out both speakers of one session for test (and
# validates on the others). With `fold = "all"` every fold is trained and the
# table reports the mean and standard deviation.

# %%
si_run = chapter_encoder(iemocap_root, "finetuned", protocol=independent_protocol, fold=fold, **knobs).run
si = read_metrics(si_run)


def score_cells(metrics):
    """Each test score of a run: the mean over its folds, ± their standard deviation when there are several."""
    names = list(metrics["folds"])
    several = len(names) > 1
    where = f"{len(names)} folds" if several else f"fold {names[0]}"
    return {
        k: f"{metrics['mean'][k]:.1%}" + (f" ± {metrics['std'][k]:.1%}" if several else "") + f" ({where})"
        for k in metrics["mean"]
    }


si_scores, sd_scores = score_cells(si), score_cells(sd)
pd.DataFrame({"speaker-dependent": sd_scores, independent_protocol: si_scores}).rename(
    index={"weighted_accuracy": "WA", "unweighted_recall": "UA", "macro_f1": "macro-F1"}
)

# %% [markdown]
# ## Figure 15: IEMOCAP through the second model
#
# The seed's Figure 15 is the PCA of IEMOCAP's embeddings with the fine-tuned
# encoder (the last hidden state, mean-pooled), beside chapter 3's Figure 11
# with the first model. As in the seed, the speaker-dependent run's encoder
# embeds the whole corpus here, its training utterances included, so the
# picture flatters it; the comparison after it does not.

# %%
iemocap = load_corpus(iemocap_root, four_class=True, skip_bad=skip_bad)
second_features = extract_features(iemocap, str(sd_run), device=device)
second_layer = int(second_features.layers[-1])
second_coords = EmbeddingPCA(n_components=2).fit(second_features.layer(second_layer))
second_coords = second_coords.transform(second_features.layer(second_layer))
fig = circplot.scatter(
    second_coords[:, :2],
    second_features.labels,
    title="Figure 15 (reproduced): PCA of IEMOCAP, second model (fine-tuned, speaker-dependent run)",
)

# %% [markdown]
# ## First model against second, like for like
#
# The same held-out speakers for both models: the test session of the
# speaker-independent run (fold 0 when `fold = "all"`), which its fine-tuning
# never saw. For each model, the PCA and the linear probes are fitted on the
# other sessions and scored on that one: the silhouette of the four emotions
# in the 2-D PCA, the emotion probe's UA (chance 0.25) and the arousal and
# valence probes' CCC.

# %%
compared_run = (
    si_run
    if str(fold) != "all"
    else chapter_encoder(iemocap_root, "finetuned", protocol=independent_protocol, fold=0, **knobs).run
)
held_out = run_test_ids(compared_run, iemocap)
first_name, second_name = f"first model ({model_kind(backbone)})", "second model (fine-tuned)"
comparison = held_out_comparison(
    {
        first_name: extract_features(iemocap, backbone, device=device),
        second_name: extract_features(iemocap, str(compared_run), device=device),
    },
    held_out,
)
comparison.round(3)

# %%
n_held = int(comparison["n_test"].iloc[0])
held_preds = comparison.attrs["predictions"]
n_held_speakers = held_preds["speaker"].nunique()
ua_first, ua_second = comparison["emotion_ua"]
sil_first, sil_second = comparison["silhouette"]
# The interval of the UA gain resamples the held-out speakers (emocirc.inference, chapter 5):
# with a session of two speakers it cannot be trusted, and the text says so.
ua_gain = paired_difference(
    held_preds["label"],
    held_preds[second_name],
    held_preds[first_name],
    held_preds["speaker"],
    metric="UA",
    n_resamples=n_boot,
    seed=seed,
)
if n_held_speakers < min_interval_speakers:
    ua_reading = (
        f"with only {n_held_speakers} held-out speakers a speaker-level interval means little, so this "
        "test does not resolve whether fine-tuning helps on unseen speakers (hold out more speakers, "
        '`fold = "all"` on the real corpus, to resolve it)'
    )
else:
    ua_reading = f'"fine-tuning helps on unseen speakers": **{ua_gain.verdict}** by the interval'
display(
    Markdown(
        f"On {n_held} held-out utterances of {n_held_speakers} speakers, the silhouette of the emotions "
        f"goes from {sil_first:.2f} (first model) to {sil_second:.2f} (second model), and the emotion "
        f"probe's UA from {ua_first:.1%} to {ua_second:.1%}, a change of {ua_gain.difference:+.1%} "
        f"[{ua_gain.low:+.1%}, {ua_gain.high:+.1%}] (paired speaker bootstrap): {ua_reading}."
    )
)

# %% [markdown]
# ## Beside the seed and the literature

# %%
reference = pd.DataFrame(
    [
        ("seed report", "wav2vec2-base, partial FT, speaker-dependent", "76 % WA"),
        ("Wang et al. 2021", "same recipe, speaker-dependent", "79.58 % WA"),
        ("Wang et al. 2021", "same recipe, speaker-independent", "73.01 % WA"),
        ("SpeechBrain recipe", "wav2vec2-base, random 80/10/10", "78.7 % best (77.0 avg)"),
        ("SUPERB ER", "frozen wav2vec2-base, leave-one-session-out", "63.43 %"),
        (
            "this page",
            f"{backbone}, {config.mode} FT, speaker-dependent",
            f"{sd['mean']['weighted_accuracy']:.1%} WA",
        ),
        (
            "this page",
            f"{backbone}, {config.mode} FT, {independent_protocol}",
            si_scores["weighted_accuracy"],
        ),
    ],
    columns=["system", "setting", "result"],
)
reference

# %%
gap = sd["mean"]["weighted_accuracy"] - si["mean"]["weighted_accuracy"]
display(
    Markdown(
        f"Here the speaker-dependent split scores **{gap:+.1%}** against the speaker-independent "
        f"protocol (the literature's gap with the same recipe: +6.6 points)."
    )
)

# %% [markdown]
# **Where this agrees and where it differs, and why.** The method is the
# seed's: same model, optimisers, annealing and checkpoint choice. The numbers
# are not comparable to the 76 % of the report. By default this page
# fine-tunes a *small* wav2vec2 (4 layers of 64) that was pre-trained only in
# miniature (minutes on a CPU, on synthetic read speech), for a few epochs on
# eSpeak NG speech whose emotions are a prosody rule table, on a few hundred
# utterances, and tests on a few dozen: the accuracy says how audible the
# synthetic rules are to a small network, with a standard error of several
# points, and nothing about human emotional speech. What should carry over is the *ordering* of
# the protocols: a split that shares speakers between training and test
# should score at or above one that holds speakers out; with a test set this
# small, a reversal is within noise. For the report's setting, run this
# chapter with the real IEMOCAP (`iemocap_root`), `backbone =
# "facebook/wav2vec2-base"`, `finetune = {"epochs": 30, "lr_backbone": 1e-5,
# "lr_head": 1e-4}` and a GPU. On one H100 an IEMOCAP-sized epoch took
# about 50 s with the plain loop and about 11 s with CUDA graphs and
# compiled layers (`finetune = {"cuda_graphs": True, "compile": True,
# "pad_multiple": 0.5}`, the last so that batch shapes repeat). Those timings used
# batches of equal length, so epochs of real, varied lengths run somewhat
# longer (`benchmarks/README.md`).
#
# **Next**: the fine-tuned encoder applied to EMODB, a corpus in another
# language that it never saw.
