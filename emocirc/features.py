"""wav2vec2-family embeddings of a corpus: exact under batching, cached, fast.

:func:`extract_features` turns a corpus table (or a list of files or
signals) into the hidden states of a backbone, mean-pooled over each
utterance's valid frames, and :func:`save_features` / :func:`load_features`
write and read them in the project's features file, the interface of every
analysis step:

============  =========================================================
array         content
============  =========================================================
``ids``       utterance ids (str, N)
``labels``    canonical emotion labels (str, N; ``""`` where none)
``speakers``  speaker ids (str, N; ``""`` where none)
``embeddings`` float32, N x L x D: mean of each requested hidden state
              over the utterance's valid 20 ms frames
``layers``    int, L: hidden-state index of each slice of ``embeddings``
              (0 = the projected CNN features entering the transformer,
              Hugging Face's ``hidden_states[0]``; 1..num_layers =
              transformer layers)
``valence``   float, N (the corpus's scale; NaN where it has none)
``arousal``   float, N (likewise)
============  =========================================================

Files also carry ``backbone``, ``fingerprint``, ``precision`` (0-d strings),
``skipped`` (str, one ``"<path>: <reason>"`` per input left out with
``skip_bad``; absent from older files, read as none) and, when frame-level
output was asked for, ``frames`` (float32, total
frames x L x D) with ``frame_offsets`` (int, N + 1): utterance ``i`` owns
rows ``frame_offsets[i]:frame_offsets[i + 1]``.

How it computes: utterances are sorted by length and cut into batches of
about ``batch_seconds`` of audio (little padding), each computed by
:mod:`emocirc.fast_forward` (exact under batching: each utterance's first
group norm is taken over its own valid samples, and the transformer gets an
attention mask; fast: bf16 weights, packed linears, an analytic first group
norm, an FFT positional convolution, its own encoder loop).  The forward
stops at the highest requested layer.  On a GPU each batch is queued before
the previous one's results are fetched, so the host prepares batch k+1 while
the GPU computes batch k (``Tuning.pipeline``).

Every result is cached on disk, one entry per utterance (or per chunk of
windows), keyed by the backbone's fingerprint, the hash of the decoded
samples (xxh3-128, computed by the loader thread as it decodes each file for
its batch, so keying costs no extra read and overlaps the model's work), the
layers, the pooling and the precision; an interrupted run keeps what it
computed.  Under ``accelerate launch`` each process embeds a shard of the
utterances into the shared cache (``shard=``), and one process assembles the
file from it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emocirc._io import atomic_path, default_cache_dir, save_npz
from emocirc.audio import SAMPLE_RATE, audio_info, load_audio
from emocirc.backbones import Backbone, load_backbone
from emocirc.errors import EmocircError
from emocirc.fast_forward import collect, current_tuning, forward_hidden_states, launch
from emocirc.frames import receptive_field

#: Arrays every features file holds.
REQUIRED_ARRAYS: tuple[str, ...] = ("ids", "labels", "speakers", "embeddings", "layers", "valence", "arousal")

#: Precisions :func:`extract_features` accepts.
PRECISIONS: tuple[str, ...] = ("auto", "bf16", "fp32", "int8")

# Bumped whenever the computation changes, so old cache entries are not served.
_CACHE_VERSION = 5  # 2: FFT pos. conv on CUDA; 3: bf16 weights, analytic first group norm; 4: CPU prepacking;
# 5: keys from the decoded samples' xxh3-128 (content_hash), not the file's blake2b


@dataclass
class Features:
    """Embeddings of a set of utterances and the metadata that goes with them.

    The fields are the arrays of the features file (see the module
    docstring); ``frames`` holds one ``(L, T_i, D)`` array per utterance when
    frame-level output was asked for, ``starts``/``ends`` the window bounds
    in seconds when the rows are sliding windows, and ``skipped`` the inputs
    left out by ``skip_bad`` with the reason.

    Examples
    --------
    >>> import numpy as np
    >>> f = Features(ids=np.array(["a", "b"]), labels=np.array(["anger", "neutral"]),
    ...              speakers=np.array(["1F", "1M"]), embeddings=np.zeros((2, 3, 4), "float32"),
    ...              layers=np.array([0, 2, 4]), valence=np.full(2, np.nan), arousal=np.full(2, np.nan))
    >>> len(f), f.layer(4).shape
    (2, (2, 4))
    """

    ids: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    embeddings: np.ndarray
    layers: np.ndarray
    valence: np.ndarray
    arousal: np.ndarray
    frames: list[np.ndarray] | None = None
    starts: np.ndarray | None = None
    ends: np.ndarray | None = None
    skipped: list[str] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def layer(self, index: int) -> np.ndarray:
        """The ``N x D`` embeddings of hidden state ``index`` (as numbered in ``layers``)."""
        matches = np.flatnonzero(self.layers == int(index))
        if matches.size == 0:
            raise EmocircError(
                f"layer {index} is not in these features; expected one of {self.layers.tolist()}"
            )
        return self.embeddings[:, int(matches[0])]

    def as_dict(self) -> dict[str, np.ndarray]:
        """The arrays of the features file, as :func:`save_features` writes them."""
        arrays = {name: getattr(self, name) for name in REQUIRED_ARRAYS}
        for name in ("backbone", "fingerprint", "precision"):
            arrays[name] = np.array(self.info.get(name, ""))
        arrays["skipped"] = np.array([str(s) for s in self.skipped], dtype=str)
        if self.frames is not None:
            counts = [f.shape[1] for f in self.frames]
            arrays["frame_offsets"] = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            arrays["frames"] = (
                np.concatenate([f.transpose(1, 0, 2) for f in self.frames])
                if self.frames
                else np.zeros((0, len(self.layers), self.embeddings.shape[-1]), np.float32)
            )
        if self.starts is not None:
            arrays["starts"], arrays["ends"] = self.starts, self.ends
        return arrays


# --------------------------------------------------------------------------- file format


def save_features(path: str | os.PathLike[str], features: Features) -> None:
    """Write ``features`` to an ``.npz`` file (atomically), in the documented format.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> f = Features(ids=np.array(["a"]), labels=np.array(["anger"]), speakers=np.array(["03"]),
    ...              embeddings=np.ones((1, 2, 3), "float32"), layers=np.array([0, 1]),
    ...              valence=np.array([np.nan]), arousal=np.array([4.0]))
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "f.npz"
    >>> save_features(out, f)
    >>> g = load_features(out)
    >>> g.ids.tolist(), g.embeddings.shape, float(g.arousal[0])
    (['a'], (1, 2, 3), 4.0)
    """
    arrays = features.as_dict()
    for name in ("ids", "labels", "speakers"):
        # Fixed-width unicode, not object arrays, so np.load needs no pickle.
        arrays[name] = np.asarray(arrays[name]).astype(str)
    arrays["embeddings"] = np.asarray(arrays["embeddings"], dtype=np.float32)
    arrays["layers"] = np.asarray(arrays["layers"], dtype=np.int64)
    for name in ("valence", "arousal"):
        arrays[name] = np.asarray(arrays[name], dtype=np.float64)
    save_npz(path, **arrays)


def load_features(path: str | os.PathLike[str]) -> Features:
    """Read a features file written by :func:`save_features` or ``emocirc extract``.

    Raises :class:`EmocircError` naming the file when it is missing, not an
    ``.npz`` archive, or lacks one of the documented arrays.
    """
    path = Path(path)
    if not path.is_file():
        raise EmocircError(f"{path}: features file not found; expected an .npz written by emocirc extract")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as err:
        raise EmocircError(f"{path}: not a readable .npz features file ({err.__class__.__name__})") from None
    missing = [name for name in REQUIRED_ARRAYS if name not in arrays]
    if missing:
        raise EmocircError(
            f"{path}: features file lacks array(s) {', '.join(missing)}; expected {REQUIRED_ARRAYS}"
        )
    emb = arrays["embeddings"]
    if emb.ndim != 3 or emb.shape[0] != len(arrays["ids"]) or emb.shape[1] != len(arrays["layers"]):
        raise EmocircError(
            f"{path}: embeddings of shape {emb.shape} do not match {len(arrays['ids'])} ids "
            f"and {len(arrays['layers'])} layers; expected N x L x D"
        )
    frames = None
    if "frames" in arrays and "frame_offsets" in arrays:
        off = arrays["frame_offsets"]
        frames = [arrays["frames"][a:b].transpose(1, 0, 2) for a, b in zip(off[:-1], off[1:], strict=True)]
    return Features(
        ids=arrays["ids"].astype(str),
        labels=arrays["labels"].astype(str),
        speakers=arrays["speakers"].astype(str),
        embeddings=emb.astype(np.float32, copy=False),
        layers=arrays["layers"].astype(np.int64),
        valence=arrays["valence"].astype(np.float64),
        arousal=arrays["arousal"].astype(np.float64),
        frames=frames,
        starts=arrays.get("starts"),
        ends=arrays.get("ends"),
        skipped=[str(s) for s in arrays["skipped"]] if "skipped" in arrays else [],
        info={name: str(arrays[name]) for name in ("backbone", "fingerprint", "precision") if name in arrays},
    )


# --------------------------------------------------------------------------- settings


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is CUDA when available, else the CPU; anything else is checked.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise EmocircError(f"device {device!r}: expected auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise EmocircError(f"device {device!r}: CUDA is not available here; expected auto or cpu")
    return resolved


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` is bf16 where the device computes it natively, else fp32.

    Examples
    --------
    >>> resolve_precision("fp32", torch.device("cpu"))
    'fp32'
    """
    if precision not in PRECISIONS:
        raise EmocircError(f"precision {precision!r}: expected one of {', '.join(PRECISIONS)}")
    if precision == "int8" and device.type != "cpu":
        raise EmocircError(f"precision 'int8' on {device}: expected a CPU (use bf16 or fp32 on a GPU)")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if _cpu_has_bf16() else "fp32"


