"""Checkpoint files as the Hugging Face hub ships them, read safely.

:mod:`emocirc.backbones` builds the encoder; this module finds and reads the
files behind it:

- :func:`hub_snapshot` resolves a hub id (``facebook/wav2vec2-base``) in the
  local hub cache, offline, with the layout huggingface_hub documents:
  ``$HF_HUB_CACHE`` (or ``$HF_HOME/hub``, or ``~/.cache/huggingface/hub``)
  ``/models--<org>--<name>/refs/main`` holds a commit hash and
  ``snapshots/<commit>/`` the files;
- :func:`find_weights` picks a directory's weights: ``model.safetensors``
  (sharded or not) first, else ``pytorch_model.bin`` (sharded or not);
- :func:`read_pytorch_weights` reads a ``pytorch_model.bin`` through
  PyTorch's weights-only unpickler (``torch.load(weights_only=True)``), which
  builds tensors and containers only: a pickle that would run code is refused
  with a one-line error naming the file;
- :func:`encoder_directory` turns a pre-training, CTC or
  sequence-classification checkpoint of the wav2vec2 family into its bare
  encoder: the ``wav2vec2.``/``hubert.``/``wavlm.``/``data2vec_audio.``
  prefix is stripped, the heads are dropped (and listed in
  :class:`CheckpointInfo`), and a ``.bin`` is converted once to a safetensors
  copy in the emocirc cache (written atomically), so that later loads read
  safetensors only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from emocirc._io import atomic_dir_once, atomic_path, default_cache_dir
from emocirc.errors import EmocircError

#: Attribute name under which each wav2vec2-family model type keeps its encoder in a model with a head
#: (``base_model_prefix`` of the Hugging Face classes).
ENCODER_PREFIXES: dict[str, str] = {
    "wav2vec2": "wav2vec2",
    "hubert": "hubert",
    "wavlm": "wavlm",
    "data2vec-audio": "data2vec_audio",
}

#: Weight files, in the order they are preferred.
SAFETENSORS_NAME = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PYTORCH_NAME = "pytorch_model.bin"
PYTORCH_INDEX = "pytorch_model.bin.index.json"

# Encoder tensors that may be absent from a checkpoint: the learned mask
# embedding is used only by SpecAugment during training.
_OPTIONAL_ENCODER_KEYS = frozenset({"masked_spec_embed"})

# Bumped when the converted copies change, so old ones are not served.
_CONVERSION_VERSION = 1
_MARKER = "emocirc-checkpoint.json"
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class WeightFiles:
    """A checkpoint's weight files.

    Attributes
    ----------
    format : str
        ``"safetensors"`` or ``"pytorch"`` (a pickled ``pytorch_model.bin``).
    files : tuple of pathlib.Path
        One file, or the shards in their index's order.
    """

    format: str
    files: tuple[Path, ...]


@dataclass
class CheckpointInfo:
    """Where an encoder's weights came from, for provenance.

    Attributes
    ----------
    directory : str
        The checkpoint directory (a hub snapshot or a local folder).
    format : str
        ``"safetensors"`` or ``"pytorch"``.
    sha256 : str
        SHA-256 of the weight file (of the shards' digests, in order, when sharded).
    files : list of str
        The weight files' names.
    architecture : str
        The checkpoint's class (``config.architectures[0]``), e.g. ``Wav2Vec2ForPreTraining``.
    dropped : list of str
        Tensors of the checkpoint that are not part of the encoder (heads), left out.
    converted : str
        The safetensors copy read instead of a ``.bin`` (``""`` when none was needed).
    """

    directory: str
    format: str
    sha256: str
    files: list[str] = field(default_factory=list)
    architecture: str = ""
    dropped: list[str] = field(default_factory=list)
    converted: str = ""

    def describe(self) -> str:
        """One phrase for a banner or a log line.

        Examples
        --------
        >>> CheckpointInfo("/m", "pytorch", "ab" * 32, ["pytorch_model.bin"], "Wav2Vec2ForPreTraining",
        ...                ["project_q.weight", "quantizer.codevectors"]).describe()
        'pytorch_model.bin (sha256 abababababab…), Wav2Vec2ForPreTraining; encoder only, 2 head tensors dropped (project_q, quantizer)'
        """
        text = f"{', '.join(self.files)} (sha256 {self.sha256[:12]}…)"
        if self.architecture:
            text += f", {self.architecture}"
        if self.dropped:
            heads = sorted({key.split(".")[0] for key in self.dropped})
            text += f"; encoder only, {len(self.dropped)} head tensors dropped ({', '.join(heads)})"
        return text


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache: ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``.

    Read from the environment at each call (huggingface_hub reads it once, at import).

    Examples
    --------
    >>> import os
    >>> os.environ["HF_HUB_CACHE"] = "/tmp/hub"
    >>> str(hub_cache_dir())
    '/tmp/hub'
    >>> del os.environ["HF_HUB_CACHE"]
    """
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def hub_snapshot(repo_id: str, revision: str = "main", cache_dir: str | os.PathLike[str] | None = None):
    """The local snapshot directory of a hub model id, or ``None`` when it is not cached.

    ``revision`` is a branch or tag (looked up in ``refs/``) or a 40-hex commit.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> hub = pathlib.Path(tempfile.mkdtemp())
    >>> repo = hub / "models--org--enc"
    >>> (repo / "snapshots" / ("a" * 40)).mkdir(parents=True)
    >>> (repo / "refs").mkdir()
    >>> _ = (repo / "refs" / "main").write_text("a" * 40)
    >>> hub_snapshot("org/enc", cache_dir=hub).name == "a" * 40
    True
    >>> hub_snapshot("org/other", cache_dir=hub) is None
    True
    """
    root = Path(cache_dir) if cache_dir is not None else hub_cache_dir()
    repo = root / ("models--" + repo_id.strip("/").replace("/", "--"))
    ref = repo / "refs" / revision
    if ref.is_file():
        commit = ref.read_text().strip()
    elif _COMMIT.fullmatch(revision):
        commit = revision
    else:
        return None
    snapshot = repo / "snapshots" / commit
    return snapshot if snapshot.is_dir() else None


def find_weights(directory: str | os.PathLike[str]) -> WeightFiles:
    """The weight files of a checkpoint directory: safetensors first, else ``pytorch_model.bin``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "pytorch_model.bin").write_bytes(b"")
    >>> find_weights(d).format
    'pytorch'
    """
    directory = Path(directory)
    for single, index, fmt in (
        (SAFETENSORS_NAME, SAFETENSORS_INDEX, "safetensors"),
        (PYTORCH_NAME, PYTORCH_INDEX, "pytorch"),
    ):
        if (directory / single).is_file():
            return WeightFiles(fmt, (directory / single,))
        if (directory / index).is_file():
            return WeightFiles(fmt, _shards(directory / index))
    raise EmocircError(
        f"{directory}: no weights found; expected {SAFETENSORS_NAME} or {PYTORCH_NAME} "
        "(or their sharded .index.json form)"
    )


def _shards(index: Path) -> tuple[Path, ...]:
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
        names = list(dict.fromkeys(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise EmocircError(f"{index}: unreadable shard index; expected JSON with a 'weight_map'") from None
    files = tuple(index.parent / name for name in names)
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise EmocircError(f"{index}: shard(s) {', '.join(missing)} missing beside it")
    return files


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file (hex), remembered in the emocirc cache per path, size and modification time.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "w"
    >>> _ = p.write_bytes(b"abc")
    >>> file_sha256(p)[:16]
    'ba7816bf8f01cfea'
    """
    path = Path(path).resolve()
    stat = path.stat()
    stamp = hashlib.blake2b(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode(), digest_size=16).hexdigest()
    memo = default_cache_dir() / "checkpoints" / "sha256" / f"{stamp}.txt"
    try:
        known = memo.read_text().strip()
        if len(known) == 64:
            return known
    except OSError:
        pass
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 24), b""):
            digest.update(block)
    value = digest.hexdigest()
    try:
        with atomic_path(memo) as tmp:
            tmp.write_text(value + "\n")
    except OSError:
        pass  # a read-only cache only costs a re-hash next time
    return value


def weights_sha256(weights: WeightFiles) -> str:
    """SHA-256 of a single weight file, or of its shards' digests in order."""
    digests = [file_sha256(f) for f in weights.files]
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def read_pytorch_weights(path: str | os.PathLike[str]) -> dict:
    """Read a ``pytorch_model.bin`` with PyTorch's weights-only unpickler (never a full pickle load).

    Raises :class:`EmocircError` naming the file when the pickle holds
    anything but tensors and plain containers (e.g. a ``__reduce__`` that
    would call ``os.system``), or is not a checkpoint at all.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "pytorch_model.bin"
    >>> torch.save({"w": torch.ones(2)}, p)
    >>> read_pytorch_weights(p)["w"].tolist()
    [1.0, 1.0]
    """
    import pickle

    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = _unpickling_reason(str(err))
        raise EmocircError(
            f"{path}: refused to unpickle: {reason}; expected a checkpoint of tensors only "
            "(read with PyTorch's weights-only unpickler, which never runs code from the file)"
        ) from None
    except (RuntimeError, OSError, EOFError, ValueError, AttributeError, ImportError) as err:
        raise EmocircError(
            f"{path}: not a readable PyTorch checkpoint ({_one_line(err)[:160]}); "
            "expected a pytorch_model.bin written by torch.save"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise EmocircError(f"{path}: expected a flat mapping of tensor names to tensors (a model state_dict)")
    return state


def _unpickling_reason(message: str) -> str:
    for line in message.splitlines():
        if "GLOBAL" in line or "Unsupported" in line:
            return _one_line(line).rstrip(".")
    return "the pickle holds objects other than tensors"


def _one_line(err: BaseException | str) -> str:
    return " ".join(str(err).split())


def split_encoder_keys(keys, model_type: str) -> tuple[dict[str, str], list[str]]:
    """Map a checkpoint's tensor names onto the bare encoder's, and list the rest (the heads).

    A checkpoint with a head (``Wav2Vec2ForPreTraining``, ``...ForCTC``,
    ``...ForSequenceClassification``) keeps its encoder under the model
    type's prefix (``wav2vec2.``, ``hubert.``, ``wavlm.``, ``data2vec_audio.``);
    a bare encoder has no prefix.

    Returns
    -------
    (dict, list)
        Checkpoint name -> encoder name, and the names left out (sorted).

    Examples
    --------
    >>> keep, dropped = split_encoder_keys(["wav2vec2.encoder.w", "lm_head.weight"], "wav2vec2")
    >>> keep, dropped
    ({'wav2vec2.encoder.w': 'encoder.w'}, ['lm_head.weight'])
    """
    if model_type not in ENCODER_PREFIXES:
        raise EmocircError(
            f"model type {model_type!r} is not wav2vec2-family; expected one of {', '.join(ENCODER_PREFIXES)}"
        )
    keys = list(keys)
    prefix = ENCODER_PREFIXES[model_type] + "."
    if not any(k.startswith(prefix) for k in keys):
        return {k: k for k in keys}, []
    keep = {k: k[len(prefix) :] for k in keys if k.startswith(prefix)}
    return keep, sorted(k for k in keys if not k.startswith(prefix))


def _safetensors_keys(files: tuple[Path, ...]) -> list[str]:
    from safetensors import SafetensorError, safe_open

    keys: list[str] = []
    for path in files:
        try:
            with safe_open(str(path), framework="pt") as fh:
                keys.extend(fh.keys())
        except (SafetensorError, OSError) as err:
            raise EmocircError(f"{path}: unreadable safetensors file ({_one_line(err)[:160]})") from None
    return keys


def encoder_directory(
    directory: str | os.PathLike[str], model_type: str, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[Path, CheckpointInfo]:
    """A directory whose safetensors weights hold the encoder of ``directory``'s checkpoint.

    Safetensors checkpoints are used in place (the heads' tensors are
    listed and simply not loaded).  A ``pytorch_model.bin`` is read with the
    weights-only unpickler, its encoder tensors are written once to
    ``<cache>/checkpoints/<sha256>/model.safetensors`` beside copies of the
    JSON configuration files (atomically, so concurrent or killed processes
    never leave half a copy), and that directory is returned.

    Parameters
    ----------
    directory:
        A checkpoint directory (``config.json`` plus weights).
    model_type:
        ``config.model_type``: selects the encoder prefix.
    cache_dir:
        Root of the emocirc cache (default :func:`emocirc._io.default_cache_dir`).
    """
    directory = Path(directory)
    weights = find_weights(directory)
    architecture = _architecture(directory)
    sha = weights_sha256(weights)
    info = CheckpointInfo(
        directory=str(directory),
        format=weights.format,
        sha256=sha,
        files=[f.name for f in weights.files],
        architecture=architecture,
    )
    if weights.format == "safetensors":
        _, info.dropped = split_encoder_keys(_safetensors_keys(weights.files), model_type)
        return directory, info

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / "checkpoints" / f"{sha[:32]}-v{_CONVERSION_VERSION}"
    marker = target / _MARKER
    if marker.is_file():
        try:
            info.dropped = list(json.loads(marker.read_text())["dropped"])
            info.converted = str(target / SAFETENSORS_NAME)
            return target, info
        except (OSError, ValueError, KeyError):
            pass  # rebuilt below
    state: dict = {}
    for path in weights.files:
        state.update(read_pytorch_weights(path))
    keep, info.dropped = split_encoder_keys(state, model_type)
    from safetensors.torch import save_file

    encoder = {new: state[old].contiguous().clone() for old, new in keep.items()}
    with atomic_dir_once(target) as tmp:  # concurrent converters: the first copy is kept
        for item in directory.iterdir():
            if item.suffix == ".json" and item.name not in (PYTORCH_INDEX, SAFETENSORS_INDEX):
                shutil.copyfile(item, tmp / item.name)
        save_file(encoder, str(tmp / SAFETENSORS_NAME), metadata={"format": "pt"})
        (tmp / _MARKER).write_text(
            json.dumps(
                {"source": str(directory), "format": weights.format, "sha256": sha, "dropped": info.dropped},
                indent=2,
            )
            + "\n"
        )
    info.converted = str(target / SAFETENSORS_NAME)
    return target, info


def _architecture(directory: Path) -> str:
    try:
        names = json.loads((directory / "config.json").read_text()).get("architectures") or [""]
        return str(names[0])
    except (OSError, ValueError, AttributeError, IndexError):
        return ""


def check_encoder_loaded(source: str, loading_info: dict) -> None:
    """Raise when loading left encoder weights at random (a missing or mis-shaped tensor).

    ``loading_info`` is what ``from_pretrained(..., output_loading_info=True)`` returns.

    Examples
    --------
    >>> check_encoder_loaded("m", {"missing_keys": ["masked_spec_embed"], "mismatched_keys": []})
    >>> check_encoder_loaded("m", {"missing_keys": ["encoder.layers.0.w"], "mismatched_keys": []})
    Traceback (most recent call last):
    ...
    emocirc.errors.EmocircError: m: the checkpoint lacks 1 encoder tensor(s) (encoder.layers.0.w); expected a complete wav2vec2-family encoder (loading would leave them random)
    """
    missing = sorted(set(loading_info.get("missing_keys") or []) - _OPTIONAL_ENCODER_KEYS)
    mismatched = [
        str(m[0] if isinstance(m, (tuple, list)) else m) for m in loading_info.get("mismatched_keys") or []
    ]
    bad = missing + sorted(mismatched)
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise EmocircError(
            f"{source}: the checkpoint lacks {len(bad)} encoder tensor(s) ({shown}); expected a complete "
            "wav2vec2-family encoder (loading would leave them random)"
        )


def checkpoint_directory(spec: str | os.PathLike[str]) -> Path | None:
    """The folder of a backbone specification's weights: a local directory or a cached hub snapshot.

    ``None`` for anything else (a built-in name, a hub id not in the cache).

    Examples
    --------
    >>> checkpoint_directory("not/cached-anywhere") is None
    True
    """
    spec = str(spec)
    local = Path(spec).expanduser()
    if local.is_dir():
        return local
    if "/" in spec and not spec.startswith((".", "/", "~")):
        return hub_snapshot(spec)
    return None


def describe_checkpoint(spec: str | os.PathLike[str]) -> str:
    """Format and hash of the weights behind a directory or cached hub id (``""`` when none is found).

    Used by :mod:`emocirc.provenance`; nothing is loaded, the files are only hashed.

    Examples
    --------
    >>> describe_checkpoint("not/cached-anywhere")
    ''
    """
    local = Path(str(spec)).expanduser()
    directory = checkpoint_directory(spec)
    if directory is None:
        return ""
    try:
        weights = find_weights(directory)
        sha = weights_sha256(weights)
    except (EmocircError, OSError):
        return ""
    kind = "safetensors" if weights.format == "safetensors" else "PyTorch pickle, read weights-only"
    names = ", ".join(f.name for f in weights.files)
    architecture = _architecture(directory)
    head = f" of a {architecture} checkpoint (its encoder)" if architecture else ""
    where = f", hub snapshot {directory.name[:12]}" if directory != local else ""
    note = read_provenance_note(directory)
    warning = f"; **{note}**" if note else ""
    return f"weights {names}{head} ({kind}; sha256 {sha[:16]}{where}){warning}"


#: A JSON file beside a checkpoint's weights whose ``"note"`` every banner of
#: pages using those weights repeats, e.g. that a stand-in placed under a
#: published id is not the published checkpoint (``benchmarks/rehearsal.py``).
PROVENANCE_NOTE = "emocirc-provenance.json"


def read_provenance_note(directory: str | os.PathLike[str]) -> str:
    """The ``"note"`` of a checkpoint folder's :data:`PROVENANCE_NOTE` (``""`` when there is none).

    Examples
    --------
    >>> import json, tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> read_provenance_note(d)
    ''
    >>> _ = (d / PROVENANCE_NOTE).write_text(json.dumps({"note": "random initialisation"}))
    >>> read_provenance_note(d)
    'random initialisation'
    """
    path = Path(directory) / PROVENANCE_NOTE
    if not path.is_file():
        return ""
    try:
        note = json.loads(path.read_text()).get("note", "")
    except (OSError, ValueError, AttributeError):
        raise EmocircError(
            f'{path}: unreadable provenance note; expected JSON like {{"note": "..."}}'
        ) from None
    if not isinstance(note, str):
        raise EmocircError(f"{path}: 'note' is {type(note).__name__}; expected a string")
    return note.strip()
