# %% [markdown]
# # Pre-training in miniature
#
# **Reproduces**: the seed report's account of wav2vec2 (its Figures 7-9:
# the architecture, the self-supervised pre-training task, the t x 768
# output of an utterance) {cite}`dasilva2023`, for the model this book
# pre-trains itself, and adds the evidence the report took on trust: that
# pre-training taught the model something about speech.
#
# wav2vec2-base was pre-trained on 960 hours of people reading books aloud
# (LibriSpeech {cite}`panayotov2015`) by hiding stretches of its latent
# frames and asking it to recognise the hidden frames' quantised content
# among distractors {cite}`baevski2020`. No checkpoint can be downloaded
# here, so emocirc pre-trains its own, smaller model on an embedded
# counterpart of LibriSpeech: many synthetic speakers reading sentences that
# a grammar of the project's own writes (`emocirc.readspeech`). Their voices
# are eSpeak NG variants that no other corpus of the book uses
# (`emocirc.voices`), so IEMOCAP's and EMODB's speakers stay unheard.
#
# Whether the model learned something is measured as SUPERB does
# {cite}`yang2021superb`: a linear probe on each hidden state, for the
# phonemes of 20 ms frames (on speakers the probe never saw) and for the
# speaker (on utterances it never saw), set against the same architecture
# at random initialisation, and the emotion probes of the next chapter for
# both.
#
# **What it needs**: the read-speech corpus (synthesised and cached on first
# use), the embedded IEMOCAP, and two backbones: the pre-trained one and its
# architecture at random initialisation.

# %% tags=["parameters"]
backbone = "tiny-pretrained"  # the pre-trained backbone (built once by `emocirc pretrain`'s code, cached)
random_backbone = "tiny"  # the same architecture at random initialisation
pretrain_run = None  # directory written by `emocirc pretrain`; None = the built-in's own run, if any
objective = "hubert"  # the objective drawn when no run says which ("hubert" or "wav2vec2")
probe_scale = 0.2  # size of the probe corpus (read speech, about hours; 0.2 = 13 speakers, 156 utterances)
probe_seed = 1  # seed of the probe corpus: other texts and habits than pre-training's (seed 0)
iemocap_scale = 1.0  # size of the synthetic IEMOCAP (1.0 = 900 utterances); the same in every chapter
iemocap_root = None  # IEMOCAP folder; None = the embedded synthetic corpus
device = "auto"
precision = "fp32"
seed = 0
test_fraction = 0.4  # share of the probe corpus's speakers held out of the phoneme probe (0.4 of 13: 5)
max_train_frames = 5000  # frames the phoneme probe is fitted on (cost bound)
n_boot = 2000  # speaker-bootstrap resamples of every interval on this page
torch_threads = 1  # CPU threads for the encoder
skip_bad = False  # True: leave out damaged audio files (listed in the banner) instead of stopping

# %%
import json
from pathlib import Path

import pandas as pd
import torch
from IPython.display import Markdown, display

from emocirc import backbones
from emocirc.backbones import load_backbone
from emocirc.corpora import load_corpus
from emocirc.features import extract_features
from emocirc.plotting import apply_style
from emocirc.plotting import pretraining as ptplot
from emocirc.plotting.layers import layer_scores
from emocirc.probing import (
    describe_margin,
    layer_probe,
    phoneme_probe,
    probe_intervals,
    probe_margin,
    speaker_probe,
)
from emocirc.provenance import banner
from emocirc.readspeech import frame_labels, load_readspeech
from emocirc.synth import ensure_corpus

torch.set_num_threads(torch_threads)
apply_style()
probe_root = ensure_corpus("readspeech", seed=probe_seed, scale=probe_scale)
iemocap_root = iemocap_root or ensure_corpus("iemocap", seed=seed, scale=iemocap_scale)
if pretrain_run is None and backbone in getattr(backbones, "PRETRAINED_BUILTINS", {}):
    pretrain_run = backbones.ensure_pretrained(backbone)  # cached: built once by `make book`
banner(
    {"read speech (probes)": probe_root, "IEMOCAP": iemocap_root},
    backbone,
    skip_bad=skip_bad,
    corpora=["IEMOCAP"],
)