def _cpu_has_bf16() -> bool:
    # Emulated bf16 (plain AVX-512) is slower than fp32; only native units pay.
    # EMOCIRC_CPU_BF16=0 forces the no-bf16 path (emocirc.cpu_int8.FORCE_BF16_ENV).
    from emocirc.cpu_int8 import cpu_has_native_bf16

    return cpu_has_native_bf16()


def resolve_layers(layers: str | int | Iterable[int], num_layers: int) -> list[int]:
    """Turn ``"all"``, ``"0,6,12"``, an int or ints (negative from the end) into sorted indices.

    Examples
    --------
    >>> resolve_layers("all", 4)
    [0, 1, 2, 3, 4]
    >>> resolve_layers("4,0", 12), resolve_layers(-1, 12)
    ([0, 4], [12])
    """
    if isinstance(layers, str):
        if layers.strip() == "all":
            return list(range(num_layers + 1))
        try:
            layers = [int(part) for part in layers.split(",") if part.strip()]
        except ValueError:
            raise EmocircError(f"layers {layers!r}: expected 'all' or comma-separated integers") from None
    elif isinstance(layers, (int, np.integer)):
        layers = [int(layers)]
    resolved = set()
    for layer in layers:
        index = int(layer) + (num_layers + 1 if int(layer) < 0 else 0)
        if not 0 <= index <= num_layers:
            raise EmocircError(f"layer {layer}: expected 0..{num_layers} (or a negative index from the end)")
        resolved.add(index)
    if not resolved:
        raise EmocircError("layers: expected at least one layer")
    return sorted(resolved)


