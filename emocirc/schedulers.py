"""Learning-rate schedules of the fine-tuning recipe: SpeechBrain's NewBob annealing."""

from __future__ import annotations

from typing import Any


class NewBob:
    """SpeechBrain's NewBob annealing of one learning rate on a validation metric.

    Examples
    --------
    >>> nb = NewBob(1.0, factor=0.5, threshold=0.1)
    >>> [nb.step(e) for e in (0.50, 0.40, 0.39, 0.38)]
    [1.0, 1.0, 0.5, 0.25]
    """

    def __init__(self, value: float, factor: float = 0.9, threshold: float = 0.0025, patience: int = 0):
        self.value = float(value)
        self.factor = factor
        self.threshold = threshold
        self.patience = patience
        self.current_patience = patience
        self.history: list[float] = []

    def step(self, metric: float) -> float:
        """Record this epoch's metric (lower is better); return the next learning rate."""
        if self.history:
            previous = self.history[-1]
            improvement = 0.0 if previous == 0 else (previous - metric) / previous
            if improvement < self.threshold:
                if self.current_patience == 0:
                    self.value *= self.factor
                    self.current_patience = self.patience
                else:
                    self.current_patience -= 1
        self.history.append(float(metric))
        return self.value

    def state_dict(self) -> dict[str, Any]:
        return {"value": self.value, "current_patience": self.current_patience, "history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value = float(state["value"])
        self.current_patience = int(state["current_patience"])
        self.history = [float(v) for v in state["history"]]
