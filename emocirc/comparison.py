"""First model against second, like for like: the same held-out speakers, the same scores.

The seed compares the pre-trained encoder (first model) with the one
fine-tuned on IEMOCAP (second model) by their PCA pictures.  A fair number
for that comparison must come from speakers that neither the fine-tuning nor
the probe saw: :func:`run_test_ids` recovers the test utterances of a
speaker-independent fine-tuning run, and :func:`held_out_comparison` scores
every encoder on exactly those utterances, with the PCA and the probes fitted
on the run's other utterances.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import silhouette_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from emocirc.circumplex import concordance_correlation, ridge_valence_arousal
from emocirc.errors import EmocircError
from emocirc.metrics import unweighted_recall


def run_test_ids(run: str | os.PathLike[str], corpus: pd.DataFrame) -> np.ndarray:
    """Ids of the utterances a fine-tuning run was tested on (its split recomputed from its configuration).

    ``corpus`` is the table the run was trained on (``load_corpus(root, four_class=True)``).
    """
    from emocirc.finetune_config import FinetuneConfig
    from emocirc.splits import folds
    from emocirc.training_data import prepare_table

    run = Path(run)
    try:
        saved = json.loads((run / "training_config.json").read_text())
        split_name = json.loads((run / "metrics.json").read_text())["split"]
    except (OSError, ValueError, KeyError) as err:
        raise EmocircError(f"{run}: expected a finished run of emocirc finetune (one fold)") from err
    config = FinetuneConfig.from_dict(saved["config"])
    table = prepare_table(corpus, config.labels)
    named = [s for s in folds(table, config.protocol, seed=config.seed) if s.name == split_name]
    if not named:
        raise EmocircError(f"{run}: split {split_name!r} is not a fold of {config.protocol} on this corpus")
    return table.iloc[named[0].test]["id"].to_numpy()


def held_out_comparison(features: dict, test_ids, layer: int | None = None, C: float = 1.0) -> pd.DataFrame:
    """Silhouette and probes of several encoders' features on the same held-out utterances.

    Parameters
    ----------
    features:
        Name -> :class:`~emocirc.features.Features` of the same utterances.
    test_ids:
        Utterances scored; all others fit the PCA (2 components) and the probes.
    layer:
        Hidden state compared (default: each encoder's last).

    Returns
    -------
    pandas.DataFrame
        One row per encoder: ``silhouette`` of the emotions in the held-out
        utterances' 2-D PCA, ``emotion_ua`` (logistic probe, balanced classes),
        ``arousal_ccc`` and ``valence_ccc`` (ridge probe), ``n_test``.
        ``attrs["predictions"]`` holds the emotion probe's held-out
        predictions (columns ``id``, ``speaker``, ``label`` and one per
        encoder), for a paired comparison on the same utterances
        (:func:`emocirc.inference.paired_difference`).

    Examples
    --------
    >>> from emocirc.features import Features
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat(["anger", "sadness"], 20)
    >>> X = rng.normal(size=(40, 1, 3)).astype("float32") + (y == "anger")[:, None, None] * 3
    >>> f = Features(ids=np.arange(40).astype(str), labels=y, speakers=np.array(["a"] * 40), embeddings=X,
    ...              layers=np.array([1]), valence=np.full(40, np.nan), arousal=np.full(40, np.nan))
    >>> table = held_out_comparison({"m": f}, [str(i) for i in range(0, 40, 4)])
    >>> float(table.loc["m", "emotion_ua"]), int(table.loc["m", "n_test"])
    (1.0, 10)
    """
    rows = {}
    predictions = None
    wanted = set(np.asarray(test_ids).astype(str))
    for name, feats in features.items():
        test = np.array([i in wanted for i in feats.ids.astype(str)])
        if test.all() or not test.any():
            raise EmocircError(f"{name}: expected the test ids to be some but not all of the utterances")
        X = feats.layer(int(feats.layers[-1]) if layer is None else layer)
        y = feats.labels.astype(str)
        coords = PCA(n_components=2, random_state=0).fit(X[~test]).transform(X[test])
        row = {"silhouette": float(silhouette_score(coords, y[test])) if len(set(y[test])) > 1 else np.nan}
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight="balanced", max_iter=2000))
        predicted = clf.fit(X[~test], y[~test]).predict(X[test])
        row["emotion_ua"] = unweighted_recall(y[test], predicted)
        held = pd.DataFrame(
            {"id": feats.ids.astype(str)[test], "speaker": feats.speakers.astype(str)[test], "label": y[test]}
        )
        if predictions is None:
            predictions = held
        elif not predictions["id"].equals(held["id"]):
            raise EmocircError(
                f"{name}: expected the same utterances, in the same order, as the other encoders"
            )
        predictions[name] = predicted
        for target in ("arousal", "valence"):
            t = np.asarray(getattr(feats, target), dtype=float)
            fit, score = ~test & np.isfinite(t), test & np.isfinite(t)
            row[f"{target}_ccc"] = (
                concordance_correlation(
                    t[score], ridge_valence_arousal().fit(X[fit], t[fit]).predict(X[score])
                )
                if fit.sum() > 1 and score.sum() > 1
                else np.nan
            )
        row["n_test"] = int(test.sum())
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs["predictions"] = predictions
    return table