def default_batch_seconds(device: torch.device) -> float:
    """Audio seconds per batch: large on a GPU (it is throughput bound), small on a CPU.

    On a CPU one utterance already keeps the matrix products busy, and a batch
    of unequal lengths computes its padding: 8 s batches ran at 1.6x the naive
    loop where 32 s batches ran at 1.2x (benchmarks/README.md).
    """
    return 600.0 if device.type == "cuda" else 8.0


# --------------------------------------------------------------------------- the cache


def content_hash(signal: np.ndarray) -> str:
    """Cache key of a decoded signal: xxh3-128 of its float32 samples (hex, 32 characters).

    The hash is over the samples as decoded and resampled to 16 kHz, so it is
    computed where the audio is loaded anyway (no second read of the file),
    and the same audio gets the same key whatever its container.  xxh3 is
    not cryptographic: it guards a cache against changed audio, not against
    an adversary; at several GB/s it costs little next to the decoding.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros(16000, "float32")
    >>> content_hash(x) == content_hash(x.copy()), len(content_hash(x))
    (True, 32)
    >>> y = x.copy(); y[123] = 1e-6
    >>> content_hash(y) == content_hash(x)
    False
    """
    import xxhash

    samples = np.ascontiguousarray(signal, dtype=np.float32)
    if samples.ndim != 1:
        raise EmocircError(f"signal of shape {samples.shape}: expected a 1-D 16 kHz signal to hash")
    return xxhash.xxh3_128_hexdigest(memoryview(samples).cast("B"))


class FeatureCache:
    """Per-utterance ``.npy`` entries under ``<cache_dir>/features/<fingerprint>/``.

    Keys combine the decoded audio's :func:`content_hash` with everything that changes the
    result (layers, pooling, precision, window); the backbone's fingerprint
    names the directory, so changed weights never meet old entries.
    """

    #: Threads that write entries, and entries in flight at most before :meth:`put` waits
    #: (which bounds the memory the pending arrays hold).
    WRITERS, MAX_PENDING = 4, 64

    def __init__(self, cache_dir: str | os.PathLike[str] | None, fingerprint: str) -> None:
        root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.directory = root / "features" / fingerprint
        self._writer: ThreadPoolExecutor | None = None
        self._pending: list[Future] = []

    @staticmethod
    def key(audio_hash: str, **settings: Any) -> str:
        payload = json.dumps({"v": _CACHE_VERSION, "audio": audio_hash, **settings}, sort_keys=True)
        return hashlib.blake2b(payload.encode(), digest_size=16).hexdigest()

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        path = self._path(key)
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            # Missing, or (never from us, since writes are atomic) unreadable.
            return None

    def put(self, key: str, array: np.ndarray) -> None:
        """Write an entry in the background; :meth:`flush` (or leaving a ``with`` block) waits for it.

        Each entry is fsync'ed before the rename that publishes it, which costs
        milliseconds a file; writer threads overlap those waits with each other
        and with the model's work.  A reader (this or another process) sees an
        entry complete or not at all.
        """
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=self.WRITERS, thread_name_prefix="emocirc-cache")
        if len(self._pending) >= self.MAX_PENDING:
            self._wait(self.MAX_PENDING // 2)
        # A float32 copy: the caller may reuse its array while the write is pending.
        self._pending.append(self._writer.submit(self._write, key, np.array(array, dtype=np.float32)))

    def write(self, key: str, array: np.ndarray) -> None:
        """Write an entry now, atomically (fsync'ed, then renamed into place), as float32."""
        self._write(key, np.asarray(array, dtype=np.float32))

    def _write(self, key: str, array: np.ndarray) -> None:
        """:meth:`write` of an array that is float32 already (no second conversion)."""
        with atomic_path(self._path(key), suffix=".npy") as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, array)

    def _wait(self, keep: int = 0) -> None:
        done, self._pending = (
            self._pending[: len(self._pending) - keep],
            self._pending[len(self._pending) - keep :],
        )
        for future in done:
            future.result()  # re-raises a failed write (e.g. a full disk), naming nothing lost

    def flush(self) -> None:
        """Wait until every entry :meth:`put` so far is published; raise the first write error."""
        try:
            self._wait()
        finally:
            if self._writer is not None:
                self._writer.shutdown(wait=True)
                self._writer = None

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.flush()
        else:  # keep what was computed, but let the original error through
            with contextlib.suppress(Exception):
                self.flush()

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.npy")) if self.directory.is_dir() else 0


