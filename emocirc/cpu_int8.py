"""An int8 copy of a backbone for CPUs without native bf16 (``precision="int8"``).

On a CPU without AVX512-BF16 or AMX, bf16 is emulated and slower than fp32,
so the only lower precision that pays there is int8: the transformer's
``nn.Linear`` layers (and the feature projection) are replaced by PyTorch's
dynamically quantised linears (int8 weights with one scale per tensor,
activations quantised at each call, int32 accumulation; FBGEMM's
or oneDNN's VNNI/AVX2 kernels).  The convolutional feature encoder, the
positional convolution, the layer norms and the attention's softmax stay in
fp32.  It is an approximation (about 3 % relative difference from fp32 on
wav2vec2-base with random weights; see benchmarks/README.md), so it is only
used when asked for.

The copy is derived from the model's weights and, like the bf16 copy of
:mod:`emocirc.fast_forward`, is kept outside the model (keyed weakly by it) so
copying or pickling a model or backbone never meets it.
"""

from __future__ import annotations

import copy
import os
import warnings

import torch

from emocirc.compat import reads_projection_tensors

#: Environment variable that forces the bf16 capability detection of
#: :func:`cpu_has_native_bf16`: ``0`` (treat this CPU as one without native
#: bf16, e.g. to time or test the no-bf16 path on a bf16 machine) or ``1``.
FORCE_BF16_ENV = "EMOCIRC_CPU_BF16"


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX), unless forced by ``EMOCIRC_CPU_BF16``.

    Emulated bf16 (plain AVX-512 or AVX2) is slower than fp32, so only
    native units count.

    Examples
    --------
    >>> cpu_has_native_bf16("flags : fpu avx2 avx512f")
    False
    >>> cpu_has_native_bf16("flags : fpu avx512f avx512_bf16") or os.environ.get(FORCE_BF16_ENV) == "0"
    True
    """
    forced = os.environ.get(FORCE_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as handle:
                cpuinfo = handle.read()
        except OSError:
            return False
    return " avx512_bf16" in cpuinfo or " amx_bf16" in cpuinfo


def int8_available() -> bool:
    """Whether this PyTorch build has a quantised engine for dynamic int8 linears.

    Examples
    --------
    >>> isinstance(int8_available(), bool)
    True
    """
    return any(engine != "none" for engine in torch.backends.quantized.supported_engines)


def _int8_spec(model: torch.nn.Module) -> dict[str, object]:
    """The linears to quantise, by name: all but those whose parent reads their tensors directly.

    WavLM's attention hands ``q_proj.weight`` and ``q_proj.bias`` to
    ``F.multi_head_attention_forward``; a quantised linear has no such
    tensors, so those projections stay fp32 (the feed-forward layers, most of
    the arithmetic, are still int8).
    """
    keep_float = set()
    for name, module in model.named_modules():
        if reads_projection_tensors(module):
            prefix = f"{name}." if name else ""
            keep_float.update(prefix + child for child, _ in module.named_children())
    qconfig = torch.ao.quantization.default_dynamic_qconfig
    return {
        name: qconfig
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name not in keep_float
    }


def int8_copy(model: torch.nn.Module) -> torch.nn.Module:
    """An inference copy of ``model`` whose ``nn.Linear`` layers compute in dynamic int8.

    The model itself is left as it is.  Raises ``RuntimeError`` when the
    build has no quantised engine (see :func:`int8_available`).

    Examples
    --------
    >>> lin = torch.nn.Sequential(torch.nn.Linear(16, 8))
    >>> q = int8_copy(lin)
    >>> type(q[0]).__name__, type(lin[0]).__name__
    ('Linear', 'Linear')
    >>> x = torch.randn(4, 16)
    >>> bool(torch.allclose(q(x), lin(x), atol=0.1))
    True
    """
    if not int8_available():
        raise RuntimeError("this PyTorch build has no quantised engine for int8")
    with torch.inference_mode(False):
        clone = copy.deepcopy(model).float().eval()
        with warnings.catch_warnings():  # torch.ao.quantization's notice of its move to torchao
            warnings.simplefilter("ignore")
            quantized = torch.ao.quantization.quantize_dynamic(clone, _int8_spec(clone), dtype=torch.qint8)
    quantized.requires_grad_(False)
    return quantized
