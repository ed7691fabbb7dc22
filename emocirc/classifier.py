"""The emotion classifier: a wav2vec2-family encoder, mean pooling over valid frames, a linear head.

:class:`EmotionClassifier` is the model :mod:`emocirc.finetune` trains;
:func:`load_classifier` loads a finished run directory back into one.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import nn

from emocirc.compat import compiled_call, is_plain_wav2vec2_model, set_compiled_call
from emocirc.errors import EmocircError
from emocirc.fast_forward import (
    current_tuning,
    derived,
    fast_pos_conv,
    feature_encoder,
    normalize_signals,
    run_encoder,
)
from emocirc.frames import frame_counts
from emocirc.runs import check_run


class EmotionClassifier(nn.Module):
    """Encoder + mean pooling over valid frames + linear head without bias.

    ``forward(waveforms, lengths)`` returns log-probabilities (``B x C``);
    :meth:`pool` returns the pooled last hidden state (``B x D``).

    Parameters
    ----------
    encoder:
        A wav2vec2-family model (``Backbone.model``).
    labels:
        Class names in output order.
    do_normalize:
        Normalise each utterance to zero mean, unit variance before the encoder.

    Examples
    --------
    >>> import torch
    >>> from emocirc.backbones import load_backbone
    >>> bb = load_backbone("tiny")
    >>> clf = EmotionClassifier(bb.model, ["anger", "sadness"], bb.do_normalize)
    >>> wavs = torch.randn(2, 16000)
    >>> clf(wavs, torch.tensor([16000, 8000])).shape
    torch.Size([2, 2])
    """

    def __init__(self, encoder: nn.Module, labels: Sequence[str], do_normalize: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.labels = list(labels)
        self.do_normalize = do_normalize
        self.head = nn.Linear(int(encoder.config.hidden_size), len(self.labels), bias=False)
        #: Run a frozen CNN with :func:`emocirc.fast_forward.feature_encoder` (same result, faster).
        self.fast_cnn = True
        #: In training, run each transformer layer through ``torch.compile`` (see :meth:`compiled_layers`).
        self.compile_layers = False
        #: Arguments of ``torch.compile`` for the layers (``mode="reduce-overhead"`` without TrainStep's graphs).
        self.compile_options: dict[str, Any] = {"dynamic": None}
        self._layer_calls: tuple[dict[str, Any], list[Callable[..., Any]]] | None = None

    def pool(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Mean of the last hidden state over each utterance's valid frames."""
        lengths = lengths.to(waveforms.device)
        if self.do_normalize:
            waveforms = normalize_signals(waveforms, lengths)
        # Layer-norm encoders (wav2vec2-large-robust, WavLM) take an attention
        # mask; group-norm ones (wav2vec2-base) must not get one (model card):
        # they see the zero padding, as in SpeechBrain's recipe.
        mask = None
        if getattr(self.encoder.config, "feat_extract_norm", "group") == "layer":
            steps = torch.arange(waveforms.shape[1], device=waveforms.device)
            mask = (steps[None, :] < lengths[:, None]).long()
        with self.compiled_layers(self.training and self.compile_layers):
            if mask is None and self._fast_cnn_usable():
                hidden = self._encode_fast(waveforms)
            else:
                hidden = self.encoder(waveforms, attention_mask=mask).last_hidden_state
        frames = frame_counts(self.encoder, lengths, add_adapter=None).clamp(min=1, max=hidden.shape[1])
        valid = torch.arange(hidden.shape[1], device=hidden.device)[None, :] < frames[:, None]
        valid = valid.to(hidden.dtype).unsqueeze(-1)
        return (hidden * valid).sum(dim=1) / frames.to(hidden.dtype).unsqueeze(-1)

    @contextlib.contextmanager
    def compiled_layers(self, enabled: bool = True) -> Iterator[None]:
        """Run the encoder's transformer layers through ``torch.compile`` inside this block.

        Regional compilation: the layers are identical, so one compiled graph
        serves all of them (plus one more, with a dynamic time axis, once a
        second length is seen).  Inductor fuses the element-wise work around
        the matrix products (layer norms, dropout, GELU, residuals, casts) in
        forward and backward; the kernels it makes can be captured in
        :class:`TrainStep`'s CUDA graphs.  The first call of each kind
        compiles (tens of seconds); evaluation, with its many lengths, stays
        eager because :meth:`pool` enables this in training only.
        """
        layers = getattr(getattr(self.encoder, "encoder", None), "layers", None)
        if not enabled or layers is None or len(layers) == 0:
            yield
            return
        if self._layer_calls is None or self._layer_calls[0] != self.compile_options:
            calls = []
            for layer in layers:
                layer.compile(**self.compile_options)
                # Module.compile keeps the compiled call here; it is switched on only inside this block.
                calls.append(compiled_call(layer))
                set_compiled_call(layer, None)
            self._layer_calls = (dict(self.compile_options), calls)
        for layer, call in zip(layers, self._layer_calls[1], strict=True):
            set_compiled_call(layer, call)
        try:
            yield
        finally:
            for layer in layers:
                set_compiled_call(layer, None)

    def _fast_cnn_usable(self) -> bool:
        """Whether the CNN needs no gradient here, and the model is one whose forward :meth:`_encode_fast` repeats."""
        config = self.encoder.config
        frozen = not torch.is_grad_enabled() or not any(
            p.requires_grad for p in self.encoder.feature_extractor.parameters()
        )
        return (
            self.fast_cnn
            and frozen
            and is_plain_wav2vec2_model(self.encoder)
            and not getattr(config, "add_adapter", False)
            and not (self.training and getattr(config, "apply_spec_augment", False))
        )

    def _encode_fast(self, waveforms: torch.Tensor) -> torch.Tensor:
        """The encoder's forward with its frozen CNN run by :func:`emocirc.fast_forward.feature_encoder`.

        Same result as the model's own forward (the group norm sees the zero
        padding here too, as in the recipe), computed as a few large matrix
        products with the first group norm from the signal's second moments,
        in the autocast dtype, with no autograd record.
        """
        fe = self.encoder.feature_extractor
        dtype = (
            torch.get_autocast_dtype(waveforms.device.type)
            if torch.is_autocast_enabled(waveforms.device.type)
            else fe.conv_layers[0].conv.weight.dtype
        )
        cnn = _frozen_copy(fe, dtype)
        batch, width = waveforms.shape
        with torch.no_grad(), torch.autocast(device_type=waveforms.device.type, enabled=False):
            full = torch.full((batch,), width, device=waveforms.device, dtype=torch.long)
            feats, _ = feature_encoder(cnn, waveforms.float(), full, padded=False)
            feats = feats[:, : frame_counts(self.encoder, width)]
        projected = self.encoder.feature_projection(feats)
        hidden = projected[0] if isinstance(projected, tuple) else projected
        # The positional convolution (kernel 128, 16 groups) as an FFT convolution with gradients.
        with fast_pos_conv(self.encoder.encoder, training_uses_fft(waveforms.device), trainable=True):
            return run_encoder(self.encoder.encoder, hidden, None)

    def forward(self, waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.head(self.pool(waveforms, lengths)).float(), dim=-1)