# --------------------------------------------------------------------------- extraction


@dataclass
class _Item:
    index: int
    name: str
    source: str | np.ndarray
    samples: int  # estimated, for sorting; the loaded signal decides
    problem: str = ""
    key: str = ""  # cache key, set by the loader from the decoded samples


def _as_table(source: Any) -> tuple[list[str], list[Any], dict[str, list[Any]]]:
    """ids, sources (paths or arrays) and metadata columns of any accepted input."""
    try:
        import pandas as pd

        is_frame = isinstance(source, pd.DataFrame)
    except ImportError:  # pragma: no cover - pandas is a dependency
        is_frame = False
    if is_frame:
        if "path" not in source.columns:
            raise EmocircError(f"corpus table has columns {list(source.columns)}; expected a 'path' column")
        n = len(source)
        ids = (
            [str(v) for v in source["id"]]
            if "id" in source.columns
            else [Path(p).stem for p in source["path"]]
        )
        meta = {
            "labels": [str(v) for v in source["label"]] if "label" in source.columns else [""] * n,
            "speakers": [str(v) for v in source["speaker"]] if "speaker" in source.columns else [""] * n,
        }
        for name in ("valence", "arousal"):
            meta[name] = source[name].astype(float).tolist() if name in source.columns else [np.nan] * n
        return ids, [str(p) for p in source["path"]], meta
    if isinstance(source, (str, os.PathLike, np.ndarray)):
        source = [source]
    items = list(source)
    ids, sources = [], []
    for i, item in enumerate(items):
        if isinstance(item, np.ndarray):
            if item.ndim != 1:
                raise EmocircError(f"signal {i} has shape {item.shape}; expected a 1-D 16 kHz signal")
            ids.append(f"signal{i:05d}")
            sources.append(item)
        elif isinstance(item, (str, os.PathLike)):
            ids.append(Path(item).stem)
            sources.append(str(item))
        else:
            raise EmocircError(f"input {i} is a {type(item).__name__}; expected a path or a 1-D signal")
    n = len(items)
    meta = {"labels": [""] * n, "speakers": [""] * n, "valence": [np.nan] * n, "arousal": [np.nan] * n}
    return ids, sources, meta


def _scan(index: int, name: str, source: str | np.ndarray) -> _Item:
    # Only the header is read here (for the length order); the samples, and with
    # them the cache key, come when the loader decodes the file for its batch.
    if isinstance(source, np.ndarray):
        return _Item(index, name, source, len(source))
    item = _Item(index, name, source, sys.maxsize)
    try:
        info = audio_info(source)
        item.samples = int(round(info.frames * SAMPLE_RATE / max(info.sample_rate, 1)))
    except OSError as err:
        item.problem = f"{source}: cannot read file ({err.strerror or err}); expected an audio file"
    except EmocircError as err:
        # Unreadable headers sort last, so every good file is computed and
        # cached before the run stops on this one.
        item.problem = str(err)
    return item


def _load(item: _Item) -> np.ndarray:
    if isinstance(item.source, np.ndarray):
        return np.ascontiguousarray(item.source, dtype=np.float32)
    if item.problem:
        raise EmocircError(item.problem)
    return load_audio(item.source)


