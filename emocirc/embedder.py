"""The scikit-learn wrapper of feature extraction: :class:`Wav2Vec2Embedder`.

Also importable as ``emocirc.features.Wav2Vec2Embedder``; it is a module of
its own so that :mod:`emocirc.features`, and with it every extraction
process, does not import scikit-learn.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from emocirc.backbones import load_backbone
from emocirc.features import extract_features, resolve_device, resolve_layers

__all__ = ["Wav2Vec2Embedder"]


class Wav2Vec2Embedder(TransformerMixin, BaseEstimator):
    """scikit-learn transformer: paths or signals in, mean-pooled embeddings out.

    ``fit`` loads the backbone (nothing is learned); ``transform`` calls
    :func:`extract_features` and returns an ``N x (L * D)`` float32 matrix,
    the requested layers side by side.

    Parameters
    ----------
    model:
        Anything :func:`~emocirc.backbones.load_backbone` accepts.
    layer:
        Hidden-state index, a list of them, or ``"all"``; ``-1`` is the last.
    device, precision, batch_seconds, cache, cache_dir:
        As in :func:`extract_features`.

    Attributes
    ----------
    backbone_:
        The loaded backbone.
    layers_:
        The resolved hidden-state indices.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.standard_normal(4000).astype("float32") * s for s in (0.1, 1, 0.1, 1)]
    >>> pipe = make_pipeline(Wav2Vec2Embedder("tiny", layer=2, precision="fp32", cache=False),
    ...                      LogisticRegression())
    >>> pipe.fit(X, [0, 1, 0, 1]).predict(X).shape
    (4,)
    """

    def __init__(
        self,
        model: str | os.PathLike[str] = "tiny",
        layer: int | Sequence[int] | str = -1,
        *,
        device: str = "auto",
        precision: str = "auto",
        batch_seconds: float | None = None,
        cache: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.model = model
        self.layer = layer
        self.device = device
        self.precision = precision
        self.batch_seconds = batch_seconds
        self.cache = cache
        self.cache_dir = cache_dir

    def fit(self, X: Any = None, y: Any = None) -> Wav2Vec2Embedder:
        """Load the backbone; ``X`` and ``y`` are ignored."""
        self.backbone_ = load_backbone(self.model, resolve_device(self.device))
        self.layers_ = resolve_layers(self.layer, self.backbone_.num_layers)
        self.n_features_out_ = len(self.layers_) * self.backbone_.hidden_size
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Embed ``X`` (paths, 1-D 16 kHz signals, or a corpus table)."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "backbone_")
        feats = extract_features(
            X,
            self.backbone_,
            layers=self.layers_,
            device=self.device,
            precision=self.precision,
            batch_seconds=self.batch_seconds,
            cache=self.cache,
            cache_dir=self.cache_dir,
        )
        return feats.embeddings.reshape(len(feats), -1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names ``layer<k>_<j>`` of the output columns."""
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "backbone_")
        dim = self.backbone_.hidden_size
        return np.array([f"layer{k}_{j}" for k in self.layers_ for j in range(dim)], dtype=object)