def training_uses_fft(device: torch.device | str) -> bool:
    """Whether training computes the positional convolution by FFT on ``device`` (``Tuning.pos_conv``).

    ``"auto"`` means on CUDA only: there cuDNN's grouped convolution took more
    than half of a training step on an H100.
    """
    mode = current_tuning().pos_conv
    return mode == "fft" or (mode == "auto" and torch.device(device).type == "cuda")


def _frozen_copy(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A copy of ``module`` in ``dtype`` (the module itself if already so), remade when its weights change."""
    if next(module.parameters()).dtype == dtype:
        return module
    import copy

    def make() -> nn.Module:
        clone = copy.deepcopy(module).to(dtype)
        clone.requires_grad_(False)
        return clone

    return derived(module, f"copy-{dtype}", make)


def load_classifier(checkpoint: str | os.PathLike[str], device: str = "cpu") -> EmotionClassifier:
    """Load a fine-tuned run directory (encoder + head + label map) in eval mode.

    Examples
    --------
    >>> load_classifier("/nonexistent")
    Traceback (most recent call last):
    ...
    emocirc.errors.EmocircError: /nonexistent: not a finished fine-tuning run (expected head.safetensors and label_map.json)
    """
    from safetensors.torch import load_file

    from emocirc.backbones import load_backbone

    path = check_run(checkpoint)
    label_map = json.loads((path / "label_map.json").read_text())
    labels = [lab for lab, _ in sorted(label_map.items(), key=lambda kv: kv[1])]
    backbone = load_backbone(path, device=device)
    model = EmotionClassifier(backbone.model, labels, backbone.do_normalize)
    weight = load_file(str(path / "head.safetensors"))["weight"]
    if tuple(weight.shape) != tuple(model.head.weight.shape):
        raise EmocircError(
            f"{path / 'head.safetensors'}: head of shape {tuple(weight.shape)}, "
            f"expected {tuple(model.head.weight.shape)} for {len(labels)} labels"
        )
    with torch.no_grad():
        model.head.weight.copy_(weight)
    return model.to(device).eval()