def _batches(items: list[_Item], batch_seconds: float) -> Iterator[list[_Item]]:
    """Cut length-sorted items into batches whose padded size stays under ``batch_seconds``."""
    limit = batch_seconds * SAMPLE_RATE
    batch: list[_Item] = []
    for item in items:
        # Sorted ascending, so the newest item is the longest: padded size = count x its length.
        if batch and (item.samples * (len(batch) + 1) > limit or item.problem):
            yield batch
            batch = []
        batch.append(item)
        if item.problem:
            yield batch
            batch = []
    if batch:
        yield batch


#: What the loader hands over for one utterance: the item, its signal (or the
#: problem that stopped its loading) and the cached result, when there is one.
_Loaded = tuple[_Item, "np.ndarray | str", "np.ndarray | None"]


def _read_one(item: _Item, store: FeatureCache | None, settings: dict[str, Any]) -> _Loaded:
    """Decode one utterance, key it by its samples and look the key up in the cache."""
    try:
        wave = _load(item)
    except EmocircError as err:
        return item, str(err), None
    hit = None
    if store is not None:
        item.key = store.key(content_hash(wave), **settings)
        hit = store.get(item.key)
    return item, wave, hit


def _read_batch(
    batch: list[_Item],
    store: FeatureCache | None,
    settings: dict[str, Any],
    decoders: ThreadPoolExecutor | None = None,
) -> list[_Loaded]:
    """:func:`_read_one` for each utterance of a batch, on ``decoders``' threads when given.

    Runs on the loader thread, so decoding, hashing and cache reads overlap
    the model's work on the previous batch.  Each file is decoded once.
    """
    if decoders is None:
        return [_read_one(item, store, settings) for item in batch]
    return list(decoders.map(lambda item: _read_one(item, store, settings), batch))


def _decoder_count(device: torch.device) -> int:
    # A GPU embeds about as fast as one core decodes WAV (both near 10,000x real
    # time, benchmarks/README.md): there a few threads decode (libsndfile and
    # numpy release the GIL); on a CPU the model is the bottleneck by far.
    wanted = current_tuning().decoders
    if wanted == "auto":
        wanted = min(4, os.cpu_count() or 1) if device.type == "cuda" else 1
    return max(1, int(wanted))


def _misses(
    batches: Iterable[list[_Item]],
    read: Callable[[list[_Item]], list[_Loaded]],
    pool: ThreadPoolExecutor,
    batch_seconds: float,
    on_hit: Callable[[_Item, np.ndarray, np.ndarray], None],
) -> Iterator[list[tuple[_Item, np.ndarray | str]]]:
    """Loaded utterances that the cache does not hold, re-cut into full batches.

    The loader reads one batch ahead on ``pool``; cache hits go to ``on_hit``
    as they arrive, and the misses (and problems) gather into batches by the
    same padded-size rule as :func:`_batches`, so a partly cached corpus is
    still computed in full batches.
    """
    limit = batch_seconds * SAMPLE_RATE
    batch: list[tuple[_Item, np.ndarray | str]] = []
    good, longest = 0, 0
    iterator = iter(batches)
    first = next(iterator, None)
    future = pool.submit(read, first) if first is not None else None
    while future is not None:
        following = next(iterator, None)
        loaded = future.result()
        future = pool.submit(read, following) if following is not None else None
        for item, wave, hit in loaded:
            if hit is not None:
                on_hit(item, wave, hit)
                continue
            if not isinstance(wave, str):  # problems add no padding: they ride along
                if good and max(longest, len(wave)) * (good + 1) > limit:
                    yield batch
                    batch, good, longest = [], 0, 0
                good, longest = good + 1, max(longest, len(wave))
            batch.append((item, wave))
    if batch:
        yield batch


def _prepare(
    model: str | os.PathLike[str] | Backbone,
    device: str | torch.device,
    precision: str,
    layers: Any,
    batch_seconds: float | None,
) -> tuple[Backbone, torch.device, str, list[int], float]:
    """Resolve an extraction's backbone (moved to its device), device, precision, layers and batch size."""
    backbone = model if isinstance(model, Backbone) else load_backbone(model, "cpu")
    dev = resolve_device(device)
    prec = resolve_precision(precision, dev)
    layer_list = resolve_layers(layers, backbone.num_layers)
    if batch_seconds is None:
        batch_seconds = default_batch_seconds(dev)
    if not batch_seconds > 0:
        raise EmocircError(f"batch_seconds={batch_seconds!r}: expected a positive number of seconds")
    if next(backbone.model.parameters()).device != dev:
        backbone.model.to(dev)
    return backbone, dev, prec, layer_list, batch_seconds


