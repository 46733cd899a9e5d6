"""From the model's probabilities to decisions a reader can trust.

The classifier's softmax is fitted on training data where items are common (a third of the
utterances); in a real call or meeting they are rare (action items are 0.3 % of real meeting
utterances). So each item label gets, from a validation set with real priors:

- a **calibration**: the probability that the label is right, ``sigmoid(a * logit(p) + b)`` of
  the label's softmax probability ``p`` (Platt scaling, one-vs-rest), so that items shown at
  0.9 are right about 9 times in 10. Action items add ``c * (position - 0.5)``, where the
  position is how far into the call the utterance is (0 at the start, 1 at the end): in real
  meetings nine in ten agreed action items are said in the last third, where the plans and
  descriptions said earlier ("we are going to develop...") read just like them;
- a **threshold** on that calibrated confidence, chosen for F1 on the same set;
- optionally a lower **neighbour** threshold: an utterance next to an item of the label, said by
  the same speaker, joins that item at this confidence. People give one assignment over several
  utterances ("the Industrial Designer will work on the look and feel," / "and the User
  Interface Designer on the interface."), and the rest of it often carries no task words of its
  own (hysteresis, as in detecting sound events).

An utterance gets the item label with the highest calibrated confidence among those at or above
their threshold; otherwise ``none``; then runs of an item grow by their neighbours. Fitting
lives here too, so training and inference share one definition. Plain numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_EPS = 1e-6
# A call of fewer utterances than this (an excerpt) gives no position evidence: every utterance
# sits at 0.5, where the position adds nothing. The calls the calibration is fitted on have 10
# or more.
MIN_POSITIONED = 10


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def positions(n: int) -> np.ndarray:
    """How far into a call of ``n`` utterances each one is: 0 for the first, 1 for the last;
    0.5 for all in a call shorter than ``MIN_POSITIONED``."""
    if n < MIN_POSITIONED:
        return np.full(n, 0.5)
    return np.arange(n) / (n - 1)


def platt(
    p: np.ndarray, a: float, b: float, c: float = 0.0, position: np.ndarray | None = None
) -> np.ndarray:
    """Calibrated confidence of a label whose softmax probability is ``p``, said at
    ``position`` in its call (None: the middle, where the position adds nothing)."""
    z = a * logit(p) + b
    if c and position is not None:
        z = z + c * (np.asarray(position, dtype=np.float64) - 0.5)
    return 1.0 / (1.0 + np.exp(-z))


def fit_platt(
    p: np.ndarray, right: np.ndarray, position: np.ndarray | None = None, iterations: int = 200
) -> tuple[float, float, float]:
    """(a, b, c) maximizing the likelihood of ``right`` (0/1) given ``p`` (and ``position``;
    without it c is 0): Newton's method on a logistic regression, with Platt's smoothed targets
    against overconfidence."""
    columns = [logit(np.asarray(p, dtype=np.float64)), np.ones(len(p))]
    if position is not None:
        columns.append(np.asarray(position, dtype=np.float64) - 0.5)
    x = np.stack(columns, 1)
    y = np.asarray(right, dtype=np.float64)
    positives, negatives = y.sum(), len(y) - y.sum()
    target = np.where(y > 0, (positives + 1) / (positives + 2), 1 / (negatives + 2))
    w = np.zeros(x.shape[1])
    w[0] = 1.0
    for _ in range(iterations):
        q = 1.0 / (1.0 + np.exp(-(x @ w)))
        weight = np.maximum(q * (1 - q), 1e-12)
        hess = (x * weight[:, None]).T @ x
        step = np.linalg.solve(hess + 1e-9 * np.eye(len(w)), x.T @ (q - target))
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return float(w[0]), float(w[1]), float(w[2]) if position is not None else 0.0


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


def calibrated(
    probs: np.ndarray,
    labels: Sequence[str],
    calibration: dict[str, Any],
    position: np.ndarray | None = None,
) -> np.ndarray:
    """Each item label's calibrated confidence per row of softmax ``probs`` (one column per
    label; ``none``'s column stays 0), each row said at ``position`` in its call."""
    conf = np.zeros((len(probs), len(labels)))
    for i, label in enumerate(labels):
        if label != "none":
            params = calibration[label]
            c = params.get("position", 0.0)
            conf[:, i] = platt(probs[:, i], params["a"], params["b"], c, position)
    return conf


def decide(
    probs: np.ndarray,
    labels: Sequence[str],
    calibration: dict[str, Any] | None,
    position: np.ndarray | None = None,
    speakers: Sequence[str | None] | None = None,
) -> tuple[list[str], np.ndarray]:
    """(label, confidence) per row of softmax ``probs``, each row said at ``position`` in its
    call (``positions``; None: no position evidence) by ``speakers`` (the rows must then be one
    call in order; None: each row on its own, and no item grows to its neighbours).

    Without a calibration (models trained before it), the most probable label and its
    probability, as before.
    """
    if not calibration:
        best = probs.argmax(1)
        return [labels[int(i)] for i in best], probs[np.arange(len(probs)), best]
    none = labels.index("none")
    items = [i for i in range(len(labels)) if i != none]
    conf = calibrated(probs, labels, calibration, position)
    passing = np.zeros((len(probs), len(labels)), dtype=bool)
    for i in items:
        passing[:, i] = conf[:, i] >= calibration[labels[i]]["threshold"]
    masked = np.where(passing, conf, -1.0)
    best = masked.argmax(1)
    rows = np.arange(len(probs))
    given = masked[rows, best] >= 0
    chosen = [labels[int(i)] if g else "none" for i, g in zip(best, given, strict=True)]
    confidence = np.where(given, conf[rows, best], 1.0 - conf[:, items].max(1))
    if speakers is not None:
        for i in items:
            neighbour = calibration[labels[i]].get("neighbour")
            if neighbour is not None:
                for row in grow(chosen, conf[:, i], labels[i], neighbour, speakers):
                    chosen[row] = labels[i]
                    confidence[row] = conf[row, i]
    return chosen, confidence


def grow(
    chosen: Sequence[str],
    conf: np.ndarray,
    label: str,
    neighbour: float,
    speakers: Sequence[str | None],
) -> list[int]:
    """Rows left ``none`` that join a run of ``label`` in ``chosen``: next to it, said by the
    same (known) speaker, with ``conf`` (the label's calibrated confidence) at least
    ``neighbour``; runs grow outward until nothing changes."""
    now = list(chosen)
    joined: list[int] = []
    todo = [i for i, c in enumerate(now) if c == label]
    while todo:
        j = todo.pop()
        for i in (j - 1, j + 1):
            if (
                0 <= i < len(now)
                and now[i] == "none"
                and speakers[i] is not None
                and speakers[i] == speakers[j]
                and conf[i] >= neighbour
            ):
                now[i] = label
                joined.append(i)
                todo.append(i)
    return sorted(joined)
