# %% [markdown]
# # The first model: wav2vec2 features and PCA
#
# **Reproduces**: the seed report's first proposed model (section 3.4.1, the
# pipeline of its Figure 10: audio -> wav2vec2 -> PCA -> "?") and its
# Figure 11, the PCA of IEMOCAP's embeddings with the not-fine-tuned model.
# The report found that the emotions "didn't exhibit clear visual separation
# into distinct clusters", on IEMOCAP as on EMODB, and put it down to a model
# pre-trained for speech recognition rather than emotion {cite}`dasilva2023`.
#
# The seed embedded each utterance with wav2vec2 {cite}`baevski2020` as it
# comes out of self-supervised pre-training, took the model's output (the
# last layer), projected the embeddings of IEMOCAP {cite}`busso2008` and
# EMODB {cite}`burkhardt2005` on their first principal components and looked
# for emotion clusters. This chapter does the same with
# `emocirc.features.extract_features` and `emocirc.circumplex.EmbeddingPCA`,
# puts a number on "no clear clusters", and adds what the seed did not look
# at: every hidden state, not only the last, probed by a linear model on
# speakers it never saw. Benchmarks that freeze a pre-trained encoder learn a
# weighted sum of all its hidden states rather than take the last one
# {cite}`yang2021superb`, and layer-wise analyses of pre-trained wav2vec2 find
# the middle transformer layers richer in paralinguistic information than the
# last.
#
# **What it needs**: the IEMOCAP-layout and EMODB-layout corpora (the embedded
# synthetic ones by default) and a backbone (the small pre-trained built-in one by
# default). Nothing is fine-tuned here; the features are cached for the later
# chapters.

# %% tags=["parameters"]
emodb_root = None  # EMODB folder; None = the embedded synthetic corpus
iemocap_root = None  # IEMOCAP folder; None = the embedded synthetic corpus
emodb_scale = 0.3  # size of the synthetic EMODB (1.0 = 1,400 utterances); the same in every chapter
iemocap_scale = 1.0  # size of the synthetic IEMOCAP (1.0 = 900 utterances); the same in every chapter
backbone = "tiny-pretrained"  # pre-trained here; "tiny" (random init), a checkpoint or a hub id
device = "auto"
precision = "fp32"  # "fp32" (exact), "bf16" or "auto"
seed = 0
layer = None  # hidden state of the PCA; None = the last one (the seed's model output)
n_components = 10  # principal components shown in the explained-variance figure
probe_folds = 5  # speaker folds of the EMODB probe (IEMOCAP: leave one session out)
n_boot = 500  # speaker-bootstrap resamples of every interval (emocirc.inference)
torch_threads = 1  # CPU threads for the encoder (see the setup cell)
skip_bad = False  # True: leave out damaged audio files (listed in the banner) instead of stopping

# %%
import pandas as pd
import torch
from IPython.display import Markdown, display
from sklearn.metrics import silhouette_score

from emocirc import egemaps
from emocirc.backbones import model_kind
from emocirc.circumplex import EmbeddingPCA
from emocirc.corpora import load_corpus
from emocirc.features import extract_features
from emocirc.inference import verdict
from emocirc.plotting import apply_style
from emocirc.plotting import circumplex as circplot
from emocirc.plotting.layers import layer_scores, layer_weights
from emocirc.probing import (
    compare_probes,
    layer_probe,
    probe_difference,
    probe_intervals,
    select_layer,
    weighted_layer_probe,
)
from emocirc.provenance import banner
from emocirc.synth import ensure_corpus

# A small encoder on a shared few-core machine runs faster on one thread than
# on several competing ones; on a GPU or a large model raise it.
torch.set_num_threads(torch_threads)
apply_style()
iemocap_root = iemocap_root or ensure_corpus("iemocap", seed=seed, scale=iemocap_scale)
emodb_root = emodb_root or ensure_corpus("emodb", seed=seed, scale=emodb_scale)
kind = model_kind(backbone)  # "pre-trained", or "random init" for tiny and base-random
banner({"IEMOCAP": iemocap_root, "EMODB": emodb_root}, backbone, skip_bad=skip_bad)

# %% [markdown]
# ## Embeddings of IEMOCAP
#
# The four classes the seed used (anger, happiness with excitement merged in,
# sadness, neutral). Each utterance becomes one vector per hidden state: the
# mean over its 20 ms frames. Hidden state 0 is the convolutional features
# entering the transformer, the others are the transformer's layers.