def extract_features(
    source: Any,
    model: str | os.PathLike[str] | Backbone = "tiny",
    *,
    layers: str | int | Iterable[int] = "all",
    device: str | torch.device = "auto",
    precision: str = "auto",
    batch_seconds: float | None = None,
    frames: bool = False,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    skip_bad: bool = False,
    progress: bool = False,
    shard: tuple[int, int] | None = None,
) -> Features:
    """Embed every utterance of a corpus with a wav2vec2-family backbone.

    Parameters
    ----------
    source:
        A corpus table (columns ``path`` and, when present, ``id``, ``label``,
        ``speaker``, ``valence``, ``arousal``), or a list of paths or of 1-D
        16 kHz float signals.
    model:
        A loaded :class:`~emocirc.backbones.Backbone`, or anything
        :func:`~emocirc.backbones.load_backbone` accepts.
    layers:
        ``"all"``, ``"0,6,12"``, an int or ints (negative counts from the end).
    device:
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``.
    precision:
        ``"auto"`` (bf16 where native), ``"bf16"``, ``"fp32"`` (exact work) or
        ``"int8"`` (CPU only: :mod:`emocirc.cpu_int8`'s int8 linears, for CPUs without bf16).
    batch_seconds:
        Padded audio seconds per batch; default 8 on a CPU, 600 on a GPU.
    frames:
        Also return frame-level hidden states (``Features.frames``).
    cache, cache_dir:
        Reuse and store per-utterance results under ``cache_dir`` (default
        ``default_cache_dir()``), in its ``features`` sub-directory.
    skip_bad:
        Leave out unreadable files (listed in ``Features.skipped``) instead of
        stopping with an :class:`EmocircError` naming the first one.
    progress:
        Show a progress bar (audio seconds) on stderr.
    shard:
        ``(rank, world)``: embed (and cache) only this process's share, every
        ``world``-th of the length-sorted batches a single process would
        form, so that ``world`` processes split the audio about evenly and
        compute each utterance exactly as one process does; the rows are
        that share's, in input order.  ``emocirc extract`` under
        ``accelerate launch`` runs one shard per process, then assembles the
        whole file from the shared cache.

    Returns
    -------
    Features
        Rows in input order; ``embeddings`` is N x L x D float32.

    Notes
    -----
    Each file is decoded once, on a loader thread that runs one batch ahead
    of the model: its cache key is the :func:`content_hash` of the decoded
    samples, looked up right there, so a fully cached corpus costs one
    decode and one hash per file and no forward pass.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> waves = [rng.standard_normal(n).astype("float32") for n in (4000, 6400)]
    >>> f = extract_features(waves, "tiny", layers="0,4", precision="fp32", cache=False)
    >>> f.embeddings.shape, f.layers.tolist()
    ((2, 2, 64), [0, 4])
    """
    backbone, dev, prec, layer_list, batch_seconds = _prepare(model, device, precision, layers, batch_seconds)
    ids, sources, meta = _as_table(source)
    store = FeatureCache(cache_dir, backbone.fingerprint) if cache else None
    settings = {"layers": layer_list, "pooling": "frames" if frames else "mean", "precision": prec}

    items = [_scan(i, name, src) for i, (name, src) in enumerate(zip(ids, sources, strict=True))]
    chunks = list(_batches(sorted(items, key=lambda it: (it.samples, it.index)), batch_seconds))
    if shard is not None:
        rank, world = _check_shard(shard)
        # Every world-th of the batches one process would form: like shares of audio, and
        # each utterance is computed in the same batch as in a one-process run (same numbers).
        chunks = chunks[rank::world]
    results: dict[int, np.ndarray] = {}
    skipped: list[str] = []
    bar = _progress_bar(sum(it.samples for chunk in chunks for it in chunk if not it.problem), progress)

    def on_hit(item: _Item, wave: np.ndarray, hit: np.ndarray) -> None:
        results[item.index] = hit
        if bar is not None:
            bar.update(len(wave) / SAMPLE_RATE)

    def read(batch: list[_Item]) -> list[_Loaded]:
        return _read_batch(batch, store, settings, decoders)

    computed = [0]

    def finish(started) -> None:
        computed[0] += len(started[0])
        _finish_batch(started, store, results, skipped, skip_bad, bar)

    # The loader thread decodes (and keys, and looks up) the next batch while the
    # current one is computed, and a batch's forward pass is queued before the
    # previous one's results are fetched, so on a GPU the host's work overlaps the device's.
    pipeline = current_tuning().pipeline
    overlap = pipeline == "always" or (pipeline and dev.type == "cuda")
    threads = _decoder_count(dev)
    with (
        store if store is not None else contextlib.nullcontext(),
        ThreadPoolExecutor(max_workers=1) as pool,
        ThreadPoolExecutor(max_workers=threads) if threads > 1 else contextlib.nullcontext() as decoders,
    ):
        in_flight = None
        for batch in _misses(chunks, read, pool, batch_seconds, on_hit):
            try:
                started = _start_batch(batch, backbone, layer_list, dev, prec, frames)
            except BaseException:
                if in_flight is not None:
                    finish(in_flight)  # keep (and cache) what was computed
                raise
            if in_flight is not None:
                try:
                    finish(in_flight)
                except EmocircError:
                    # Stopping on a bad file: keep (and cache) the batch already queued too.
                    _finish_batch(started, store, results, [], True, bar)
                    raise
            in_flight = started
            if not overlap:  # on a CPU the batch is computed already: nothing to overlap
                finish(in_flight)
                in_flight = None
        if in_flight is not None:
            finish(in_flight)
    if bar is not None:
        bar.close()

    keep = [i for i in range(len(items)) if i in results]
    if frames:
        frame_list = [results[i] for i in keep]
        pooled = np.stack([f.mean(axis=1) for f in frame_list]) if keep else None
    else:
        frame_list = None
        pooled = np.stack([results[i] for i in keep]) if keep else None
    if pooled is None:
        pooled = np.zeros((0, len(layer_list), backbone.hidden_size), np.float32)
    return Features(
        ids=np.array([ids[i] for i in keep], dtype=str),
        labels=np.array([meta["labels"][i] for i in keep], dtype=str),
        speakers=np.array([meta["speakers"][i] for i in keep], dtype=str),
        embeddings=pooled.astype(np.float32, copy=False),
        layers=np.array(layer_list, dtype=np.int64),
        valence=np.array([meta["valence"][i] for i in keep], dtype=np.float64),
        arousal=np.array([meta["arousal"][i] for i in keep], dtype=np.float64),
        frames=frame_list,
        skipped=skipped,
        info={
            "backbone": backbone.name,
            "fingerprint": backbone.fingerprint,
            "precision": prec,
            "computed": str(computed[0]),  # utterances not served by the cache (not saved)
        },
    )


