"""Classification metrics for the extractor: per-class precision/recall/F1, macro-F1, and
calibration (expected calibration error and a reliability table). Plain numpy."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int
    confidence: float
    accuracy: float


@dataclass(frozen=True)
class Report:
    classes: list[ClassScore]
    macro_f1: float
    accuracy: float
    ece: float
    bins: list[Bin]
    n: int

    def as_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "macro_f1": round(self.macro_f1, 4),
            "accuracy": round(self.accuracy, 4),
            "ece": round(self.ece, 4),
            "classes": {
                c.label: {
                    "precision": round(c.precision, 4),
                    "recall": round(c.recall, 4),
                    "f1": round(c.f1, 4),
                    "support": c.support,
                }
                for c in self.classes
            },
            "reliability": [
                {
                    "bin": f"{b.low:.1f}-{b.high:.1f}",
                    "count": b.count,
                    "confidence": round(b.confidence, 4),
                    "accuracy": round(b.accuracy, 4),
                }
                for b in self.bins
            ],
        }


def present(gold: Sequence[str], labels: Sequence[str]) -> list[str]:
    """The ``labels`` that occur in ``gold``, in their order: what a set's macro-F1 averages (a
    class with no gold item has no recall to measure)."""
    found = set(gold)
    return [label for label in labels if label in found]


def score(
    gold: Sequence[str],
    predicted: Sequence[str],
    confidence: Sequence[float],
    labels: Sequence[str],
    macro_over: Sequence[str] | None = None,
    n_bins: int = 10,
) -> Report:
    """Scores of ``predicted`` against ``gold``. ``macro_over`` picks the classes whose F1 is
    averaged (default: all ``labels``). Calibration counts every prediction: a prediction made
    with confidence 0.9 should be right 9 times in 10."""
    g, p = np.asarray(gold), np.asarray(predicted)
    classes = []
    for label in labels:
        tp = int(np.sum((p == label) & (g == label)))
        fp = int(np.sum((p == label) & (g != label)))
        fn = int(np.sum((p != label) & (g == label)))
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        classes.append(ClassScore(label, precision, recall, f1, tp + fn))
    chosen = set(macro_over or labels)
    macro = float(np.mean([c.f1 for c in classes if c.label in chosen])) if classes else 0.0
    correct = (g == p).astype(float)
    conf = np.asarray(confidence, dtype=float)
    bins, ece = [], 0.0
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    for low, high in itertools.pairwise(edges):
        inside = (conf > low) & (conf <= high) if low > 0 else (conf >= low) & (conf <= high)
        count = int(inside.sum())
        if not count:
            continue
        mean_conf, acc = float(conf[inside].mean()), float(correct[inside].mean())
        ece += count / len(conf) * abs(mean_conf - acc)
        bins.append(Bin(float(low), float(high), count, mean_conf, acc))
    accuracy = float(correct.mean()) if len(correct) else 0.0
    return Report(classes, macro, accuracy, ece, bins, len(g))


def format_report(title: str, report: Report) -> str:
    lines = [
        f"{title}  (n={report.n})",
        f"  {'class':<15}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
    ]
    for c in report.classes:
        lines.append(
            f"  {c.label:<15}{c.precision:>10.3f}{c.recall:>10.3f}{c.f1:>10.3f}{c.support:>10d}"
        )
    lines.append(f"  macro-F1 {report.macro_f1:.3f}   accuracy {report.accuracy:.3f}")
    lines.append(f"  calibration: ECE {report.ece:.3f}")
    lines.append(f"  {'confidence':<12}{'count':>8}{'mean conf':>11}{'accuracy':>10}")
    for b in report.bins:
        span = f"{b.low:.1f}-{b.high:.1f}"
        lines.append(f"  {span:<12}{b.count:>8d}{b.confidence:>11.3f}{b.accuracy:>10.3f}")
    return "\n".join(lines)


def paired_bootstrap(
    gold: Sequence[str],
    first: Sequence[str],
    second: Sequence[str],
    groups: Sequence[object],
    labels: Sequence[str],
    draws: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """How much ``second`` scores above ``first`` on the same utterances (mean F1 over
    ``labels``: macro-F1, or one label's F1), with a 95 % interval. Whole groups (calls,
    meetings) are drawn with replacement: a call's utterances share their writer, speakers and
    topic, so the call, not the utterance, is the unit that varies. Returns (difference, low,
    high); an interval that holds 0 says the two could not be told apart on this set."""
    g = np.asarray(gold)
    ids = np.unique(np.asarray(groups), return_inverse=True)[1]
    n = int(ids.max()) + 1 if len(ids) else 0

    def counts(predicted: Sequence[str]) -> np.ndarray:
        """Per group and label: true positives, false positives, false negatives."""
        p = np.asarray(predicted)
        out = np.zeros((n, len(labels), 3))
        for j, label in enumerate(labels):
            for k, hit in enumerate(((p == label) & (g == label), (p == label) & (g != label))):
                np.add.at(out[:, j, k], ids, hit)
            np.add.at(out[:, j, 2], ids, (p != label) & (g == label))
        return out

    def mean_f1(c: np.ndarray) -> np.ndarray:
        tp, fp, fn = c[..., 0], c[..., 1], c[..., 2]
        f1 = np.divide(2 * tp, 2 * tp + fp + fn, out=np.zeros_like(tp), where=2 * tp + fp + fn > 0)
        return f1.mean(-1)

    a, b = counts(first), counts(second)
    weights = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=draws)
    diff = mean_f1(np.einsum("dn,nlk->dlk", weights, b)) - mean_f1(
        np.einsum("dn,nlk->dlk", weights, a)
    )
    low, high = np.percentile(diff, [2.5, 97.5])
    return float(mean_f1(b.sum(0)) - mean_f1(a.sum(0))), float(low), float(high)