# %%
iemocap = load_corpus(iemocap_root, four_class=True, skip_bad=skip_bad)
iemocap_features = extract_features(iemocap, backbone, device=device, precision=precision)
pca_layer = int(iemocap_features.layers[-1]) if layer is None else layer
print(
    f"{len(iemocap)} utterances, {iemocap['speaker'].nunique()} speakers, "
    f"embeddings {iemocap_features.embeddings.shape} (utterances x hidden states x dimensions); "
    f"PCA of hidden state {pca_layer}"
)
iemocap["label"].value_counts().to_frame().T

# %%
iemocap_pca = EmbeddingPCA(n_components=n_components).fit(iemocap_features.layer(pca_layer))
fig = circplot.explained_variance(
    iemocap_pca.explained_variance_ratio_,
    title=f"Explained variance of IEMOCAP's embeddings (hidden state {pca_layer}, {kind})",
)

# %%
iemocap_coords = iemocap_pca.transform(iemocap_features.layer(pca_layer))
fig = circplot.scatter(
    iemocap_coords[:, :2],
    iemocap_features.labels,
    title=f"Figure 11 (reproduced): PCA of IEMOCAP, first model ({kind})",
)

# %% [markdown]
# "No clear clusters" as a number: the silhouette of the emotion labels in the
# two components plotted (1 = tight, well separated clusters, 0 = clusters
# that overlap completely, below 0 = points closer to another emotion).

# %%
iemocap_silhouette = silhouette_score(iemocap_coords[:, :2], iemocap_features.labels)
print(
    f"IEMOCAP: {iemocap_pca.cumulative_variance_[1]:.1%} of the variance in 2 components, "
    f"silhouette of the four emotions {iemocap_silhouette:.2f}"
)

# %% [markdown]
# ## Embeddings of EMODB
#
# All seven emotions, as the seed plotted them.

# %%
emodb = load_corpus(emodb_root, skip_bad=skip_bad)
emodb_features = extract_features(emodb, backbone, device=device, precision=precision)
emodb_pca = EmbeddingPCA(n_components=n_components).fit(emodb_features.layer(pca_layer))
emodb_coords = emodb_pca.transform(emodb_features.layer(pca_layer))
print(f"{len(emodb)} utterances, {emodb['speaker'].nunique()} speakers")
fig = circplot.explained_variance(
    emodb_pca.explained_variance_ratio_,
    title=f"Explained variance of EMODB's embeddings (hidden state {pca_layer}, {kind})",
)

# %%
fig = circplot.scatter(
    emodb_coords[:, :2], emodb_features.labels, title=f"PCA of EMODB, first model ({kind})"
)

# %%
emodb_silhouette = silhouette_score(emodb_coords[:, :2], emodb_features.labels)
print(
    f"EMODB: {emodb_pca.cumulative_variance_[1]:.1%} of the variance in 2 components, "
    f"silhouette of the seven emotions {emodb_silhouette:.2f}"
)

# %% [markdown]
# ## Which hidden state holds the emotion?
#
# PCA keeps the directions of largest variance, which need not be the
# directions that carry emotion: a picture without clusters does not show
# that the embeddings hold no emotion. A linear probe asks directly. For every
# hidden state, a logistic regression predicts the emotion (scored by
# unweighted average recall, UA, whose chance level is one over the number of
# classes) and a ridge regression predicts the arousal and valence ratings
# (scored by the concordance correlation coefficient, CCC). Every score is on
# speakers the probe never saw: IEMOCAP leaves one session (two speakers) out
# at a time, EMODB groups its speakers into folds. Standardisation is fitted
# on the training speakers only, and every utterance's held-out prediction is
# kept.
#
# Every interval on this page is a 95 % interval of the book's one scheme,
# the **speaker bootstrap** (`emocirc.inference`, whose module notes document
# it; the scheme is set out in words in {ref}`speaker-bootstrap`): the
# speakers are resampled with replacement, then the utterances within each
# drawn speaker, and the score is recomputed on the pooled out-of-fold
# predictions of that resample (`emocirc.probing.probe_intervals`). The probes
# are not refitted: the interval is over which speakers they were tested on.
# Two probes are compared on the same utterances by the interval of their
# difference (`emocirc.probing.probe_difference`, a paired speaker bootstrap):
# a claim "A scores higher than B" *holds* when that interval lies above
# zero, *does not hold* when it lies below, and is *not resolved* otherwise.