def _check_shard(shard: tuple[int, int]) -> tuple[int, int]:
    """``(rank, world)`` with ``0 <= rank < world``, else an :class:`EmocircError`."""
    try:
        rank, world = (int(v) for v in shard)
    except (TypeError, ValueError):
        raise EmocircError(f"shard {shard!r}: expected (rank, number of processes)") from None
    if not 0 <= rank < world:
        raise EmocircError(f"shard {shard!r}: expected 0 <= rank < number of processes")
    return rank, world


def _start_batch(loaded, backbone, layers, device, precision, frames):
    """Sort a loaded batch into good signals and problems, and queue the good ones' forward pass."""
    good, problems = [], []
    minimum = receptive_field(backbone)
    for item, wave in loaded:
        if isinstance(wave, str):
            problems.append(wave)
        elif len(wave) < minimum:
            problems.append(
                f"{item.name}: {len(wave)} samples is shorter than one frame; expected at least {minimum}"
            )
        else:
            good.append((item, wave))
    launched = None
    if good:
        launched = launch(
            backbone, [w for _, w in good], layers, device=device, precision=precision, frames=frames
        )
    return good, problems, launched


def _finish_batch(started, store, results, skipped, skip_bad, bar) -> None:
    """Fetch and cache a started batch's results, then stop on (or list) its bad files."""
    good, problems, launched = started
    if launched is not None:
        for (item, wave), out in zip(good, collect(launched), strict=True):
            results[item.index] = out
            if store is not None:
                store.put(item.key, out)
            if bar is not None:
                bar.update(len(wave) / SAMPLE_RATE)
    if problems and not skip_bad:
        raise EmocircError(problems[0])
    skipped.extend(problems)


