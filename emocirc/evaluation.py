"""Scoring a fine-tuned run: predictions for a corpus table and its metrics through the four-class mapping."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import torch

from emocirc.audio import load_audio
from emocirc.classifier import EmotionClassifier, load_classifier
from emocirc.errors import EmocircError
from emocirc.features import resolve_device
from emocirc.metrics import classification_summary
from emocirc.training_data import _collate, prepare_table


def _resolve_device(device: str) -> str:
    """:func:`emocirc.features.resolve_device` as a string (``"cpu"``, ``"cuda"``, ``"cuda:1"``)."""
    return str(resolve_device(device))


def predict(
    checkpoint: str | os.PathLike[str] | EmotionClassifier,
    df: pd.DataFrame,
    device: str = "auto",
    batch_size: int = 1,
) -> pd.DataFrame:
    """Classify every utterance of a table; one row per utterance with its log-probabilities.

    Returns a DataFrame with ``id``, ``label`` (as in ``df``), ``predicted``
    and one ``logp_<class>`` column per class.
    """
    model = checkpoint if isinstance(checkpoint, EmotionClassifier) else None
    device = _resolve_device(device)
    if model is None:
        model = load_classifier(checkpoint, device=device)
    model.to(device).eval()
    paths = df["path"].tolist()
    logps = np.zeros((len(df), len(model.labels)), dtype=np.float32)
    waves = [load_audio(str(p)) for p in paths]
    order = np.argsort([len(w) for w in waves], kind="stable")
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            wav, lens = _collate([waves[i] for i in chunk], None, None)
            logps[chunk] = model(wav.to(device), lens.to(device)).float().cpu().numpy()
    out = pd.DataFrame(
        {
            "id": df["id"].astype(str).tolist(),
            "label": df["label"].tolist(),
            "predicted": [model.labels[i] for i in logps.argmax(axis=1)],
        }
    )
    for i, lab in enumerate(model.labels):
        out[f"logp_{lab}"] = logps[:, i]
    return out


def evaluate(
    checkpoint: str | os.PathLike[str],
    df: pd.DataFrame,
    device: str = "auto",
    batch_size: int = 1,
) -> dict[str, Any]:
    """Score a fine-tuned run on another corpus through the four-class label mapping.

    Utterances whose label has no counterpart among the classifier's classes
    (EMODB's boredom, disgust, fear) are left out and counted.

    Returns
    -------
    dict
        ``n``, ``dropped`` (label -> count), ``weighted_accuracy`` (WA),
        ``unweighted_recall`` (UA), ``macro_f1``, ``recall`` (per class),
        ``labels``, ``confusion`` (rows true, columns predicted),
        ``happiness_as_anger`` (share of true happiness predicted as anger;
        NaN without happiness), ``skipped`` (files the corpus table left out
        with ``skip_bad``) and ``predictions`` (a DataFrame, see :func:`predict`).
    """
    model = load_classifier(checkpoint, device=_resolve_device(device))
    table = prepare_table(df, model.labels)
    if table.empty:
        raise EmocircError(
            f"no utterance of the corpus maps onto the classifier's labels {model.labels} "
            f"(corpus labels: {sorted(set(df['label']))})"
        )
    kept = set(table["id"].astype(str))
    dropped = df.loc[~df["id"].astype(str).isin(kept), "label"].value_counts().to_dict()
    preds = predict(model, table, device=device, batch_size=batch_size)
    summary = classification_summary(preds["label"].tolist(), preds["predicted"].tolist(), model.labels)
    happy = preds["label"] == "happiness"
    share = float((preds.loc[happy, "predicted"] == "anger").mean()) if happy.any() else float("nan")
    return {
        "n": summary["n"],
        "dropped": {str(k): int(v) for k, v in dropped.items()},
        "weighted_accuracy": summary["weighted_accuracy"],
        "unweighted_recall": summary["unweighted_recall"],
        "macro_f1": summary["macro_f1"],
        "recall": summary["recall"],
        "labels": summary["labels"],
        "confusion": summary["confusion"],
        "happiness_as_anger": share,
        "skipped": [str(s) for s in df.attrs.get("skipped", [])],
        "predictions": preds,
    }
