"""Which SDPA kernel attention of wav2vec2-base's shape gets on a GPU (bf16, dropout), eager and captured in a CUDA graph.

Diagnostic for benchmarks/README.md: SDPA's fused kernels are captured without trouble."""

import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.profiler import ProfilerActivity, profile

warnings.simplefilter("always")
q, k, v = (
    torch.randn(32, 224, 12, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True).transpose(1, 2)
    for _ in range(3)
)
for name, backends in (
    ("flash", [SDPBackend.FLASH_ATTENTION]),
    ("efficient", [SDPBackend.EFFICIENT_ATTENTION]),
    ("cudnn", [SDPBackend.CUDNN_ATTENTION]),
):
    for p in (0.0, 0.1):
        with warnings.catch_warnings(record=True) as w:
            try:
                with sdpa_kernel(backends):
                    F.scaled_dot_product_attention(q, k, v, dropout_p=p, scale=0.125).sum().backward()
                print(name, p, "ok")
            except Exception as e:
                print(name, p, "FAILED", str(e).splitlines()[0], [str(x.message)[:300] for x in w])
with profile(activities=[ProfilerActivity.CUDA]) as prof:
    with torch.autocast("cuda", dtype=torch.bfloat16):
        F.scaled_dot_product_attention(q, k, v, dropout_p=0.1, scale=0.125).sum().backward()
    torch.cuda.synchronize()
print("default choice, eager:", [e.key[:80] for e in prof.key_averages() if e.self_device_time_total > 0][:6])
s = torch.cuda.Stream()
s.wait_stream(torch.cuda.current_stream())
with torch.cuda.stream(s):
    F.scaled_dot_product_attention(q, k, v, dropout_p=0.1, scale=0.125)
torch.cuda.current_stream().wait_stream(s)
g = torch.cuda.CUDAGraph()
with torch.cuda.graph(g):
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.1, scale=0.125)
with profile(activities=[ProfilerActivity.CUDA]) as prof:
    g.replay()
    torch.cuda.synchronize()
print(
    "default choice, captured:", [e.key[:80] for e in prof.key_averages() if e.self_device_time_total > 0][:6]
)
