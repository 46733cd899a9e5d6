"""From the model's probabilities to decisions a reader can trust.

The classifier's softmax is fitted on training data where items are common (a third of the
utterances); in a real call or meeting they are rare (action items are 0.3 % of real meeting
utterances). So each item label gets, from a validation set with real priors:

- a **calibration**: the probability that the label is right, ``sigmoid(a * logit(p) + b)`` of
  the label's softmax probability ``p`` (Platt scaling, one-vs-rest), so that items shown at
  0.9 are right about 9 times in 10;
- a **threshold** on that calibrated confidence, chosen for F1 on the same set.

An utterance gets the item label with the highest calibrated confidence among those at or above
their threshold; otherwise ``none``. Fitting lives here too, so training and inference share one
definition. Plain numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def platt(p: np.ndarray, a: float, b: float) -> np.ndarray:
    """Calibrated confidence of a label whose softmax probability is ``p``."""
    return 1.0 / (1.0 + np.exp(-(a * _logit(p) + b)))


def fit_platt(p: np.ndarray, right: np.ndarray, iterations: int = 200) -> tuple[float, float]:
    """(a, b) maximizing the likelihood of ``right`` (0/1) given ``p``: Newton's method on a
    two-parameter logistic regression, with Platt's smoothed targets against overconfidence."""
    x = _logit(np.asarray(p, dtype=np.float64))
    y = np.asarray(right, dtype=np.float64)
    positives, negatives = y.sum(), len(y) - y.sum()
    target = np.where(y > 0, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    a, b = 1.0, 0.0
    for _ in range(iterations):
        q = 1.0 / (1.0 + np.exp(-(a * x + b)))
        w = np.maximum(q * (1 - q), 1e-12)
        grad = np.array([((q - target) * x).sum(), (q - target).sum()])
        hess = np.array([[(w * x * x).sum(), (w * x).sum()], [(w * x).sum(), w.sum()]])
        step = np.linalg.solve(hess + 1e-9 * np.eye(2), grad)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-9:
            break
    return float(a), float(b)


def f1_at(confidence: np.ndarray, right: np.ndarray, threshold: float) -> float:
    chosen = confidence >= threshold
    tp = float((chosen & (right > 0)).sum())
    if tp == 0:
        return 0.0
    return 2 * tp / (float(chosen.sum()) + float((right > 0).sum()))


def best_threshold(
    parts: Sequence[tuple[np.ndarray, np.ndarray]], grid: np.ndarray | None = None
) -> tuple[float, float]:
    """(threshold, score): the threshold maximizing the mean F1 over ``parts`` (each a pair of
    calibrated confidences and 0/1 truths, e.g. written calls and real meetings, so neither
    decides alone)."""
    grid = np.round(np.arange(0.05, 0.96, 0.01), 2) if grid is None else grid
    scores = [float(np.mean([f1_at(c, y, t) for c, y in parts])) for t in grid]
    best = int(np.argmax(scores))
    return float(grid[best]), scores[best]


def decide(
    probs: np.ndarray, labels: Sequence[str], calibration: dict[str, Any] | None
) -> tuple[list[str], np.ndarray]:
    """(label, confidence) per row of softmax ``probs``.

    Without a calibration (models trained before it), the most probable label and its
    probability, as before.
    """
    if not calibration:
        best = probs.argmax(1)
        return [labels[int(i)] for i in best], probs[np.arange(len(probs)), best]
    none = labels.index("none")
    items = [i for i in range(len(labels)) if i != none]
    conf = np.zeros((len(probs), len(labels)))
    passing = np.zeros((len(probs), len(labels)), dtype=bool)
    for i in items:
        params = calibration[labels[i]]
        conf[:, i] = platt(probs[:, i], params["a"], params["b"])
        passing[:, i] = conf[:, i] >= params["threshold"]
    masked = np.where(passing, conf, -1.0)
    best = masked.argmax(1)
    rows = np.arange(len(probs))
    given = masked[rows, best] >= 0
    chosen = [labels[int(i)] if g else "none" for i, g in zip(best, given, strict=True)]
    return chosen, np.where(given, conf[rows, best], 1.0 - conf[:, items].max(1))