def _progress_bar(total_samples: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(
        total=round(total_samples / SAMPLE_RATE, 1), unit="s audio", file=sys.stderr, dynamic_ncols=True
    )


# --------------------------------------------------------------------------- long recordings


def window_bounds(num_samples: int, window: float, hop: float) -> list[tuple[int, int]]:
    """Sample bounds of sliding windows over a signal; the last one ends at the signal's end.

    Examples
    --------
    >>> window_bounds(16000 * 5, window=2.0, hop=1.5)
    [(0, 32000), (24000, 56000), (48000, 80000)]
    """
    if not (window > 0 and hop > 0):
        raise EmocircError(f"window={window!r}, hop={hop!r}: expected positive seconds")
    size, step = int(round(window * SAMPLE_RATE)), int(round(hop * SAMPLE_RATE))
    if num_samples <= size:
        return [(0, num_samples)]
    bounds = [(start, start + size) for start in range(0, num_samples - size + 1, step)]
    if bounds[-1][1] < num_samples:
        # A full-size window flush with the end, so the tail is covered at the same length.
        bounds.append((num_samples - size, num_samples))
    return bounds


#: Bytes of one fp32 copy of the CNN's first-layer output that a CPU forward of windows may take.
_WINDOW_FORWARD_BYTES = 64 * 1024**2


def _windows_per_forward(backbone: Backbone, window_samples: int) -> int:
    """Windows per CPU forward, so that one fp32 copy of the first CNN layer's output fits the budget.

    That layer (wav2vec2-base: 512 channels at a fifth of the sample rate)
    dominates the peak, with several fp32 copies alive in its group norm:
    32 s of audio at once took wav2vec2-base over 2 GB, 8 s about 1.2 GB.
    """
    config = backbone.model.config
    bytes_per_sample = config.conv_dim[0] / config.conv_stride[0] * 4
    return max(1, int(_WINDOW_FORWARD_BYTES // (bytes_per_sample * max(window_samples, 1))))


def extract_windows(
    source: str | os.PathLike[str] | np.ndarray,
    model: str | os.PathLike[str] | Backbone = "tiny",
    *,
    window: float = 4.0,
    hop: float = 2.0,
    layers: str | int | Iterable[int] = "all",
    device: str | torch.device = "auto",
    precision: str = "auto",
    batch_seconds: float | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> Features:
    """Embed a long recording in sliding windows, with bounded memory.

    Windows all have the same length, so a batch of them needs no padding;
    results are cached per chunk of windows, so an interrupted hour keeps
    what it computed.  Rows are windows: ids ``<name>@<start seconds>``,
    ``starts``/``ends`` in seconds.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal(16000 * 3).astype("float32")
    >>> f = extract_windows(x, "tiny", window=1.0, hop=0.5, layers=-1, precision="fp32", cache=False)
    >>> len(f), f.starts.tolist()[:3], f.embeddings.shape[1:]
    (5, [0.0, 0.5, 1.0], (1, 64))
    """
    backbone, dev, prec, layer_list, batch_seconds = _prepare(model, device, precision, layers, batch_seconds)
    if isinstance(source, np.ndarray):
        name, signal = "signal", np.ascontiguousarray(source, dtype=np.float32)
    else:
        name, signal = Path(source).stem, load_audio(source)
    # The key is of the decoded samples, as for utterances; only the cache needs it.
    audio_hash = content_hash(signal) if cache else ""
    bounds = window_bounds(len(signal), window, hop)
    if bounds[0][1] - bounds[0][0] < receptive_field(backbone):
        raise EmocircError(f"{name}: recording of {len(signal)} samples is too short for one frame")
    per_chunk = max(1, int(batch_seconds // window))
    # Chunks set the cache's granularity; on a CPU each is forwarded a few windows at a
    # time, so the peak stays bounded for wide CNNs too (windows need no padding, so the
    # split changes nothing but memory).
    per_forward = (
        per_chunk if dev.type == "cuda" else _windows_per_forward(backbone, bounds[0][1] - bounds[0][0])
    )
    store = FeatureCache(cache_dir, backbone.fingerprint) if cache else None
    bar = _progress_bar(len(bounds) * int(window * SAMPLE_RATE), progress)
    rows: list[np.ndarray] = []
    # Leaving the block waits for the background cache writes, on an error too (what was
    # computed is kept).
    with store if store is not None else contextlib.nullcontext():
        for first in range(0, len(bounds), per_chunk):
            chunk = bounds[first : first + per_chunk]
            key = None
            if store is not None:
                key = store.key(
                    audio_hash,
                    layers=layer_list,
                    pooling="mean",
                    precision=prec,
                    window=[window, hop, first, per_chunk],
                )
                hit = store.get(key)
                if hit is not None:
                    rows.append(hit)
                    continue
            # Equal-length windows batch without padding; the last, possibly shorter
            # recording-sized one only happens when the whole signal fits one window.
            out = np.stack(
                [
                    row
                    for sub in range(0, len(chunk), per_forward)
                    for row in forward_hidden_states(
                        backbone,
                        [signal[a:b] for a, b in chunk[sub : sub + per_forward]],
                        layer_list,
                        device=dev,
                        precision=prec,
                    )
                ]
            )
            if store is not None:
                store.put(key, out)
            rows.append(out)
            if bar is not None:
                bar.update(len(chunk) * window)
    if bar is not None:
        bar.close()
    starts = np.array([a / SAMPLE_RATE for a, _ in bounds])
    ends = np.array([b / SAMPLE_RATE for _, b in bounds])
    n = len(bounds)
    return Features(
        ids=np.array([f"{name}@{s:.2f}" for s in starts], dtype=str),
        labels=np.full(n, "", dtype=str),
        speakers=np.full(n, "", dtype=str),
        embeddings=np.concatenate(rows).astype(np.float32, copy=False),
        layers=np.array(layer_list, dtype=np.int64),
        valence=np.full(n, np.nan),
        arousal=np.full(n, np.nan),
        starts=starts,
        ends=ends,
        info={"backbone": backbone.name, "fingerprint": backbone.fingerprint, "precision": prec},
    )


# --------------------------------------------------------------------------- scikit-learn


def __getattr__(name: str) -> Any:
    """``Wav2Vec2Embedder``, the scikit-learn wrapper, from :mod:`emocirc.embedder` on first use.

    It lives there so that extracting does not import scikit-learn (1.5-2 s of
    every ``emocirc extract`` process's start-up, measured here).
    """
    if name == "Wav2Vec2Embedder":
        from emocirc.embedder import Wav2Vec2Embedder

        return Wav2Vec2Embedder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