# %%
iemocap_probe, iemocap_pred = layer_probe(
    iemocap_features,
    ["label", "arousal", "valence"],
    groups=iemocap["session"],
    n_splits=None,
    seed=seed,
    predictions=True,
)
iemocap_ci = probe_intervals(iemocap_pred, n_resamples=n_boot, seed=seed)


def interval_table(ci):
    """Score [95 % interval] per hidden state and target."""
    cells = ci.assign(cell=[f"{r.score:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]" for r in ci.itertuples()])
    return cells.pivot(index="layer", columns="target", values="cell")


fig = layer_scores(
    iemocap_probe,
    intervals=iemocap_ci,
    title="Linear probes per hidden state, IEMOCAP (leave one session out; 95 % bands)",
)

# %%
print(iemocap_ci.attrs["scheme"])
interval_table(iemocap_ci)

# %% [markdown]
# EMODB has no ratings, so only the emotion is probed (seven classes).

# %%
emodb_probe, emodb_pred = layer_probe(
    emodb_features, "label", n_splits=probe_folds, seed=seed, predictions=True
)
emodb_ci = probe_intervals(emodb_pred, n_resamples=n_boot, seed=seed)
fig = layer_scores(
    emodb_probe, intervals=emodb_ci, title="Linear probe per hidden state, EMODB (speaker folds; 95 % bands)"
)
interval_table(emodb_ci)

# %% [markdown]
# Does the choice of hidden state matter? For each probe, the best-scoring
# hidden state against the worst, paired on the same utterances: the claim
# "the best scores higher than the worst" judged by the interval of the
# difference. Both are picked after seeing the scores, which favours the
# claim; where even so it is not resolved, this data cannot tell the hidden
# states apart.


# %%
def layer_contrast(ci, pred):
    rows = {}
    for target, part in ci.groupby("target", sort=False):
        best = int(part.loc[part["score"].idxmax(), "layer"])
        worst = int(part.loc[part["score"].idxmin(), "layer"])
        d = probe_difference(
            pred, pred, layer_a=best, layer_b=worst, target=target, n_resamples=n_boot, seed=seed
        )
        rows[target] = {"best layer": best, "worst layer": worst, "difference": d.difference,
                        "ci low": d.low, "ci high": d.high, "best > worst": str(d.verdict)}  # fmt: skip
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("target")


layer_spread = pd.concat(
    {"IEMOCAP": layer_contrast(iemocap_ci, iemocap_pred), "EMODB": layer_contrast(emodb_ci, emodb_pred)}
)
layer_spread.round(3)

# %%
held = layer_spread[layer_spread["best > worst"] == "holds"]
display(
    Markdown(
        "The hidden state matters, by the intervals, for "
        + (", ".join(f"{c} {t}" for c, t in held.index) if len(held) else "no probe")
        + f" ({len(held)} of {len(layer_spread)} probes); for the others the best and the worst hidden "
        "state are not resolved."
    )
)

# %% [markdown]
# ## Two field baselines beside the hidden states
#
# Two reference points from the field stand beside the per-layer probes,
# scored on the same folds by the same UA, their intervals from the same
# speaker bootstrap.
#
# *The weighted sum of all hidden states.* SUPERB does not pick a layer: it
# learns one weight per hidden state, normalised by a softmax, mixes the
# hidden states with them and classifies the mix, weights and classifier
# trained together on the training speakers {cite}`yang2021superb`
# (`emocirc.probing.weighted_layer_probe`; each hidden state is standardised
# first, so a weight measures how much a layer's information is used, not
# how large its values are). The figures show the learned weights, averaged
# over the folds, with their range across folds. A softmax trained this way
# can settle on one hidden state even when several would serve as well: where
# the layers are not resolved (the table above), read the weighted sum's
# score, not which layer it favours.

# %%
iemocap_weighted, iemocap_weights, iemocap_weighted_pred = weighted_layer_probe(
    iemocap_features, groups=iemocap["session"], n_splits=None, seed=seed, predictions=True
)
fig = layer_weights(
    iemocap_weights, title="Learned layer weights of the weighted-sum probe, IEMOCAP (leave one session out)"
)

# %%
emodb_weighted, emodb_weights, emodb_weighted_pred = weighted_layer_probe(
    emodb_features, n_splits=probe_folds, seed=seed, predictions=True
)
fig = layer_weights(
    emodb_weights, title="Learned layer weights of the weighted-sum probe, EMODB (speaker folds)"
)

# %% [markdown]
# *Expert features.* openSMILE's eGeMAPS v02 functionals {cite}`eyben2016gemaps`
# (chapter 2), put through the very same linear probe as if they were one more
# hidden state: the field's usual answer to "does the encoder know more than
# a handful of acoustic measurements?".

