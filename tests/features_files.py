"""Complete features files for tests that build their embeddings by hand.

A path handed to the analyses must be a file ``emocirc extract`` could have
written (the one reader, :func:`emocirc.features.load_features`, checks it);
this writes one from whatever arrays a test has, filling the identifiers,
speakers and ratings it does not care about.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emocirc.features import Features, save_features


def write_features_file(
    path, embeddings, labels, *, layers=None, speakers=None, valence=None, arousal=None
) -> Path:
    """Write ``embeddings`` (N x L x D, or N x D as one layer) and ``labels`` as a complete features file."""
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim == 2:
        emb = emb[:, None, :]
    n = len(labels)
    nan = np.full(n, np.nan)
    save_features(
        path,
        Features(
            ids=np.array([f"u{i:04d}" for i in range(n)]),
            labels=np.asarray(labels, dtype=str),
            speakers=np.asarray(
                speakers if speakers is not None else [f"s{i % 4}" for i in range(n)], dtype=str
            ),
            embeddings=emb,
            layers=np.asarray(layers if layers is not None else np.arange(emb.shape[1]), dtype=np.int64),
            valence=nan if valence is None else np.asarray(valence, dtype=float),
            arousal=nan if arousal is None else np.asarray(arousal, dtype=float),
        ),
    )
    return Path(path)
