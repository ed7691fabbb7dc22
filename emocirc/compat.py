"""Every private torch and transformers API emocirc uses, each behind one small function.

The fast paths (:mod:`emocirc.fast_forward`, :mod:`emocirc.finetune`,
:mod:`emocirc.pretrain`) need a few things that neither library promises to
keep: a module's compiled call, oneDNN's packed-weight linear operators,
tensors' version counters, the attention implementation a config resolved
to, model classes recognised by name (so transformers need not be imported
to ask), and wav2vec2's span masking and negative sampling.  They are all
here, so an upgrade that changes one changes one function, and
``tests/test_compat.py`` exercises each and fails naming the API and the
versions below (no silent fallback there, even where the code steps aside
quietly to a slower, equal path).

:data:`CHECKED` holds the versions every function here was checked against;
after an upgrade that fails a test: mend the function, then update it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

#: Library versions each private API below was last checked against.
CHECKED: dict[str, str] = {"torch": "2.13.0", "transformers": "5.24.0"}

__all__ = [
    "CHECKED",
    "attn_implementation",
    "compiled_call",
    "compute_mask_indices",
    "has_onednn_linear_ops",
    "is_plain_wav2vec2_encoder",
    "is_plain_wav2vec2_model",
    "onednn_linear",
    "onednn_pack_linear_weight",
    "sample_negative_indices",
    "set_compiled_call",
    "tensor_version",
    "transformers_output_lengths",
    "versions",
]


def versions() -> str:
    """The checked versions and the installed ones, for error messages.

    Examples
    --------
    >>> versions().startswith("checked against torch 2.13.0")
    True
    """
    import transformers

    return (
        f"checked against torch {CHECKED['torch']} and transformers {CHECKED['transformers']}; "
        f"installed: torch {torch.__version__}, transformers {transformers.__version__}"
    )


# --------------------------------------------------------------------------- torch


def tensor_version(tensor: torch.Tensor) -> int:
    """``Tensor._version``: a counter that every in-place change of the tensor bumps.

    Inference tensors have none (they cannot change outside inference mode):
    0 for them.

    Examples
    --------
    >>> t = torch.zeros(2)
    >>> before = tensor_version(t); _ = t.add_(1); tensor_version(t) > before
    True
    """
    return 0 if tensor.is_inference() else int(tensor._version)


def compiled_call(module: torch.nn.Module) -> Callable[..., Any] | None:
    """``Module._compiled_call_impl``: the call :meth:`torch.nn.Module.compile` set up (None: none).

    Examples
    --------
    >>> compiled_call(torch.nn.Linear(2, 2)) is None
    True
    """
    return module._compiled_call_impl


def set_compiled_call(module: torch.nn.Module, call: Callable[..., Any] | None) -> None:
    """Switch a module's compiled call on (``call``) or off (``None``): ``module(...)`` goes through it when set.

    Examples
    --------
    >>> layer = torch.nn.Linear(2, 2)
    >>> set_compiled_call(layer, None); compiled_call(layer) is None
    True
    """
    module._compiled_call_impl = call


def has_onednn_linear_ops() -> bool:
    """Whether this build has oneDNN's packed-weight linear operators (``torch.ops.mkldnn``).

    Examples
    --------
    >>> isinstance(has_onednn_linear_ops(), bool)
    True
    """
    if not torch.backends.mkldnn.is_available():
        return False
    return all(hasattr(torch.ops.mkldnn, name) for name in ("_reorder_linear_weight", "_linear_pointwise"))


def onednn_pack_linear_weight(weight: torch.Tensor) -> torch.Tensor:
    """``torch.ops.mkldnn._reorder_linear_weight``: a linear weight laid out once for oneDNN's kernels.

    Raises ``RuntimeError`` where oneDNN cannot compute the weight's dtype on this CPU.
    """
    return torch.ops.mkldnn._reorder_linear_weight(weight, None)


def onednn_linear(x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``torch.ops.mkldnn._linear_pointwise``: ``x @ W.T + b`` with a weight from :func:`onednn_pack_linear_weight`."""
    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


# --------------------------------------------------------------------------- transformers

#: Classes whose forward :func:`emocirc.fast_forward.run_encoder` and the fine-tuning fast
#: CNN repeat step by step (post-layer-norm wav2vec2 and HuBERT), recognised by name.
_PLAIN_ENCODERS = ("Wav2Vec2Encoder", "HubertEncoder")
_PLAIN_MODELS = ("Wav2Vec2Model", "HubertModel")


def is_plain_wav2vec2_encoder(encoder: Any) -> bool:
    """Whether ``encoder`` is transformers' ``Wav2Vec2Encoder`` or ``HubertEncoder`` (by class name).

    Examples
    --------
    >>> is_plain_wav2vec2_encoder(torch.nn.Linear(2, 2))
    False
    """
    return type(encoder).__name__ in _PLAIN_ENCODERS


def is_plain_wav2vec2_model(model: Any) -> bool:
    """Whether ``model`` is transformers' ``Wav2Vec2Model`` or ``HubertModel`` (by class name)."""
    return type(model).__name__ in _PLAIN_MODELS


#: Attention classes that read their projections' ``weight`` and ``bias`` tensors
#: directly (WavLM's gated relative-position attention passes them to
#: ``F.multi_head_attention_forward``) instead of calling the layers, recognised by name.
_DIRECT_PROJECTION_READERS = ("WavLMAttention",)


def reads_projection_tensors(module: Any) -> bool:
    """Whether ``module`` reads its child linears' weight tensors itself (so they must stay ``nn.Linear``).

    Examples
    --------
    >>> reads_projection_tensors(torch.nn.MultiheadAttention(4, 1))
    False
    """
    return type(module).__name__ in _DIRECT_PROJECTION_READERS


def attn_implementation(config: Any) -> str | None:
    """``config._attn_implementation``: the attention the model was built with (``"sdpa"``, ``"eager"``...)."""
    return getattr(config, "_attn_implementation", None)


def transformers_output_lengths(
    model: Any, lengths: torch.Tensor | int, add_adapter: bool | None = None
) -> Any:
    """``model._get_feat_extract_output_lengths``: transformers' own frame count.

    The package counts frames with :func:`emocirc.frames.frame_counts`; this is
    the reference it is tested against.
    """
    return model._get_feat_extract_output_lengths(lengths, add_adapter=add_adapter)


def compute_mask_indices(
    shape: tuple[int, int], mask_prob: float, mask_length: int, min_masks: int = 0
) -> Any:
    """``transformers.models.wav2vec2.modeling_wav2vec2._compute_mask_indices``: wav2vec2's span mask (numpy bool)."""
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices

    return _compute_mask_indices(shape, mask_prob, mask_length, min_masks=min_masks)


def sample_negative_indices(shape: tuple[int, int], num_negatives: int, mask_time_indices: Any = None) -> Any:
    """``..._sample_negative_indices``: wav2vec2's distractor frames for each masked frame (numpy int)."""
    from transformers.models.wav2vec2.modeling_wav2vec2 import _sample_negative_indices

    return _sample_negative_indices(shape, num_negatives, mask_time_indices)
