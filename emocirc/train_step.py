"""The training step engine: one optimisation step of the recipe, optionally replayed from CUDA graphs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn


class TrainStep:
    """One optimisation step of the recipe, optionally replayed from CUDA graphs.

    A step is: forward under autocast, NLL on the log-probabilities,
    gradients, global-norm clipping, and a step of each Adam optimiser.  At
    the recipe's batch of 4 a GPU step is a few hundred small kernels, and
    launching them from Python takes longer than running them.  With
    ``graphs`` (CUDA, one process) each batch shape is run eagerly twice
    (real steps, on a side stream, which also warms cuBLAS and the
    optimisers' state), then captured once as a CUDA graph of the whole step
    and replayed for every later batch of that shape: inputs are copied into
    the graph's own tensors and one launch runs the step.  Batches of a
    shape not captured (more than ``max_graphs`` shapes) run eagerly.  The
    optimisers must be built with ``capturable=True``; call
    :meth:`learning_rates_changed` after changing a learning rate (the rates
    are constants of a captured graph, so the graphs are captured again).
    Losses stay on the device; :meth:`mean_loss` reads them once.

    Parameters
    ----------
    model:
        Maps ``(waveforms, lengths)`` to log-probabilities.
    optimizers:
        Stepped in order after clipping.
    max_grad_norm:
        Global L2 norm the gradients are clipped to.
    autocast_dtype:
        ``torch.bfloat16``/``torch.float16`` for mixed precision, ``None`` for none.
    backward, clip:
        How to back-propagate and clip in the eager path (an Accelerator's
        ``backward`` and ``clip_grad_norm_`` under ``accelerate``).
    graphs:
        Capture and replay CUDA graphs (requires a CUDA model and no fp16 loss scaling).

    Examples
    --------
    >>> import torch
    >>> from emocirc.backbones import load_backbone
    >>> from emocirc.classifier import EmotionClassifier
    >>> clf = EmotionClassifier(load_backbone("tiny").model, ["anger", "sadness"], True)
    >>> step = TrainStep(clf, [torch.optim.Adam(clf.parameters(), lr=1e-3)], max_grad_norm=5.0)
    >>> step(torch.randn(2, 16000), torch.tensor([16000, 12000]), torch.tensor([0, 1]))
    >>> loss = step.mean_loss()
    >>> 0 < loss < 10
    True
    """

    def __init__(
        self,
        model: nn.Module,
        optimizers: Sequence[torch.optim.Optimizer],
        max_grad_norm: float,
        autocast_dtype: torch.dtype | None = None,
        *,
        backward: Callable[[torch.Tensor], None] | None = None,
        clip: Callable[[Any, float], Any] | None = None,
        graphs: bool = False,
        max_graphs: int = 16,
        warmup: int = 2,
    ) -> None:
        self.model = model
        self.optimizers = list(optimizers)
        self.max_grad_norm = max_grad_norm
        self.autocast_dtype = autocast_dtype
        self._backward = backward or (lambda loss: loss.backward())
        self._clip = clip or torch.nn.utils.clip_grad_norm_
        self.graphs = graphs
        self.max_graphs = max_graphs
        self.warmup = warmup
        self._params = [p for p in model.parameters() if p.requires_grad]
        self._seen: dict[tuple, int] = {}
        self._captured: dict[tuple, tuple[Any, ...]] = {}
        self._losses: list[torch.Tensor] = []
        self._stream = None

    def _autocast(self, device: torch.device):
        if self.autocast_dtype is None:
            return torch.autocast(device_type=device.type, enabled=False)
        # Cached casts must not outlive a graph capture.
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype, cache_enabled=False)

    def _eager(
        self, wav: torch.Tensor, lens: torch.Tensor, target: torch.Tensor, graph_safe: bool
    ) -> torch.Tensor:
        with self._autocast(wav.device):
            logp = self.model(wav, lens)
        loss = nn.functional.nll_loss(logp.float(), target)
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=True)
        if graph_safe:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self._params, self.max_grad_norm, foreach=True)
        else:
            self._backward(loss)
            self._clip(self.model.parameters(), self.max_grad_norm)
        for opt in self.optimizers:
            opt.step()
        return loss.detach()

    def __call__(self, wav: torch.Tensor, lens: torch.Tensor, target: torch.Tensor) -> None:
        """Run one step on host or device tensors (moved to the model's device)."""
        device = self._params[0].device if self._params else wav.device
        if not (self.graphs and device.type == "cuda"):
            wav, lens, target = (t.to(device, non_blocking=True) for t in (wav, lens, target))
            loss = self._eager(wav, lens, target, graph_safe=False)
            self._losses.append(loss)
            return
        shape = (tuple(wav.shape), str(wav.dtype))
        captured = self._captured.get(shape)
        if captured is None:
            seen = self._seen[shape] = self._seen.get(shape, 0) + 1
            if seen <= self.warmup or len(self._captured) >= self.max_graphs:
                self._losses.append(self._side_stream_step(wav, lens, target, device))
                return
            captured = self._captured[shape] = self._capture(wav, lens, target, device)
        graph, s_wav, s_lens, s_target, s_loss = captured
        s_wav.copy_(wav, non_blocking=True)
        s_lens.copy_(lens, non_blocking=True)
        s_target.copy_(target, non_blocking=True)
        graph.replay()
        self._losses.append(s_loss.clone())

    def _side_stream_step(self, wav, lens, target, device) -> torch.Tensor:
        if self._stream is None:
            self._stream = torch.cuda.Stream(device)
        self._stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(self._stream):
            wav, lens, target = (t.to(device, non_blocking=True) for t in (wav, lens, target))
            loss = self._eager(wav, lens, target, graph_safe=True)
        main = torch.cuda.current_stream(device)
        main.wait_stream(self._stream)
        loss.record_stream(main)  # read later on the main stream
        return loss

    def _capture(self, wav, lens, target, device) -> tuple[Any, ...]:
        s_wav, s_lens, s_target = (t.to(device, non_blocking=True).clone() for t in (wav, lens, target))
        graph = torch.cuda.CUDAGraph()
        for opt in self.optimizers:
            # Gradients made inside the capture live in the graph's memory pool.
            opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            with self._autocast(device):
                logp = self.model(s_wav, s_lens)
            loss = nn.functional.nll_loss(logp.float(), s_target)
            loss.backward()
            # Keep no reference to the autograd graph: its nodes belong to the capture's stream.
            s_loss = loss.detach()
            del loss, logp
            torch.nn.utils.clip_grad_norm_(self._params, self.max_grad_norm, foreach=True)
            for opt in self.optimizers:
                opt.step()
        return graph, s_wav, s_lens, s_target, s_loss

    def learning_rates_changed(self) -> None:
        """Drop the captured graphs: they hold the learning rates they were captured with."""
        self._captured.clear()

    @property
    def num_graphs(self) -> int:
        """How many batch shapes are being replayed from a CUDA graph."""
        return len(self._captured)

    def mean_loss(self, reset: bool = True) -> float:
        """Mean training loss since the last reset (one device read)."""
        if not self._losses:
            return float("nan")
        value = float(torch.stack([loss.float() for loss in self._losses]).mean())
        if reset:
            self._losses = []
        return value
