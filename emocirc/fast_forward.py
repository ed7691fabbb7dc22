"""The fast forward of wav2vec2-family encoders: exact under batching, and quick on CPUs and GPUs.

:func:`forward_hidden_states` (or :func:`launch` then :func:`collect`, which
:mod:`emocirc.features` uses to overlap a batch's host work with the
previous batch's device work) computes the hidden states of a batch of 16 kHz
signals, mean-pooled over each utterance's valid frames or frame by frame.
:func:`feature_encoder`, :func:`run_encoder` and :func:`fast_pos_conv` are
its parts that fine-tuning (:mod:`emocirc.finetune`) reuses, and
:func:`derived` keeps things derived from a module's weights (a bf16 copy,
kernel spectra) until the weights change.

How exactness is kept: wav2vec2-base's first convolution is followed by a
group norm over the whole utterance, so zero padding changes every frame.
Here each utterance's group-norm statistics are taken over its own valid
samples only (the convolutions before and after it are local, so valid
frames never see the padding), and the transformer gets an attention mask.
In fp32 an utterance's features are then the same, within float rounding,
alone or inside any batch.

How speed is gained: the forward runs under ``torch.inference_mode`` and
stops at the highest requested layer.  In bf16 a bf16 copy of the weights
computes, with no autocast casts; on a CPU its linear layers keep their
weights in oneDNN's layout (:class:`_PackedLinear`).  The first group norm
is not a reduction over the 512-channel activations but a per-utterance
affine map computed from the 10 x 10 covariance of the signal's windows (the
convolution before it is linear; :func:`_first_norm_affine`).  On a GPU the
CNN's convolutions are matrix products over row-shifted views of their input
(:func:`_strided_conv`); the encoder's positional convolution (kernel 128,
16 groups, a slow cuDNN kernel) is an FFT convolution; the transformer runs
without Hugging Face's boolean-mask assignment (which waits for the GPU).

Each of these choices is a field of :class:`Tuning`, which
``benchmarks/extract.py`` switches to time them: read the setting in force
with :func:`current_tuning`, change it for a block with :func:`tuning`.
Private torch and transformers APIs are reached through :mod:`emocirc.compat`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from emocirc import compat
from emocirc.backbones import Backbone
from emocirc.errors import EmocircError
from emocirc.frames import conv_output_length, frame_counts

__all__ = [
    "Launched",
    "StrictFP32",
    "Tuning",
    "collect",
    "cpu_prepacks_bf16",
    "current_tuning",
    "derived",
    "fast_pos_conv",
    "feature_encoder",
    "forward_hidden_states",
    "launch",
    "normalize_signals",
    "run_encoder",
    "tuning",
]


# --------------------------------------------------------------------------- tuning

_CHOICES: dict[str, tuple[Any, ...]] = {
    "cnn": ("auto", "strided", "unfold", "conv"),
    "first_norm": ("analytic", "direct"),
    "first_layer": ("separate", "fused"),
    "bf16_weights": (True, False),
    "prepack": (True, False),
    "encoder": ("own", "hf"),
    "pos_conv": ("auto", "fft", "module"),
    "pipeline": (True, False, "always"),
}


@dataclass(frozen=True)
class Tuning:
    """How the fast forward computes; every choice gives the same numbers up to float rounding.

    The defaults are what measured fastest (``benchmarks/README.md``); the
    other values exist so that ``benchmarks/extract.py`` can time each step
    and the tests can check each path against the others.  Change it for a
    block with :func:`tuning`; read it with :func:`current_tuning`.

    Examples
    --------
    >>> Tuning().cnn, Tuning(cnn="conv").cnn
    ('auto', 'conv')
    >>> Tuning(cnn="fast")
    Traceback (most recent call last):
    ...
    emocirc.errors.EmocircError: tuning cnn='fast': expected one of 'auto', 'strided', 'unfold', 'conv'
    """

    #: The CNN's convolutions: ``"strided"`` (matrix products over row-shifted views of the
    #: input, :func:`_strided_conv`), ``"unfold"`` (one product over unfolded windows),
    #: ``"conv"`` (PyTorch's convolutions: oneDNN on a CPU) or ``"auto"`` (strided on CUDA,
    #: conv on a CPU).
    cnn: str = "auto"
    #: The first layer's group norm: ``"analytic"`` (an affine map from the signal's
    #: second moments, :func:`_first_norm_affine`) or ``"direct"`` (a reduction over the
    #: activations).
    first_norm: str = "analytic"
    #: ``"fused"``: the first convolution with that affine map folded into its weights, one
    #: product per utterance (:func:`_fused_first_layer`; no faster on this project's CPU,
    #: not yet timed on a GPU); ``"separate"``: the convolution, then the map in place.
    first_layer: str = "separate"
    #: In bf16, compute with a bf16 copy of the weights (no casts) instead of autocast.
    bf16_weights: bool = True
    #: On a CPU, lay out the bf16 copy's linear weights once for oneDNN (:class:`_PackedLinear`).
    prepack: bool = True
    #: The transformer: ``"own"`` (:func:`run_encoder`'s mask handling) or ``"hf"`` (the
    #: model's forward).
    encoder: str = "own"
    #: The positional convolution: ``"fft"`` (an FFT convolution), ``"module"`` (the model's
    #: own) or ``"auto"`` (extraction: FFT wherever the module is of the usual form, 2x faster
    #: than oneDNN's bf16 convolution on this project's CPU and much faster on a GPU;
    #: training: FFT on CUDA only).
    pos_conv: str = "auto"
    #: Queue batch k+1 before fetching batch k's results: ``True`` on CUDA, ``"always"`` on
    #: a CPU too, ``False`` never (:func:`emocirc.features.extract_features`).
    pipeline: bool | str = True
    #: Threads that decode a batch's files in extraction: a number, or ``"auto"`` (4 on
    #: CUDA, 1 on a CPU).
    decoders: int | str = "auto"

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            # 1 == True in Python: accept only the exact values listed.
            if not any(value is a or (type(value) is type(a) and value == a) for a in allowed):
                raise EmocircError(
                    f"tuning {name}={value!r}: expected one of {', '.join(repr(a) for a in allowed)}"
                )
        decoders = self.decoders
        if decoders != "auto" and not (
            isinstance(decoders, int) and not isinstance(decoders, bool) and decoders >= 1
        ):
            raise EmocircError(
                f"tuning decoders={decoders!r}: expected 'auto' or a positive number of threads"
            )


_current = Tuning()


def current_tuning() -> Tuning:
    """The :class:`Tuning` in force (process-wide, not per thread).

    Examples
    --------
    >>> current_tuning().encoder
    'own'
    """
    return _current


@contextlib.contextmanager
def tuning(**changes: Any) -> Iterator[Tuning]:
    """Change fields of the :class:`Tuning` inside a ``with`` block; the previous setting comes back after.

    The setting is process-wide (the fast forward reads it on whatever thread
    computes), so blocks nest but should not run concurrently on threads.

    Examples
    --------
    >>> with tuning(cnn="unfold", pos_conv="module") as t:
    ...     t.cnn, current_tuning().pos_conv
    ('unfold', 'module')
    >>> current_tuning().cnn
    'auto'
    >>> with tuning(cnns="conv"):
    ...     pass
    Traceback (most recent call last):
    ...
    emocirc.errors.EmocircError: tuning cnns: no such setting; expected one of cnn, first_norm, first_layer, bf16_weights, prepack, encoder, pos_conv, pipeline, decoders
    """
    global _current
    names = [f.name for f in dataclasses.fields(Tuning)]
    unknown = [name for name in changes if name not in names]
    if unknown:
        raise EmocircError(f"tuning {unknown[0]}: no such setting; expected one of {', '.join(names)}")
    previous = _current
    _current = dataclasses.replace(previous, **changes)
    try:
        yield _current
    finally:
        _current = previous


# --------------------------------------------------------------------------- the forward pass


class _StopForward(Exception):
    """Raised from a hook once the highest requested layer is computed."""


def normalize_signals(waveforms: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The feature extractor's zero-mean, unit-variance step, per row over its first ``lengths`` samples.

    Padding comes out zero and does not shift the statistics.

    Examples
    --------
    >>> x = torch.tensor([[1.0, 2.0, 3.0, 0.0], [4.0, 4.0, 4.0, 4.0]])
    >>> [[round(abs(v), 3) for v in row] for row in normalize_signals(x, torch.tensor([3, 4])).tolist()]
    [[1.225, 0.0, 1.225, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    steps = torch.arange(waveforms.shape[1], device=waveforms.device)
    valid = (steps[None, :] < lengths[:, None]).to(waveforms.dtype)
    n = valid.sum(dim=1, keepdim=True).clamp(min=1)
    mean = (waveforms * valid).sum(dim=1, keepdim=True) / n
    var = (((waveforms - mean) * valid) ** 2).sum(dim=1, keepdim=True) / n
    return (waveforms - mean) / torch.sqrt(var + 1e-7) * valid


def _cnn_mode(device: torch.device) -> str:
    mode = current_tuning().cnn
    if mode == "auto":
        return "strided" if device.type == "cuda" else "conv"
    return mode


def feature_encoder(
    encoder: torch.nn.Module,
    x: torch.Tensor,
    lengths: torch.Tensor,
    padded: bool,
    mode: str | None = None,
):
    """The CNN feature encoder with group norm over each utterance's valid frames; batch x time x channels.

    The convolutions are local, so each valid output frame depends only on
    valid input; the group norm of wav2vec2-base's first layer is the one
    global operation and is taken per utterance on its valid frames.  Output
    frames past an utterance's valid ones (``lengths``, returned) are
    padding: finite, and read by no valid frame.

    ``mode`` picks how the convolutions run: ``"conv"`` (PyTorch's, i.e.
    oneDNN on a CPU), ``"unfold"`` (one matrix product over unfolded windows)
    or ``"strided"`` (the default on a GPU; :func:`_strided_conv`: matrix
    products over row-shifted views, no copy of the input); default from
    ``Tuning.cnn``.  The weights' dtype
    is the compute dtype (a bf16 copy of the model computes in bf16).
    """
    mode = mode or _cnn_mode(x.device)
    layers = list(encoder.conv_layers)
    dtype = layers[0].conv.weight.dtype
    first_affine = None
    if current_tuning().first_norm == "analytic":
        first_affine = _first_norm_affine(x, lengths, layers[0])
    if mode == "strided":
        # Every layer's input must hold a whole number of its stride's rows.
        extra = -x.shape[1] % math.prod(layer.conv.stride[0] for layer in layers)
        if extra:
            x = torch.nn.functional.pad(x, (0, extra))
            padded = True  # the statistics below must skip the added samples
    h = x[:, :, None] if mode != "conv" else x[:, None]  # channels-last, or channels-first for conv
    h = h.to(dtype)
    fused = first_affine is not None and current_tuning().first_layer == "fused"
    for i, conv_layer in enumerate(layers):
        conv = conv_layer.conv
        if i == 0 and fused:
            # Convolution and normalisation in one product per utterance (weights scaled by it).
            h = conv_layer.activation(
                _fused_first_layer(x, conv, *first_affine, channels_last=mode != "conv")
            )
            lengths = conv_output_length(lengths, conv.kernel_size[0], conv.stride[0])
            continue
        if mode == "strided":
            h = _strided_conv(h, conv)
        elif mode == "unfold":
            windows = h.unfold(1, conv.kernel_size[0], conv.stride[0])  # batch x frames x channels x kernel
            weight = conv.weight.reshape(conv.out_channels, -1)  # channels-major, like the unfold
            h = torch.nn.functional.linear(windows.reshape(*windows.shape[:2], -1), weight, conv.bias)
        else:
            h = conv(h)
        lengths = conv_output_length(lengths, conv.kernel_size[0], conv.stride[0])
        norm = getattr(conv_layer, "layer_norm", None)
        if i == 0 and first_affine is not None:
            # In place on the largest tensor of the network: B x T x C, or B x C x T for "conv".
            axis = 1 if mode != "conv" else 2
            scale, shift = (t.unsqueeze(axis).to(dtype) for t in first_affine)
            h = conv_layer.activation(torch.addcmul(shift, h, scale, out=h))
            continue
        last = h if mode != "conv" else h.transpose(1, 2)  # channels-last view either way
        if isinstance(norm, torch.nn.GroupNorm):
            last = _group_norm_segments(last, lengths if padded else None, norm)
        elif norm is not None:
            # LayerNorm over channels, per frame: padding cannot reach valid frames.
            last = norm(last)
        h = conv_layer.activation(last if mode != "conv" else last.transpose(1, 2))
    return (h if mode != "conv" else h.transpose(1, 2)), lengths


def _fused_first_layer(
    x: torch.Tensor, conv: torch.nn.Conv1d, scale: torch.Tensor, shift: torch.Tensor, channels_last: bool
) -> torch.Tensor:
    """The first (one-channel) convolution with its group norm folded in: ``h * scale + shift`` in one product.

    Each utterance gets its own kernel ``w * scale`` and bias ``b * scale +
    shift``, applied to the signal's windows by one batched product, so the
    largest activation of the network is written once instead of being
    normalised in a second pass.  Frames run to ``samples // stride`` (the
    strided CNN's layout) or to the convolution's own count (``channels_last``
    False, for PyTorch's convolutions).
    """
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    dtype = conv.weight.dtype
    if channels_last:
        x = torch.nn.functional.pad(x, (0, stride))  # one more frame: every row of the layout
        frames = (x.shape[1] - stride) // stride
    else:
        frames = (x.shape[1] - kernel) // stride + 1
    windows = x.unfold(1, kernel, stride)[:, :frames].to(dtype)  # batch x frames x kernel
    weight = conv.weight.float().reshape(conv.out_channels, kernel)
    folded = (weight[None] * scale[:, :, None]).to(dtype)  # batch x channels x kernel
    bias = shift if conv.bias is None else shift + conv.bias.float() * scale
    if channels_last:
        return torch.baddbmm(bias[:, None, :].to(dtype), windows, folded.transpose(1, 2))
    return torch.baddbmm(bias[:, :, None].to(dtype), folded, windows.transpose(1, 2))


def _strided_conv(h: torch.Tensor, conv: torch.nn.Conv1d) -> torch.Tensor:
    """A Conv1d (no padding, dilation or groups) of channels-last ``h`` as matrix products, input never copied.

    ``h`` is batch x frames x channels with frames a multiple of the stride
    ``s``.  Seen as rows of ``s`` consecutive frames (``s * channels``
    contiguous values), output frame ``t`` reads rows ``t .. t + g - 1``
    (``g = ceil(kernel / s)``), so the convolution is ``g`` matrix products
    over row-shifted views of the same memory, accumulated in place.  Output
    has ``frames / s`` frames per utterance; its last ``g - 1`` frames read
    the next utterance (or zeros): they lie past every valid frame.  When
    the input is thin (the raw signal), its windows are copied instead and
    one product is taken.
    """
    batch, frames, channels = h.shape
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    weight = conv.weight.permute(0, 2, 1)  # out x kernel x in: time-major, like the rows
    out_ch = weight.shape[0]
    rows = h.reshape(batch * frames // stride, stride * channels)
    groups = -(-kernel // stride)
    used = rows.shape[0] - groups + 1
    out = torch.empty(rows.shape[0], out_ch, device=h.device, dtype=h.dtype)
    if used < rows.shape[0]:
        out[used:].zero_()
    pieces = []
    for j in range(groups):
        taps = min(kernel, (j + 1) * stride) - j * stride
        pieces.append((rows[j : j + used, : taps * channels], weight[:, j * stride : j * stride + taps]))
    if kernel * channels <= 64:  # thin input: copy the windows, one product
        pieces = [
            (torch.cat([a for a, _ in pieces], dim=1), weight.reshape(out_ch, kernel * channels)[:, None])
        ]
    for j, (a, w) in enumerate(pieces):
        w = w.reshape(out_ch, -1).t()
        if j:
            out[:used].addmm_(a, w)
        elif conv.bias is not None:
            torch.addmm(conv.bias, a, w, out=out[:used])
        else:
            torch.mm(a, w, out=out[:used])
    return out.reshape(batch, frames // stride, out_ch)


def _first_norm_affine(
    x: torch.Tensor, lengths: torch.Tensor, conv_layer: torch.nn.Module
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The first layer's group norm as a per-utterance affine map, from second moments of the signal.

    wav2vec2-base's first convolution reads the raw signal (one channel,
    kernel 10) and is followed by a group norm over each channel and the
    whole utterance.  The convolution is linear, so each channel's mean and
    variance over an utterance are ``w . m + b`` and ``w' C w`` for the mean
    ``m`` and covariance ``C`` of the signal's 10-sample windows (a 10 x 10
    matrix per utterance).  The normalisation is then ``h * scale + shift``
    and the 512-channel activations are never reduced over: the reduction
    that cost several passes over the largest tensor of the network becomes
    a small matrix product over the signal.  Statistics are in fp32 over the
    valid windows only.  Returns ``None`` when the layer is not of that form.
    """
    conv = conv_layer.conv
    norm = getattr(conv_layer, "layer_norm", None)
    if not isinstance(norm, torch.nn.GroupNorm) or conv.in_channels != 1 or conv.groups != 1:
        return None
    if conv.padding[0] != 0 or conv.dilation[0] != 1:
        return None
    kernel, stride = conv.kernel_size[0], conv.stride[0]
    batch, samples = x.shape
    out_lengths = conv_output_length(lengths, conv.kernel_size[0], conv.stride[0])
    with torch.autocast(device_type=x.device.type, enabled=False):
        x = x.float()
        frames = (samples - kernel) // stride + 1
        windows = x.unfold(1, kernel, stride)[:, :frames]  # batch x frames x kernel (a view)
        valid = torch.arange(frames, device=x.device)[None] < out_lengths[:, None]
        weights = (valid / out_lengths[:, None].clamp(min=1).to(torch.float32))[:, None]  # batch x 1 x frames
        windows = windows.contiguous()  # overlapping windows, laid out for bmm: signal-sized
        mean = torch.bmm(weights, windows)  # batch x 1 x kernel
        centred = windows - mean
        cov = torch.bmm((centred * weights.transpose(1, 2)).transpose(1, 2), centred)  # batch x k x k
        w = conv.weight.float().reshape(conv.out_channels, kernel)
        mu = mean[:, 0] @ w.t()  # batch x channels
        if conv.bias is not None:
            mu = mu + conv.bias.float()
        var = ((cov @ w.t()) * w.t()).sum(1)  # diag(w C w'): batch x channels
        channels, groups = conv.out_channels, norm.num_groups
        if groups != channels:
            g_mu = mu.reshape(batch, groups, -1)
            g_var = (var.reshape(batch, groups, -1) + (g_mu - g_mu.mean(-1, keepdim=True)) ** 2).mean(-1)
            var = g_var.repeat_interleave(channels // groups, dim=1)
            mu = g_mu.mean(-1).repeat_interleave(channels // groups, dim=1)
        scale = torch.rsqrt(var + norm.eps)
        if norm.affine:
            scale = scale * norm.weight.float()
        shift = -mu * scale
        if norm.affine:
            shift = shift + norm.bias.float()
    return scale, shift


def _group_norm_valid(h: torch.Tensor, lengths: list[int], norm: torch.nn.GroupNorm) -> torch.Tensor:
    """GroupNorm of channels-last ``h`` with statistics over each utterance's first ``lengths`` frames."""
    channels, groups = h.shape[-1], norm.num_groups
    out = torch.empty_like(h)
    if len(set(lengths)) == 1:
        lengths, blocks = [lengths[0]], [h]  # no padding: one call for the whole batch
    else:
        blocks = [h[i : i + 1, :n] for i, n in enumerate(lengths)]
    for i, (n, block) in enumerate(zip(lengths, blocks, strict=True)):
        valid = block[:, :n].float()
        grouped = valid.reshape(valid.shape[0], n, groups, channels // groups)
        var, mean = torch.var_mean(grouped, dim=(1, 3), unbiased=False, keepdim=True)
        normed = ((grouped - mean) * torch.rsqrt(var + norm.eps)).reshape(valid.shape)
        if norm.affine:
            normed = normed * norm.weight.float() + norm.bias.float()
        if len(blocks) == 1 and block is h:
            out = normed.to(h.dtype)
        else:
            out[i : i + 1, :n] = normed
    return out


def _group_norm_segments(
    h: torch.Tensor, lengths: torch.Tensor | None, norm: torch.nn.GroupNorm, max_elements: int = 1 << 27
) -> torch.Tensor:
    """:func:`_group_norm_valid` for a whole batch at once, with no host round trip.

    Each utterance's statistics are weighted sums over time (a batched matrix
    product with a row of ``1 / length`` over its valid frames, zero over
    padding), so a batch costs a few kernels instead of a few per utterance
    and the lengths never leave the device.  Two passes (mean, then the mean
    of squared deviations) keep fp32 accuracy.  Padded frames come out
    finite and are never read by a valid frame.  Batches are cut into chunks
    of about ``max_elements`` so the fp32 copy stays bounded.
    """
    batch, frames, channels = h.shape
    groups = norm.num_groups
    if lengths is None:
        lengths = torch.full((batch,), frames, device=h.device, dtype=torch.long)
    out = torch.empty_like(h)
    step = max(1, max_elements // max(frames * channels, 1))
    # Autocast would run the statistics' matrix products in bf16.
    with torch.autocast(device_type=h.device.type, enabled=False):
        for first in range(0, batch, step):
            block = h[first : first + step].float()
            n = lengths[first : first + step].to(torch.float32)
            valid = torch.arange(frames, device=h.device)[None] < lengths[first : first + step, None]
            weights = (valid / n[:, None])[:, None]  # b x 1 x frames, rows sum to 1
            mean = torch.bmm(weights, block)  # b x 1 x channels
            if groups != channels:
                mean = mean.reshape(-1, 1, groups, channels // groups).mean(-1, keepdim=True)
                mean = mean.expand(-1, -1, -1, channels // groups).reshape(-1, 1, channels)
            centred = block - mean
            var = torch.bmm(weights, centred * centred)
            if groups != channels:
                var = var.reshape(-1, 1, groups, channels // groups).mean(-1, keepdim=True)
                var = var.expand(-1, -1, -1, channels // groups).reshape(-1, 1, channels)
            normed = centred * torch.rsqrt(var + norm.eps)
            if norm.affine:
                normed = normed * norm.weight.float() + norm.bias.float()
            out[first : first + step] = normed
    return out


def _fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n: sizes cuFFT and pocketfft transform fastest."""
    best = 1 << max(n - 1, 0).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            size = p35
            while size < n:
                size *= 2
            best = min(best, size)
            p35 *= 3
        p5 *= 5
    return best


class _FFTPositionalConv(torch.nn.Module):
    """The encoder's positional convolution computed as an FFT convolution.

    wav2vec2's ``pos_conv_embed`` is a grouped Conv1d of kernel 128 (16
    groups, weight norm) for which cuDNN picks a slow direct kernel; it
    took 43 % of the GPU time.  In the frequency domain the convolution is,
    per frequency and group, a small complex matrix product (batch x 48 by
    48 x 48), about 60x fewer operations.  Weight norm is folded once into
    a plain weight (or, ``trainable``, evaluated at every call).  The transforms run in fp32 whatever the autocast, so
    bf16 runs are if anything more accurate here; in fp32 the result equals
    the module's own within float rounding.  Zero padding is the module's:
    the encoder zeroes padded frames before this layer, as it does for the
    original.
    """

    #: Kernel spectra kept, one per transform size; length-sorted batches reuse the last few.
    max_spectra = 4

    def __init__(self, module: torch.nn.Module, trainable: bool = False) -> None:
        super().__init__()
        conv = module.conv
        self.kernel = conv.kernel_size[0]
        self.pad = conv.padding[0]
        self.groups = conv.groups
        # Trainable: weight norm is evaluated at every call, so gradients reach g and v.
        self._conv = [conv] if trainable else None  # a list: not registered as a sub-module
        if not trainable:
            with torch.no_grad():
                self._fixed = self._weights(conv)
        self.trim = module.padding
        self.activation = module.activation
        self._spectra: dict[int, torch.Tensor] = {}

    @staticmethod
    def _weights(conv: torch.nn.Conv1d) -> tuple[torch.Tensor, torch.Tensor | None]:
        # conv.weight runs the weight-norm parametrisation (g * v / ||v||); flipped,
        # because the module computes a correlation.
        return conv.weight.float().flip(-1), None if conv.bias is None else conv.bias.float()

    def _spectrum(self, weight: torch.Tensor, size: int) -> torch.Tensor:
        """Kernel spectrum as groups x freqs x in x out (kept per size, a few sizes, unless trainable)."""
        if self._conv is None and size in self._spectra:
            return self._spectra[size]
        out_ch, in_per_group, _ = weight.shape
        spec = torch.fft.rfft(weight, n=size)  # out x in/g x F
        spec = spec.reshape(self.groups, out_ch // self.groups, in_per_group, -1).permute(0, 3, 2, 1)
        if self._conv is None:
            while len(self._spectra) >= self.max_spectra:
                self._spectra.pop(next(iter(self._spectra)))  # the oldest
            spec = self._spectra[size] = spec.contiguous()
        return spec

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, frames, channels = hidden.shape
        size = _fft_size(frames + self.kernel - 1)
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            x = torch.fft.rfft(hidden.float().transpose(1, 2), n=size)  # B x C x F
            freqs = x.shape[-1]
            x = x.reshape(batch, self.groups, channels // self.groups, freqs).permute(1, 3, 0, 2)
            weight, bias = self._weights(self._conv[0]) if self._conv is not None else self._fixed
            y = torch.matmul(x, self._spectrum(weight, size))  # G x F x B x out/g
            y = y.permute(2, 0, 3, 1).reshape(batch, channels, freqs)
            full = torch.fft.irfft(y, n=size)  # B x C x size: the full linear convolution
            # Output t of the padded correlation is sample t + kernel - 1 - pad of the full one.
            first = self.kernel - 1 - self.pad
            out = full[..., first : first + frames + 2 * self.pad - self.kernel + 1]
            if bias is not None:
                out = out + bias[:, None]
            out = self.activation(self.trim(out))
        return out.transpose(1, 2).to(hidden.dtype)


@contextlib.contextmanager
def fast_pos_conv(encoder: torch.nn.Module, enabled: bool, trainable: bool = False) -> Iterator[None]:
    """Swap the encoder's ``pos_conv_embed`` for :class:`_FFTPositionalConv` for one forward."""
    original = getattr(encoder, "pos_conv_embed", None)
    conv = getattr(original, "conv", None)
    usable = (
        enabled
        and isinstance(conv, torch.nn.Conv1d)
        and conv.stride[0] == 1
        and conv.dilation[0] == 1
        and hasattr(original, "padding")
        and hasattr(original, "activation")
        # HuBERT keeps a batch_norm attribute, None unless its config asks for one: only variants
        # with that extra step keep their module.
        and getattr(original, "batch_norm", None) is None
    )
    if not usable:
        yield
        return
    if trainable:
        fast = _FFTPositionalConv(original, trainable=True)
    else:
        # Kept with the module (its kernel spectra are worth keeping: 37k FFTs of the weights),
        # remade when the weights change.
        fast = derived(original, "fft", lambda: _FFTPositionalConv(original))
    encoder.pos_conv_embed = fast
    try:
        yield
    finally:
        encoder.pos_conv_embed = original


def _autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return torch.autocast(device_type=device.type, enabled=False)


class StrictFP32:
    """No TF32 inside: PyTorch lets cuDNN use it by default, which costs 1e-4 relative."""

    def __enter__(self) -> None:
        self.saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False

    def __exit__(self, *exc: object) -> None:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = self.saved


#: Things derived from a module's weights (a bf16 copy, kernel spectra), kept per module
#: outside it, so that copying or pickling a model or a Backbone never meets them.
_DERIVED: weakref.WeakKeyDictionary[torch.nn.Module, dict[str, tuple[tuple, Any]]] = (
    weakref.WeakKeyDictionary()
)


def derived(module: torch.nn.Module, key: str, make: Callable[[], Any], extra: tuple = ()) -> Any:
    """``make()``, computed once per module and recomputed when its weights (or ``extra``) change."""
    stamp = (_weights_stamp(module), extra)
    slot = _DERIVED.setdefault(module, {})
    cached = slot.get(key)
    if cached is None or cached[0] != stamp:
        cached = slot[key] = (stamp, make())
    return cached[1]


def _weights_stamp(module: torch.nn.Module) -> tuple:
    """What identifies a module's current weights: where they live, their dtype and version counters.

    In-place changes (an optimiser step, ``load_state_dict``) bump a tensor's
    version; inference tensors have none, but cannot be changed outside
    inference mode either.
    """
    params = list(module.parameters())
    return (
        tuple(p.data_ptr() for p in params),
        tuple(compat.tensor_version(p) for p in params),
        params[0].dtype if params else None,
        params[0].device if params else None,
    )


class _PackedLinear(torch.nn.Module):
    """A bf16 ``nn.Linear`` whose weight oneDNN has laid out once for its kernels (CPU inference only).

    PyTorch's bf16 ``linear`` on a CPU reorders the weight for oneDNN at every
    call; with the layout kept, the transformer's products ran 1.5-2x faster
    on this project's CPU.
    """

    def __init__(self, linear: torch.nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.packed = compat.onednn_pack_linear_weight(linear.weight.detach())
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return compat.onednn_linear(x, self.packed, self.bias)


@functools.cache
def cpu_prepacks_bf16() -> bool:
    """Whether oneDNN lays out bf16 linear weights on this CPU and PyTorch build.

    It does where oneDNN computes bf16 on the CPU (AVX-512 or AVX-NE-CONVERT
    on x86-64); elsewhere bf16 extraction computes with the plain layers.
    Asked once per process, by laying out one tiny weight.

    Examples
    --------
    >>> isinstance(cpu_prepacks_bf16(), bool)
    True
    """
    if not compat.has_onednn_linear_ops():
        return False
    try:
        compat.onednn_pack_linear_weight(torch.zeros(8, 8, dtype=torch.bfloat16))
    except (RuntimeError, AttributeError):
        return False
    return True


def _prepack_linears(model: torch.nn.Module) -> None:
    """Swap every bf16 ``nn.Linear`` of a CPU model for a :class:`_PackedLinear` (skipped where
    :func:`cpu_prepacks_bf16` says oneDNN cannot)."""
    if not cpu_prepacks_bf16():
        return
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if type(child) is torch.nn.Linear and child.weight.dtype == torch.bfloat16:
                try:
                    packed = _PackedLinear(child)
                except (RuntimeError, AttributeError):
                    return
                setattr(module, child_name, packed)


def _bf16_model(backbone: Backbone) -> torch.nn.Module:
    """A bf16 copy of the backbone's model, kept with it and remade when its weights change.

    Computing in bf16 weights saves autocast's cast of every weight and of
    every activation at each matrix product (a third of the GPU's time in
    copies, and 10 % on this CPU).  In-place changes to the weights (an
    optimiser step, ``load_state_dict``) bump their version counters, which
    invalidates the copy.
    """
    model = backbone.model

    def make() -> torch.nn.Module:
        import copy

        with torch.inference_mode(False):  # ordinary tensors, whose changes are counted
            clone = copy.deepcopy(model).to(torch.bfloat16).eval()
            if current_tuning().prepack and next(model.parameters()).device.type == "cpu":
                _prepack_linears(clone)
        clone.requires_grad_(False)
        return clone

    return derived(model, "bf16", make, (current_tuning().prepack,))


def run_encoder(encoder: torch.nn.Module, hidden: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The transformer encoder on ``hidden`` with frame ``mask`` (None: no padding), without host round trips.

    Returns the last hidden state.  Hugging Face's wav2vec2 and HuBERT
    encoders zero padded frames with a boolean-mask assignment, which makes
    the host wait for the GPU at every batch (the next batch cannot be
    prepared meanwhile), and while a CUDA graph is being captured they turn
    ``attention_mask=None`` into a full mask, which sends SDPA to its slow
    fp32 path.  For those two post-layer-norm encoders with SDPA attention
    (and no layer drop in training) the same steps run here with a
    multiplication and a boolean attention mask, or none; others go through
    the model's own forward.
    """
    config = getattr(encoder, "config", None)
    own = (
        current_tuning().encoder == "own"
        and compat.is_plain_wav2vec2_encoder(encoder)
        and compat.attn_implementation(config) == "sdpa"
        and not getattr(config, "do_stable_layer_norm", False)
        and not (encoder.training and getattr(config, "layerdrop", 0.0) > 0.0)
        and hasattr(encoder, "layer_norm")
        and hasattr(encoder, "pos_conv_embed")
    )
    if not own:
        out = encoder(hidden, attention_mask=mask)
        return out[0] if isinstance(out, tuple) else out.last_hidden_state
    attention = None
    if mask is not None:
        hidden = hidden * mask[..., None].to(hidden.dtype)
        attention = mask[:, None, None, :].expand(-1, 1, hidden.shape[1], -1)
    hidden = hidden + encoder.pos_conv_embed(hidden)
    hidden = encoder.dropout(encoder.layer_norm(hidden))
    for layer in encoder.layers:
        out = layer(hidden, attention_mask=attention)
        hidden = out[0] if isinstance(out, tuple) else out
    return hidden


@dataclass
class Launched:
    """A batch whose forward pass has been queued: results still on the device."""

    stacked: torch.Tensor  # L x B x D, or L x B x T x D with frames
    frame_counts: list[int]
    frames: bool


@torch.inference_mode()
def launch(
    backbone: Backbone,
    waves: Sequence[np.ndarray],
    layers: Sequence[int],
    *,
    device: torch.device,
    precision: str,
    frames: bool,
) -> Launched:
    """Queue the forward pass of one batch; nothing here waits for the device."""
    layers = list(layers)
    top = max(layers)
    if top > backbone.num_layers:
        raise EmocircError(f"layer {top}: the backbone has hidden states 0..{backbone.num_layers}")
    bf16_copy = precision == "bf16" and current_tuning().bf16_weights
    model = _bf16_model(backbone) if bf16_copy else backbone.model
    if precision == "int8":  # emocirc.cpu_int8: dynamic int8 linears, the rest in fp32
        from emocirc.cpu_int8 import int8_copy

        model = derived(backbone.model, "int8", lambda: int8_copy(backbone.model))
    cuda = device.type == "cuda"
    mode = _cnn_mode(device)
    counts = frame_counts(model, [len(w) for w in waves])
    width = max(len(w) for w in waves)
    if mode == "strided":
        total = math.prod(model.config.conv_stride)
        width = -(-width // total) * total
    lengths = torch.tensor([len(w) for w in waves], dtype=torch.long)
    padded = bool((lengths != width).any())
    # Padded on the host (length-sorted batches carry little padding) and copied
    # once, from page-locked memory without blocking on a GPU: no boolean-mask
    # scatter on the device, which would wait for the GPU to count the mask.
    staged = torch.zeros((len(waves), width), pin_memory=cuda)
    staged_np = staged.numpy()
    for i, wave in enumerate(waves):
        staged_np[i, : len(wave)] = wave
    x = staged.to(device, non_blocking=True)
    lengths_dev = lengths.to(device, non_blocking=True)
    if backbone.do_normalize:
        x = normalize_signals(x, lengths_dev)

    wanted = set(layers)
    kept: dict[int, torch.Tensor] = {}
    weights: list[torch.Tensor] = []  # batch x 1 x frames, each row summing to 1 over valid frames

    def keep(index: int, hidden: torch.Tensor) -> None:
        if index in wanted:
            # Pool as soon as a layer is out, in fp32, so only one layer at a time lives in fp32.
            with torch.autocast(device_type=device.type, enabled=False):
                kept[index] = hidden.float() if frames else torch.bmm(weights[0], hidden.float())[:, 0]
        if index == top:
            raise _StopForward

    def keep_input(module, args, kwargs):
        keep(0, args[0] if args else kwargs["hidden_states"])

    def keep_output(index: int):
        def hook(module, args, output):
            keep(index, output[0] if isinstance(output, tuple) else output)

        return hook

    encoder_layers = model.encoder.layers
    handles = [encoder_layers[0].register_forward_pre_hook(keep_input, with_kwargs=True)]
    handles += [encoder_layers[i - 1].register_forward_hook(keep_output(i)) for i in range(1, top + 1)]
    strict = StrictFP32() if precision == "fp32" else contextlib.nullcontext()
    fft = current_tuning().pos_conv in ("fft", "auto")
    try:
        with (
            strict,
            fast_pos_conv(model.encoder, fft),
            _autocast(device, "fp32" if bf16_copy else precision),
        ):
            feats, frame_lengths = feature_encoder(model.feature_extractor, x, lengths_dev, padded, mode=mode)
            feats = feats[:, : max(counts)]  # the strided CNN leaves whole rows of padding
            projected = model.feature_projection(feats)
            hidden = projected[0] if isinstance(projected, tuple) else projected
            frame_mask = torch.arange(hidden.shape[1], device=device)[None] < frame_lengths[:, None]
            weights.append((frame_mask / frame_lengths[:, None]).float()[:, None])
            try:
                run_encoder(model.encoder, hidden, frame_mask if len(set(counts)) > 1 else None)
            except _StopForward:
                pass
    finally:
        for handle in handles:
            handle.remove()
    return Launched(torch.stack([kept[i] for i in layers]), counts, frames)


def collect(launched: Launched) -> list[np.ndarray]:
    """Wait for a launched batch and return one float32 array per signal."""
    stacked = launched.stacked.cpu().numpy()  # L x B x (T x) D
    if launched.frames:
        return [np.ascontiguousarray(stacked[:, i, :n]) for i, n in enumerate(launched.frame_counts)]
    return [np.ascontiguousarray(stacked[:, i]) for i in range(stacked.shape[1])]


def forward_hidden_states(
    backbone: Backbone,
    waves: Sequence[np.ndarray],
    layers: Sequence[int],
    *,
    device: torch.device | None = None,
    precision: str = "fp32",
    frames: bool = False,
) -> list[np.ndarray]:
    """Hidden states of a batch of 16 kHz signals, exact whatever the batch.

    Parameters
    ----------
    backbone:
        From :func:`~emocirc.backbones.load_backbone`.
    waves:
        1-D float32 signals at 16 kHz, of any lengths.
    layers:
        Hidden-state indices (0..num_layers); the forward stops at the highest.
    device, precision:
        Where and how to compute (``"fp32"`` or ``"bf16"``).
    frames:
        Return ``(L, T_i, D)`` frame-level arrays instead of ``(L, D)`` means.

    Returns
    -------
    list of numpy.ndarray
        One float32 array per signal.

    Examples
    --------
    >>> import numpy as np
    >>> from emocirc.backbones import load_backbone
    >>> bb = load_backbone("tiny")
    >>> rng = np.random.default_rng(0)
    >>> a, b = rng.standard_normal(8000).astype("float32"), rng.standard_normal(5000).astype("float32")
    >>> alone = forward_hidden_states(bb, [b], [0, 4])[0]
    >>> batched = forward_hidden_states(bb, [a, b], [0, 4])[1]
    >>> alone.shape, bool(np.allclose(alone, batched, rtol=1e-4, atol=1e-5))
    ((2, 64), True)
    """
    device = device if device is not None else next(backbone.model.parameters()).device
    return collect(launch(backbone, waves, layers, device=device, precision=precision, frames=frames))