# %% [markdown]
# ## The model (the seed's Figure 7)
#
# A convolutional feature encoder turns 16 kHz audio into one latent frame
# every 20 ms; a transformer turns the sequence of frames into context
# vectors. In wav2vec 2.0's pre-training (drawn here, as in the seed) a
# quantiser turns the latent frames into the targets of a contrastive loss;
# HuBERT's objective, which the next section shows when the run used it,
# replaces both by k-means units of MFCC frames. The sizes in the diagram
# are the backbone's own.

# %%
model = load_backbone(backbone)
fig = ptplot.architecture_diagram(model.model.config, title=f"The architecture of `{backbone}`")

# %% [markdown]
# ## The self-supervised task (the seed's Figure 8)
#
# Spans of latent frames are masked, and the transformer must say, at each
# masked frame, what was there: in wav2vec 2.0 by telling the frame's own
# quantised target from distractors taken elsewhere in the utterance, in
# HuBERT {cite}`hsu2021` by naming the frame's cluster among k-means
# units of its MFCCs. No label is needed, only speech. The diagram shows the
# objective the pre-training run used (its `pretrain_config.json`).

# %%
if pretrain_run is not None:
    objective = json.loads(Path(pretrain_run, "pretrain_config.json").read_text()).get("objective", objective)
fig = ptplot.objective_diagram(objective=objective)

# %% [markdown]
# ## Learning curves
#
# The loss and the masked-prediction accuracy on held-out audio, from the
# pre-training run's log.

# %%
if pretrain_run is not None:
    log = pd.read_json(f"{pretrain_run}/log.jsonl", lines=True)
    fig = ptplot.pretraining_curves(log)
else:
    print(f"`{backbone}` was not pre-trained here (no pre-training log): no learning curves to show.")

# %% [markdown]
# ## The output of one utterance (the seed's Figure 9)
#
# The probe corpus: read speech in the same kind of voices as pre-training's,
# but other sentences and other speaking habits (another seed). Every 20 ms
# frame carries eSpeak's phoneme, from the synthesiser's own phoneme events.

# %%
readspeech = load_readspeech(probe_root)
phones = frame_labels(readspeech)
print(
    f"{len(readspeech)} utterances, {readspeech['speaker'].nunique()} speakers, "
    f"{readspeech['duration'].sum() / 60:.1f} minutes, {sum(len(p) for p in phones)} frames"
)
readspeech[["id", "speaker", "voice", "text", "duration"]].head()

# %%
pretrained = extract_features(readspeech, backbone, frames=True, device=device, precision=precision)
random_init = extract_features(readspeech, random_backbone, frames=True, device=device, precision=precision)
last = int(pretrained.layers[-1])
fig = ptplot.frame_output(
    pretrained.frames[0][-1],
    frame_rate=model.frame_rate,
    phones=phones[0],
    title=f"“{readspeech['text'].iloc[0]}”: last hidden state, "
    f"{pretrained.frames[0].shape[1]} frames x {pretrained.frames[0].shape[2]}",
)

# %% [markdown]
# ## What each layer knows: phonemes and speakers
#
# A linear probe (a logistic regression on standardised features) per hidden
# state. **Phonemes**: every non-silent frame is classified; the probe is
# fitted on some speakers and scored on the others, so a code that only
# works for known voices does not count. **Speakers**: each utterance's
# frames are averaged and the speaker named; as in SUPERB's speaker
# identification the held-out part is utterances, not speakers (a speaker
# must have been met to be named). Dotted: always answering the commonest
# class.

# %%
phone_probe = {
    name: phoneme_probe(f, phones, test_fraction=test_fraction, max_train_frames=max_train_frames, seed=seed)
    for name, f in (("pre-trained", pretrained), ("random init", random_init))
}
fig = ptplot.probe_comparison(
    {name: r.table for name, r in phone_probe.items()},
    title="Frame phoneme probe on held-out speakers",
    ylabel="frame accuracy",
)

# %%
spk_probe = {
    name: speaker_probe(f, seed=seed)
    for name, f in (("pre-trained", pretrained), ("random init", random_init))
}
fig = ptplot.probe_comparison(
    {name: r.table for name, r in spk_probe.items()},
    title="Speaker identification on held-out utterances",
    ylabel="utterance accuracy",
)