# %%
if egemaps.is_available():
    _, iemocap_egemaps_pred = layer_probe(
        egemaps.egemaps_embeddings(iemocap),
        ["label", "arousal", "valence"],
        groups=iemocap["session"],
        n_splits=None,
        seed=seed,
        predictions=True,
    )
    _, emodb_egemaps_pred = layer_probe(
        egemaps.egemaps_embeddings(emodb), "label", n_splits=probe_folds, seed=seed, predictions=True
    )
else:
    iemocap_egemaps_pred = emodb_egemaps_pred = None
    display(Markdown(f"eGeMAPS not installed: `{egemaps.INSTALL_HINT}`"))

# %% [markdown]
# Table 1: every probe on held-out speakers (UA for the emotion, CCC for the
# ratings), each with its 95 % speaker-bootstrap interval. The "best single
# hidden state" row picks its layer after seeing the held-out scores, so it is
# optimistic; the weighted sum sets its weights on the training speakers
# alone. The weighted-sum probe is a classifier only, hence no CCC.

# %%
last = int(iemocap_features.layers[-1])
iemocap_compared = {
    "last hidden state": select_layer(iemocap_ci, "last"),
    "best single hidden state": select_layer(iemocap_ci, "best"),
    "weighted sum of all hidden states": probe_intervals(
        iemocap_weighted_pred, n_resamples=n_boot, seed=seed
    ),
}
emodb_compared = {
    "last hidden state": select_layer(emodb_ci, "last"),
    "best single hidden state": select_layer(emodb_ci, "best"),
    "weighted sum of all hidden states": probe_intervals(emodb_weighted_pred, n_resamples=n_boot, seed=seed),
}
if iemocap_egemaps_pred is not None:
    iemocap_compared["eGeMAPS v02"] = probe_intervals(iemocap_egemaps_pred, n_resamples=n_boot, seed=seed)
    emodb_compared["eGeMAPS v02"] = probe_intervals(emodb_egemaps_pred, n_resamples=n_boot, seed=seed)
probe_table = pd.concat(
    {"IEMOCAP": compare_probes(iemocap_compared), "EMODB": compare_probes(emodb_compared)}, axis=1
)
probe_table.round(2)

# %% [markdown]
# The comparisons the table invites, each paired on the same utterances
# ("A > B": the claim that A's UA is higher than B's, judged by the interval
# of the difference).


# %%
def against_last(pred_a, pred_last, layer_a=None):
    return probe_difference(pred_a, pred_last, layer_a=layer_a, layer_b=last, n_resamples=n_boot, seed=seed)


contrasts = {
    ("IEMOCAP", "weighted sum > last hidden state"): against_last(iemocap_weighted_pred, iemocap_pred),
    ("EMODB", "weighted sum > last hidden state"): against_last(emodb_weighted_pred, emodb_pred),
}
if iemocap_egemaps_pred is not None:
    contrasts[("IEMOCAP", "last hidden state > eGeMAPS")] = probe_difference(
        iemocap_pred, iemocap_egemaps_pred, layer_a=last, n_resamples=n_boot, seed=seed
    )
    contrasts[("EMODB", "last hidden state > eGeMAPS")] = probe_difference(
        emodb_pred, emodb_egemaps_pred, layer_a=last, n_resamples=n_boot, seed=seed
    )
contrast_table = pd.DataFrame.from_dict({k: d.to_dict() for k, d in contrasts.items()}, orient="index")
contrast_table.index.names = ["corpus", "claim (UA)"]
contrast_table.round(3)

# %%
weighted_vs_last = contrasts[("IEMOCAP", "weighted sum > last hidden state")]
top = iemocap_weights.mean().idxmax()
display(
    Markdown(
        f"On IEMOCAP the weighted sum scores {weighted_vs_last.difference:+.2f} UA against the last hidden "
        f"state [{weighted_vs_last.low:+.2f}, {weighted_vs_last.high:+.2f}]; the claim that it scores higher: "
        f"**{weighted_vs_last.verdict}**. Its largest mean weight is on hidden state {top} "
        f"({iemocap_weights.mean().max():.2f}, where equal weights would give "
        f"{1 / iemocap_weights.shape[1]:.2f})."
    )
)

