"""The field's standard expert features: eGeMAPS functionals through openSMILE (optional).

The extended Geneva Minimalistic Acoustic Parameter Set (eGeMAPS v02,
Eyben et al. 2016) is the 88-value summary of pitch, loudness,
spectral balance, formants, voice quality and rhythm that emotion-recognition
papers report as their expert-feature baseline (nkululeko's ``os`` features,
the ComParE challenges' smaller sibling).  This module computes it per
utterance with audEERING's ``opensmile`` package and hands it over in the
shapes the rest of emocirc scores:

- :func:`extract_egemaps_features` gives a DataFrame, one row per file, that
  :func:`emocirc.prosodic_baseline.loso_baseline` scores exactly like the hand-made
  prosodic features;
- :func:`egemaps_embeddings` gives a one-"layer" :class:`~emocirc.features.Features`,
  so that :func:`emocirc.probing.layer_probe` scores it beside a wav2vec2
  hidden state with the same folds.

``opensmile`` is an optional extra (``pip install emocirc[egemaps]``): it is
released under the audEERING Research License Agreement (non-commercial use
only), not emocirc's MIT licence, so the core install leaves it out.
Without it every function here raises one :class:`~emocirc.errors.EmocircError`
saying how to install it.  Values are cached per file content under
``<cache>/egemaps/``.

Examples
--------
>>> import pytest; _ = pytest.importorskip("opensmile")  # these examples need the extra
>>> feats = egemaps_features(np.sin(2 * np.pi * 200 * np.arange(16000) / 16000), 16000)
>>> len(feats)
88
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emocirc._io import atomic_path, default_cache_dir
from emocirc.errors import EmocircError

#: The openSMILE feature set (functionals of eGeMAPS v02, 88 values).
FEATURE_SET = "eGeMAPSv02"

#: What to run when ``opensmile`` is missing.
INSTALL_HINT = "pip install emocirc[egemaps]"


def is_available() -> bool:
    """Whether the optional ``opensmile`` package is installed.

    Examples
    --------
    >>> isinstance(is_available(), bool)
    True
    """
    try:
        return importlib.util.find_spec("opensmile") is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        return False


@functools.lru_cache(maxsize=1)
def _smile() -> Any:
    try:
        import opensmile
    except ImportError:
        raise EmocircError(
            "eGeMAPS features need the optional package opensmile (audEERING's research licence, "
            f"not in the core install): {INSTALL_HINT}"
        ) from None
    return opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, FEATURE_SET),
        feature_level=opensmile.FeatureLevel.Functionals,
    )


def feature_names() -> list[str]:
    """The 88 eGeMAPS v02 functionals, in column order.

    Examples
    --------
    >>> import pytest; _ = pytest.importorskip("opensmile")  # these examples need the extra
    >>> feature_names()[0]
    'F0semitoneFrom27.5Hz_sma3nz_amean'
    """
    return list(_smile().feature_names)


def _version() -> str:
    import opensmile

    return str(opensmile.__version__)


def egemaps_features(x: np.ndarray, sr: int = 16000) -> dict[str, float]:
    """eGeMAPS v02 functionals of one mono signal.

    Parameters
    ----------
    x : numpy.ndarray
        Mono signal (float, -1..1).
    sr : int
        Sample rate in Hz.

    Returns
    -------
    dict
        Feature name -> value, in :func:`feature_names` order. F0 is in
        semitones above 27.5 Hz, loudness in sones (auditory spectrum).

    Examples
    --------
    >>> import pytest; _ = pytest.importorskip("opensmile")  # these examples need the extra
    >>> t = np.arange(16000) / 16000
    >>> f = egemaps_features(0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    >>> round(f["F0semitoneFrom27.5Hz_sma3nz_amean"])  # 3 octaves above 27.5 Hz
    36
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise EmocircError(f"signal of shape {x.shape}: expected a mono 1-D signal")
    if x.size == 0:
        raise EmocircError("empty signal: expected at least one sample")
    smile = _smile()
    values = smile.process_signal(x, sr).to_numpy(dtype=np.float64)[0]
    return dict(zip(smile.feature_names, values.tolist(), strict=True))


def _file_key(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def extract_egemaps_features(
    paths: Iterable[str | os.PathLike[str]],
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> pd.DataFrame:
    """eGeMAPS functionals of audio files, one row per file.

    Files are read with :func:`emocirc.audio.load_audio` (mono, 16 kHz), the
    same audio every other feature of emocirc sees.

    Parameters
    ----------
    paths:
        Audio files.
    cache_dir:
        Cache root (default: :func:`emocirc._io.default_cache_dir`); entries
        are keyed by the file's bytes and the opensmile version.
    use_cache:
        ``False`` computes everything afresh and writes nothing.

    Returns
    -------
    pandas.DataFrame
        ``len(paths) x 88``, columns :func:`feature_names`.

    Examples
    --------
    >>> import pytest; _ = pytest.importorskip("opensmile")  # these examples need the extra
    >>> import tempfile, pathlib, soundfile as sf
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> t = np.arange(16000) / 16000
    >>> sf.write(d / "a.wav", 0.3 * np.sin(2 * np.pi * 120 * t), 16000, subtype="PCM_16")
    >>> extract_egemaps_features([d / "a.wav"], use_cache=False).shape
    (1, 88)
    """
    from emocirc.audio import SAMPLE_RATE, load_audio

    names = feature_names()
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = root / "egemaps" / f"{FEATURE_SET}-opensmile{_version()}"
    rows = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise EmocircError(f"{path}: no such audio file (expected a file to measure eGeMAPS on)")
        entry = folder / f"{_file_key(path)}.npy" if use_cache else None
        if entry is not None and entry.is_file():
            rows.append(np.load(entry))
            continue
        values = np.array(list(egemaps_features(load_audio(path), SAMPLE_RATE).values()))
        if entry is not None:
            entry.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(entry, suffix=".npy") as tmp:
                np.save(tmp, values)
        rows.append(values)
    return pd.DataFrame(np.array(rows).reshape(len(rows), len(names)), columns=names)


def egemaps_embeddings(corpus: pd.DataFrame, **kwargs: Any) -> Any:
    """eGeMAPS of a corpus table as a one-layer :class:`~emocirc.features.Features`.

    The single "hidden state" is numbered 0 and holds the 88 functionals;
    ids, labels, speakers and ratings come from the corpus table (as
    :func:`emocirc.features.extract_features` takes them), so
    :func:`emocirc.probing.layer_probe` scores eGeMAPS with the same folds
    as a wav2vec2 layer.  Keyword arguments go to :func:`extract_egemaps_features`.

    Examples
    --------
    >>> import pytest; _ = pytest.importorskip("opensmile")  # these examples need the extra
    >>> import tempfile, pathlib, soundfile as sf
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> sf.write(d / "a.wav", 0.3 * np.sin(2 * np.pi * 120 * np.arange(16000) / 16000), 16000)
    >>> corpus = pd.DataFrame({"id": ["a"], "path": [d / "a.wav"], "label": ["anger"], "speaker": ["1"]})
    >>> egemaps_embeddings(corpus, use_cache=False).embeddings.shape
    (1, 1, 88)
    """
    from emocirc.features import Features

    missing = {"path", "label", "speaker"} - set(corpus.columns)
    if missing:
        raise EmocircError(
            f"corpus table has columns {list(corpus.columns)}; expected path, label and speaker "
            f"(missing {sorted(missing)})"
        )
    table = extract_egemaps_features(corpus["path"], **kwargs)
    n = len(corpus)
    ids = corpus["id"] if "id" in corpus.columns else [Path(p).stem for p in corpus["path"]]

    def rating(name: str) -> np.ndarray:
        return corpus[name].to_numpy(float) if name in corpus.columns else np.full(n, np.nan)

    return Features(
        ids=np.asarray(ids).astype(str),
        labels=corpus["label"].astype(str).to_numpy(),
        speakers=corpus["speaker"].astype(str).to_numpy(),
        embeddings=table.to_numpy(np.float32)[:, None, :],
        layers=np.array([0]),
        valence=rating("valence"),
        arousal=rating("arousal"),
        info={"backbone": f"{FEATURE_SET} (opensmile {_version()})"},
    )