# %% [markdown]
# By how much does pre-training help? The difference of the best layers'
# accuracies, with a 95 % interval from the book's speaker bootstrap
# (`emocirc.inference.speaker_bootstrap`, whose module notes document the
# scheme; `emocirc.probing.probe_margin`): the held-out speakers are
# resampled with replacement, each bringing all their frames (the probe
# keeps per-speaker counts, so the second stage, utterances within a
# speaker, is not drawn), and both accuracies are recomputed on every
# resample. Both models are scored on the same frames, so the comparison is
# paired. The sentence under the table says how many resamples and speakers.

# %%
margins = {
    "phonemes": probe_margin(
        phone_probe["pre-trained"], phone_probe["random init"], n_boot=n_boot, seed=seed
    ),
    "speakers": probe_margin(spk_probe["pre-trained"], spk_probe["random init"], n_boot=n_boot, seed=seed),
}
same_network = str(backbone) == str(random_backbone)
display(
    Markdown(
        "| probe | best layer (pre-trained, random init) | margin [95 % interval] |\n|---|---|---|\n"
        + "\n".join(
            f"| {name} | {m['layer_a']}, {m['layer_b']} | "
            + ("not a comparison: both are the same random network" if same_network else describe_margin(m))
            + " |"
            for name, m in margins.items()
        )
        + "\n\n"
        + "; ".join(f"{name}: {m['scheme']}" for name, m in margins.items())
        + "."
    )
)

# %% [markdown]
# ## The emotion probes, before any fine-tuning
#
# The probes of the next chapter (emotion by UA, arousal and valence by CCC,
# IEMOCAP's sessions held out in turn) for both networks: does pre-training on
# neutral read speech already put the emotions within a linear probe's reach?
#
# The bands are 95 % intervals of the book's speaker bootstrap
# (`emocirc.probing.probe_intervals`: held-out speakers resampled, then their
# utterances, the probes' out-of-fold predictions rescored); the table after
# the figures gives each target's best hidden state with its interval. The
# best layer is picked after seeing the scores, which flatters it.

# %%
iemocap = load_corpus(iemocap_root, four_class=True, skip_bad=skip_bad)
emotion_probe, emotion_ci = {}, {}
for name, spec in (("pre-trained", backbone), ("random init", random_backbone)):
    f = extract_features(iemocap, spec, device=device, precision=precision)
    emotion_probe[name], predictions = layer_probe(
        f,
        ["label", "arousal", "valence"],
        groups=iemocap["session"],
        n_splits=None,
        seed=seed,
        predictions=True,
    )
    emotion_ci[name] = probe_intervals(predictions, n_resamples=n_boot, seed=seed)
fig = layer_scores(
    emotion_probe["pre-trained"],
    intervals=emotion_ci["pre-trained"],
    title=f"IEMOCAP probes, `{backbone}` (pre-trained; 95 % speaker-bootstrap bands)",
)

# %%
fig = layer_scores(
    emotion_probe["random init"],
    intervals=emotion_ci["random init"],
    title=f"IEMOCAP probes, `{random_backbone}` (random init; 95 % speaker-bootstrap bands)",
)


# %%
def best_layer(ci):
    """Each target's best hidden state, its score and 95 % speaker-bootstrap interval."""
    rows = ci.reset_index(drop=True)
    rows = rows.loc[rows.groupby("target")["score"].idxmax()].set_index("target")
    return pd.Series(
        {
            t: f"{r.score:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}], layer {int(r.layer)}"
            for t, r in rows.iterrows()
        }
    )


pd.concat({name: best_layer(ci) for name, ci in emotion_ci.items()}, axis=1)

# %% [markdown]
# ## Summary
#
# The tables above carry this page's verdicts, computed from the numbers:
# whether the pre-trained network's frames hold more phonetic and speaker
# information than the same network at random initialisation, and by how
# much, with an interval; and what either offers the emotion probes before
# any fine-tuning. All of it is measured on eSpeak's speech, so it says how
# the method behaves, not how a model pre-trained on human speech would.
#
# **Next**: the seed's first model, the PCA of these features for IEMOCAP
# and EMODB.
