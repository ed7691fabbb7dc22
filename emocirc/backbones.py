"""wav2vec2-family backbones: Hugging Face checkpoints, local directories, built-ins.

:func:`load_backbone` is the one way to get an encoder.  It accepts

- ``"tiny-pretrained"``: the ``tiny`` architecture, self-supervised
  pre-trained by :func:`emocirc.pretrain.pretrain` on the embedded
  unlabelled speech corpus; built on first use (a few minutes on a CPU) and
  cached under ``<cache>/backbones``, keyed by the corpus parameters, the
  configuration (:data:`PRETRAINED_BUILTINS`) and the training-code version;
  the book's default;
- ``"tiny"``: a small wav2vec2 (same CNN strides and group norm as
  wav2vec2-base, so 20 ms frames and the same padding difficulty), randomly
  initialised from a fixed seed: the random-init counterpart of
  ``"tiny-pretrained"``; for tests and contrasts;
- ``"base-random"``: the wav2vec2-base architecture (12 x 768), randomly
  initialised from a fixed seed; for timing;
- a local directory written by ``save_pretrained`` (a Hugging Face download,
  or a directory written by ``emocirc finetune``);
- a Hugging Face id (``facebook/wav2vec2-base``, ``microsoft/wavlm-base-plus``,
  the encoder of ``superb/wav2vec2-base-superb-er``, ...), which must already
  be in the local Hugging Face cache when the machine is offline.

Weights are read from safetensors, or from a ``pytorch_model.bin`` through
PyTorch's weights-only unpickler and then converted once to a safetensors copy
(:mod:`emocirc.checkpoints`); no remote code is executed.  Pre-training, CTC
and sequence-classification checkpoints give their bare encoder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from emocirc.errors import EmocircError
from emocirc.frames import frame_hop

if TYPE_CHECKING:
    from emocirc.checkpoints import CheckpointInfo

#: ``config.model_type`` values that share the wav2vec2 interface.
SUPPORTED_MODEL_TYPES: tuple[str, ...] = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")

#: Built-in configurations, usable offline.
BUILTINS: tuple[str, ...] = ("tiny", "tiny-pretrained", "base-random")

#: Built-ins made by pre-training (name -> the pre-training run's settings; the
#: corpus is :func:`pretraining_corpus`'s).  Changing one makes a new cache entry.
PRETRAINED_BUILTINS: dict[str, dict] = {"tiny-pretrained": {}}

#: The embedded unlabelled corpus a pre-trained built-in learns from:
#: ``emocirc.synth.ensure_corpus(kind, seed=seed, scale=scale)``.
PRETRAINING_CORPUS: dict = {"kind": "readspeech", "seed": 0, "scale": 1.0}

#: Seed of the random initialisation of the built-ins.
BUILTIN_SEED = 0


@dataclass
class Backbone:
    """A loaded encoder and what is needed to feed it.

    Attributes
    ----------
    model:
        The encoder (``Wav2Vec2Model``, ``HubertModel``, ``WavLMModel`` or
        ``Data2VecAudioModel``) in eval mode.
    name:
        What it was loaded from (built-in name, directory or id).
    do_normalize:
        Whether each utterance is normalised to zero mean and unit variance
        before the model, as its feature extractor does.
    fingerprint:
        A hash of the configuration and weights: two backbones with the same
        fingerprint compute the same features.
    checkpoint:
        For a loaded checkpoint: its weights' format and hash and the head
        tensors left out (:class:`emocirc.checkpoints.CheckpointInfo`);
        ``None`` for a built-in.
    """

    model: torch.nn.Module
    name: str
    do_normalize: bool
    fingerprint: str
    checkpoint: CheckpointInfo | None = None

    @property
    def num_layers(self) -> int:
        """Number of transformer layers (hidden states are indexed 0..num_layers)."""
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        """Dimension of each hidden state."""
        return int(self.model.config.hidden_size)

    @property
    def frame_rate(self) -> float:
        """Frames per second of the hidden states (50 for wav2vec2's 20 ms hop)."""
        return 16000.0 / frame_hop(self.model.config)

    def save_pretrained(self, directory: str | os.PathLike[str]) -> None:
        """Save the encoder and its feature-extractor settings in Hugging Face format."""
        from transformers import Wav2Vec2FeatureExtractor

        directory = Path(directory)
        with quiet_loading():
            self.model.save_pretrained(directory, safe_serialization=True)
        Wav2Vec2FeatureExtractor(
            feature_size=1,
            sampling_rate=16000,
            padding_value=0.0,
            do_normalize=self.do_normalize,
            return_attention_mask=self.model.config.feat_extract_norm == "layer",
        ).save_pretrained(directory)


def is_random_init(spec: str | os.PathLike[str]) -> bool:
    """Whether a backbone specification names a randomly initialised built-in (``tiny``, ``base-random``).

    Examples
    --------
    >>> is_random_init("tiny"), is_random_init("tiny-pretrained")
    (True, False)
    """
    return str(spec) in ("tiny", "base-random")


def model_kind(spec: str | os.PathLike[str]) -> str:
    """``"random init"`` for a random built-in, else ``"pre-trained"``: the words chapters use for a backbone.

    Examples
    --------
    >>> model_kind("tiny"), model_kind("tiny-pretrained")
    ('random init', 'pre-trained')
    """
    return "random init" if is_random_init(spec) else "pre-trained"


def builtin_config(name: str):
    """Return the ``Wav2Vec2Config`` of a built-in backbone.

    Examples
    --------
    >>> cfg = builtin_config("tiny")
    >>> cfg.feat_extract_norm, cfg.num_hidden_layers, cfg.hidden_size
    ('group', 4, 64)
    """
    from transformers import Wav2Vec2Config

    if name == "base-random":
        # Wav2Vec2Config's defaults are the wav2vec2-base architecture.
        return Wav2Vec2Config(feat_extract_norm="group", do_stable_layer_norm=False)
    if name in ("tiny", "tiny-pretrained"):
        return Wav2Vec2Config(
            hidden_size=64,
            num_hidden_layers=4,
            num_attention_heads=4,
            intermediate_size=128,
            conv_dim=(64, 64, 64, 64, 64, 64, 64),
            conv_stride=(5, 2, 2, 2, 2, 2, 2),
            conv_kernel=(10, 3, 3, 3, 3, 2, 2),
            num_conv_pos_embeddings=32,
            num_conv_pos_embedding_groups=4,
            feat_extract_norm="group",
            do_stable_layer_norm=False,
        )
    raise EmocircError(f"unknown built-in backbone {name!r}: expected one of {', '.join(BUILTINS)}")


def load_backbone(spec: str | os.PathLike[str], device: str | torch.device = "cpu") -> Backbone:
    """Load a wav2vec2-family encoder from a built-in name, a directory or a hub id.

    Parameters
    ----------
    spec:
        ``"tiny-pretrained"``, ``"tiny"``, ``"base-random"``, a local
        directory, or a Hugging Face id.
    device:
        Where to put the model.

    Examples
    --------
    >>> bb = load_backbone("tiny")
    >>> bb.num_layers, bb.hidden_size, bb.frame_rate
    (4, 64, 50.0)
    >>> load_backbone("tiny").fingerprint == bb.fingerprint
    True
    """
    spec_str = str(spec)
    checkpoint = None
    if spec_str in PRETRAINED_BUILTINS:
        model, do_normalize, checkpoint = _load_pretrained(str(ensure_pretrained(spec_str)))
    elif spec_str in BUILTINS:
        model = _build_builtin(spec_str)
        do_normalize = True
    else:
        model, do_normalize, checkpoint = _load_pretrained(spec_str)
    model.eval()
    model.to(device)
    return Backbone(
        model=model,
        name=spec_str,
        do_normalize=do_normalize,
        fingerprint=fingerprint(model),
        checkpoint=checkpoint,
    )


def pretraining_corpus() -> Path:
    """The embedded unlabelled speech corpus of the pre-trained built-ins (generated on first use).

    Until the read-speech corpus exists (``"readspeech"`` in
    :data:`emocirc.synth.KINDS`), the audio of the synthetic IEMOCAP stands in
    (its labels unused); the kind is part of the cache key either way.
    """
    from emocirc.synth import KINDS, ensure_corpus

    spec = dict(PRETRAINING_CORPUS)
    if spec["kind"] not in KINDS:
        spec["kind"] = "iemocap"
    return ensure_corpus(spec["kind"], seed=spec["seed"], scale=spec["scale"])


def pretrained_key(name: str) -> str:
    """Cache folder name of a pre-trained built-in: its name and a hash of corpus, configuration and code version.

    Examples
    --------
    >>> pretrained_key("tiny-pretrained").startswith("tiny-pretrained-")
    True
    """
    from emocirc.pretrain import PRETRAIN_VERSION, PretrainConfig
    from emocirc.synth import KINDS, corpus_key

    if name not in PRETRAINED_BUILTINS:
        raise EmocircError(
            f"{name!r} is not a pre-trained built-in: expected one of {', '.join(PRETRAINED_BUILTINS)}"
        )
    spec = dict(PRETRAINING_CORPUS)
    if spec["kind"] not in KINDS:
        spec["kind"] = "iemocap"
    data = {
        "corpus": corpus_key(spec["kind"], seed=spec["seed"], scale=spec["scale"]),
        "config": PretrainConfig(**PRETRAINED_BUILTINS[name]).hash(),
        "version": PRETRAIN_VERSION,
    }
    digest = hashlib.blake2b(json.dumps(data, sort_keys=True).encode(), digest_size=6).hexdigest()
    return f"{name}-{digest}"


def ensure_pretrained(name: str, progress: bool | None = None) -> Path:
    """Directory of a pre-trained built-in, pre-training it on first use.

    The run trains in ``<cache>/backbones/.<key>.run`` (resumable: a killed
    build continues from its last checkpoint) under a file lock, so
    concurrent callers wait instead of training twice; the finished run is
    renamed to ``<cache>/backbones/<key>`` in one step.  Pre-training uses
    one CPU thread whatever the caller set, so the weights do not depend on it (and a
    shared machine does not stall it).  ``progress`` (a tqdm bar over the steps)
    defaults to whether stderr is a terminal: in a notebook the run's text lines
    report instead, as a bar would be a widget the executed page does not keep.
    """
    from emocirc._io import default_cache_dir, file_lock
    from emocirc.pretrain import PretrainConfig, pretrain

    base = default_cache_dir() / "backbones"
    final = base / pretrained_key(name)
    if (final / "metrics.json").is_file():
        return final
    with file_lock(base / f".{final.name}.lock"):
        if not (final / "metrics.json").is_file():
            work = base / f".{final.name}.run"
            threads = torch.get_num_threads()
            torch.set_num_threads(PRETRAIN_THREADS)
            try:
                pretrain(
                    pretraining_corpus(),
                    PretrainConfig(**PRETRAINED_BUILTINS[name]),
                    work,
                    progress=sys.stderr.isatty() if progress is None else progress,
                )
            finally:
                torch.set_num_threads(threads)
            os.replace(work, final)
    return final


#: CPU threads of a pre-trained built-in's training run (fixed: results can depend on it).
PRETRAIN_THREADS = 1


def fingerprint(model: torch.nn.Module) -> str:
    """Hash a model's configuration and weights (hex, 16 characters)."""
    digest = hashlib.blake2b(digest_size=8)
    config = getattr(model, "config", None)
    if config is not None:
        cfg = config.to_dict()
        for volatile in ("transformers_version", "_name_or_path", "architectures", "torch_dtype", "dtype"):
            cfg.pop(volatile, None)
        digest.update(json.dumps(cfg, sort_keys=True, default=str).encode())
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        # reshape: 0-d tensors (a batch norm's step count) cannot be viewed as bytes; same bytes otherwise.
        digest.update(tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _build_builtin(name: str) -> torch.nn.Module:
    from transformers import Wav2Vec2Model

    config = builtin_config(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(BUILTIN_SEED)
        model = Wav2Vec2Model(config)
    return model


def _load_pretrained(spec: str) -> tuple[torch.nn.Module, bool, CheckpointInfo]:
    from transformers import AutoModel

    from emocirc.checkpoints import check_encoder_loaded, encoder_directory

    directory = _checkpoint_directory(spec)
    if not (directory / "config.json").is_file():
        raise EmocircError(f"{directory}: not a Hugging Face model directory; expected a config.json in it")
    config = _try_config(str(directory), {"trust_remote_code": False, "local_files_only": True})
    if config is None:
        raise EmocircError(f"{directory}: not a Hugging Face model directory (no readable config.json)")
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise EmocircError(
            f"{directory}: model type {config.model_type!r} is not wav2vec2-family; "
            f"expected one of {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    # Safetensors are read in place; a pytorch_model.bin is read with the
    # weights-only unpickler and converted once to a safetensors copy of its
    # encoder in the emocirc cache.  A pre-training, CTC or classification
    # checkpoint maps onto its bare encoder: AutoModel picks the encoder class
    # from config.model_type and leaves the heads (listed in the info) unloaded.
    source, info = encoder_directory(directory, config.model_type)
    try:
        # transformers' own report of the unused head tensors is replaced by info.dropped.
        with quiet_loading(), _transformers_errors_only():
            model, loading = AutoModel.from_pretrained(
                str(source),
                use_safetensors=True,
                dtype=torch.float32,
                trust_remote_code=False,
                local_files_only=True,
                output_loading_info=True,
            )
    except (OSError, ValueError, RuntimeError) as err:
        raise EmocircError(
            f"{source}: the encoder weights could not be loaded ({err.__class__.__name__}: "
            f"{' '.join(str(err).split())[:160]}); expected a wav2vec2-family checkpoint"
        ) from err
    check_encoder_loaded(str(directory), loading)
    return model, _do_normalize(directory), info


@contextlib.contextmanager
def _transformers_errors_only():
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _checkpoint_directory(spec: str) -> Path:
    """The directory behind a spec: a local folder, or a hub id's snapshot (local hub cache first)."""
    from emocirc.checkpoints import hub_snapshot

    local = Path(spec).expanduser()
    if local.is_dir():
        return local
    if spec.startswith((".", "/", "~")) or os.sep in spec.strip("/").replace("/", "", 1):
        raise EmocircError(f"backbone directory {spec} does not exist; expected a directory with config.json")
    # The local hub cache is read first, so an id that was downloaded before
    # loads without the network, and one that was not fails at once offline
    # instead of after the hub client's retries.
    snapshot = hub_snapshot(spec)
    if snapshot is None and not _offline() and _hub_reachable():
        snapshot = _download(spec)
    if snapshot is None:
        raise EmocircError(
            f"cannot load backbone {spec!r}: it is neither a built-in ({', '.join(BUILTINS)}), "
            "nor a local directory, nor in the Hugging Face cache, and the hub cannot be reached; "
            f"download it where there is internet (hf download {spec} --local-dir DIR) "
            "and pass --model DIR"
        )
    return snapshot


def _download(repo_id: str) -> Path | None:
    """Fetch a hub id's configuration and weights (safetensors when published, else the .bin)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    try:
        path = Path(snapshot_download(repo_id, allow_patterns=["*.json", "model.safetensors*"]))
        if not any(path.glob("model.safetensors*")):
            path = Path(snapshot_download(repo_id, allow_patterns=["*.json", "pytorch_model.bin*"]))
    except (HfHubHTTPError, OSError, ValueError):
        return None
    return path


def _do_normalize(directory: Path) -> bool:
    """The feature extractor's ``do_normalize`` (``preprocessor_config.json``); True when absent."""
    try:
        settings = json.loads((directory / "preprocessor_config.json").read_text())
        return bool(settings.get("do_normalize", True))
    except (OSError, ValueError, AttributeError):
        return True


@contextlib.contextmanager
def quiet_loading():
    """Hide transformers' per-load progress bar (a widget in every notebook that loads a model)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _try_config(source: str, kwargs: dict):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, **kwargs)
    except (OSError, ValueError):
        return None


def _offline() -> bool:
    return any(
        os.environ.get(name, "0").strip().lower() not in ("0", "", "false", "no", "off")
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the Hugging Face hub answers a TCP connection within ``timeout`` seconds."""
    import socket
    import threading
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or 443
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    # A thread bounds the DNS lookup too, which socket timeouts do not cover.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return bool(result and result[0])
