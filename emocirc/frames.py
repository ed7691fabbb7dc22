"""Frame arithmetic of the wav2vec2-family CNN front end: how many frames, how far apart, how wide.

The feature encoder is a stack of unpadded 1-D convolutions with kernels
``config.conv_kernel`` and strides ``config.conv_stride``; a signal of ``n``
samples gives ``floor((n - kernel) / stride) + 1`` outputs per layer
(:func:`conv_output_length`).  For wav2vec2-base (strides 5, 2, 2, 2, 2, 2, 2,
kernels 10, 3, 3, 3, 3, 2, 2) frames are :func:`frame_hop` = 320 samples
(20 ms) apart and each reads :func:`receptive_field` = 400 samples (25 ms).

:func:`frame_counts` is the one frame-length computation of the package; it
equals transformers' ``_get_feat_extract_output_lengths``
(``tests/test_frames.py`` checks it on several configurations), without the
model and on the host for lists and ints.

Examples
--------
>>> from emocirc.backbones import builtin_config
>>> config = builtin_config("tiny")
>>> frame_counts(config, [16000, 400, 399]), frame_hop(config), receptive_field(config)
([49, 1, 0], 320, 400)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, overload

import torch

__all__ = ["conv_output_length", "frame_counts", "frame_hop", "receptive_field"]


@overload
def conv_output_length(length: int, kernel: int, stride: int) -> int: ...
@overload
def conv_output_length(length: torch.Tensor, kernel: int, stride: int) -> torch.Tensor: ...


def conv_output_length(length, kernel, stride):
    """Outputs of one unpadded, undilated convolution over ``length`` inputs (an int or an integer tensor).

    Rounds down like the convolution (so a too-short input gives zero or a
    negative count, as in transformers).

    Examples
    --------
    >>> conv_output_length(400, 10, 5), conv_output_length(torch.tensor([9, 10, 14]), 10, 5).tolist()
    (79, [0, 1, 1])
    """
    if isinstance(length, torch.Tensor):
        return torch.div(length - kernel, stride, rounding_mode="floor") + 1
    return (int(length) - kernel) // stride + 1


def _config(model_or_config: Any) -> Any:
    """The config of a model, a backbone (``.model.config``) or a config itself."""
    model = getattr(model_or_config, "model", model_or_config)
    config = getattr(model, "config", model)
    if not (hasattr(config, "conv_kernel") and hasattr(config, "conv_stride")):
        raise TypeError(
            f"{type(model_or_config).__name__}: expected a wav2vec2-family model, backbone or config "
            "(with conv_kernel and conv_stride)"
        )
    return config


@overload
def frame_counts(model_or_config: Any, samples: int, *, add_adapter: bool | None = False) -> int: ...
@overload
def frame_counts(
    model_or_config: Any, samples: torch.Tensor, *, add_adapter: bool | None = False
) -> torch.Tensor: ...
@overload
def frame_counts(
    model_or_config: Any, samples: Iterable[int], *, add_adapter: bool | None = False
) -> list[int]: ...


def frame_counts(model_or_config, samples, *, add_adapter=False):
    """Valid output frames of the CNN for signals of ``samples`` samples.

    ``samples`` is an int (an int comes back), an integer tensor (a tensor on
    the same device, no host round trip) or an iterable of ints (a list of
    ints, computed on the host).  ``add_adapter``: also count the strides of
    the model's adapter layers (``None``: as the config says, which is what
    transformers' ``_get_feat_extract_output_lengths`` does by default); the
    default ``False`` counts the CNN alone, whose output the transformer reads.

    Examples
    --------
    >>> from emocirc.backbones import builtin_config
    >>> config = builtin_config("tiny")
    >>> frame_counts(config, 16000), frame_counts(config, torch.tensor([16000, 8000])).tolist()
    (49, [49, 24])
    """
    config = _config(model_or_config)
    steps = list(zip(config.conv_kernel, config.conv_stride, strict=True))
    if add_adapter is None:
        add_adapter = bool(getattr(config, "add_adapter", False))
    if add_adapter:
        steps += [(1, config.adapter_stride)] * int(config.num_adapter_layers)
    if isinstance(samples, torch.Tensor):
        counts = samples
        for kernel, stride in steps:
            counts = conv_output_length(counts, kernel, stride)
        return counts
    if isinstance(samples, (int,)) or (hasattr(samples, "__index__") and not hasattr(samples, "__len__")):
        count = int(samples)
        for kernel, stride in steps:
            count = conv_output_length(count, kernel, stride)
        return count
    counts = [int(n) for n in samples]
    for kernel, stride in steps:
        counts = [conv_output_length(n, kernel, stride) for n in counts]
    return counts


def frame_hop(model_or_config: Any) -> int:
    """Samples between the starts of consecutive frames: the product of the CNN's strides.

    Examples
    --------
    >>> from emocirc.backbones import builtin_config
    >>> frame_hop(builtin_config("base-random"))
    320
    """
    return int(math.prod(int(s) for s in _config(model_or_config).conv_stride))


def receptive_field(model_or_config: Any) -> int:
    """Samples one output frame reads: the shortest signal that gives a frame.

    Examples
    --------
    >>> from emocirc.backbones import builtin_config
    >>> config = builtin_config("base-random")
    >>> receptive_field(config), frame_counts(config, [receptive_field(config) - 1, receptive_field(config)])
    (400, [0, 1])
    """
    config = _config(model_or_config)
    field, jump = 1, 1
    for kernel, stride in zip(config.conv_kernel, config.conv_stride, strict=True):
        field += (int(kernel) - 1) * jump
        jump *= int(stride)
    return field