# %% [markdown]
# ## Beside the report
#
# The table sets this page's numbers beside the seed's. Its verdicts are
# computed from the numbers above, not written by hand: silhouettes against
# the usual threshold for visible clusters, and every other claim by the
# speaker-bootstrap interval of the quantity it is about (*holds*, *does not
# hold*, *not resolved*).

# %%
CLUSTERED = 0.25  # silhouette above which clusters are commonly called visible


def middle_against_last(ci, pred, corpus):
    """The claim "a middle layer scores higher than the last", by the best middle layer's paired interval."""
    ua = ci[ci["target"] == "label"].set_index("layer")["score"]
    middle = [k for k in ua.index if 0 < k < last]
    if not middle:
        return f"{corpus}: no middle layer to compare"
    best = int(ua.loc[middle].idxmax())
    d = probe_difference(pred, pred, layer_a=best, layer_b=last, n_resamples=n_boot, seed=seed)
    return (
        f"{corpus}: **{d.verdict}** (best middle layer {best} minus last: {d.difference:+.3f} UA "
        f"[{d.low:+.3f}, {d.high:+.3f}])"
    )


def above_chance(ci, chance):
    row = select_layer(ci[ci["target"] == "label"], "last").iloc[0]
    return f"UA {row.score:.2f} [{row.ci_low:.2f}, {row.ci_high:.2f}], chance {chance:.2f}: **{verdict(row.ci_low, row.ci_high, chance)}**"


emodb_chance = 1 / emodb["label"].nunique()
iemocap_chance = 1 / iemocap["label"].nunique()
rows = {
    "IEMOCAP, 4 emotions, PCA of the last layer": (
        "no clear clusters (Figure 11)",
        f"silhouette {iemocap_silhouette:.2f}: "
        + ("clusters" if iemocap_silhouette > CLUSTERED else "no clear clusters"),
    ),
    "EMODB, 7 emotions, PCA of the last layer": (
        "no clear clusters",
        f"silhouette {emodb_silhouette:.2f}: "
        + ("clusters" if emodb_silhouette > CLUSTERED else "no clear clusters"),
    ),
    "emotion linearly decodable above chance on unseen speakers (last layer)": (
        "not examined",
        f"IEMOCAP {above_chance(iemocap_ci, iemocap_chance)}; EMODB {above_chance(emodb_ci, emodb_chance)}",
    ),
    "middle layers richer than the last (pre-trained wav2vec2, literature)": (
        "not examined",
        middle_against_last(iemocap_ci, iemocap_pred, "IEMOCAP")
        + "; "
        + middle_against_last(emodb_ci, emodb_pred, "EMODB")
        + "; the middle layer is picked after seeing the scores",
    ),
}
for (corpus, claim), d in contrasts.items():
    rows[f"{claim}, {corpus}"] = (
        "not examined",
        f"**{d.verdict}** ({d.difference:+.3f} UA [{d.low:+.3f}, {d.high:+.3f}])",
    )
display(
    Markdown(
        f"| | seed report | here (synthetic speech, `{backbone}`, {kind}) |\n|---|---|---|\n"
        + "\n".join(f"| {k} | {seed_says} | {here} |" for k, (seed_says, here) in rows.items())
    )
)

# %% [markdown]
# Where the verdicts agree with the report, the agreement is about the method,
# not the finding. The seed's encoder was wav2vec2-base after self-supervised
# pre-training on 960 hours of read English {cite}`panayotov2015`, embedding
# human actors; this page's default encoder, `tiny-pretrained`, is a wav2vec2
# of 4 layers of 64 pre-trained in miniature: a few minutes of self-supervised
# training on a CPU (`emocirc pretrain`, see `benchmarks/README.md`) on
# synthetic read speech without emotions, here embedding eSpeak NG speech whose
# emotions are a rule table. Its pre-training saw minutes of audio, not 960
# hours, so it is a first model in kind, not in strength: its layers have
# learned something about speech frames, and a probe that decodes the emotion
# above chance reflects both that and how audible the synthetic prosody rules
# are. With `backbone = "tiny"` (the same network at random init) the encoder
# is a fixed, untrained non-linear filter bank: its largest variance follows
# whatever varies most in the signal (loudness, pitch, the sentence), and
# which hidden state scores best says nothing about the middle-layer result
# for pre-trained models, since a random transformer layer has learned
# nothing to add.
# None of these numbers is a statement about human emotional speech; rerun
# with the real corpora and `backbone="facebook/wav2vec2-base"` for those.
#
# **Next**: the seed's second model, which fine-tunes the encoder on IEMOCAP's
# emotions in the hope that clusters appear.
