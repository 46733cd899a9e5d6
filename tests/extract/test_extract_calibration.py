"""Calibration and per-label thresholds: from softmax probabilities to decisions."""

from __future__ import annotations

import numpy as np

from assistant.extract.calibration import best_threshold, decide, fit_platt, platt

LABELS = ("action_item", "customer_need", "objection", "none")


def test_fit_platt_recovers_an_overconfident_model() -> None:
    """Labels drawn from a known calibration map are fitted back to it: a model whose 0.9 is
    right far less often gets confidences that say so."""
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, 20_000)
    truth = platt(p, 0.6, -2.0)
    right = (rng.uniform(size=p.size) < truth).astype(float)
    a, b = fit_platt(p, right)
    assert abs(a - 0.6) < 0.1 and abs(b + 2.0) < 0.15
    assert platt(np.array([0.9]), a, b)[0] < 0.5


def test_best_threshold_weighs_every_part() -> None:
    """One part with rare positives and one with common ones: the threshold serves both."""
    written = (np.array([0.9, 0.8, 0.7, 0.2, 0.1]), np.array([1, 1, 1, 0, 0]))
    meetings = (np.array([0.95, 0.75, 0.72, 0.71, 0.3]), np.array([1, 0, 0, 0, 0]))
    threshold, f1 = best_threshold([written, meetings])
    assert 0.75 < threshold <= 0.8
    assert f1 > 0.8


def test_decide_applies_thresholds_and_keeps_the_surest_item() -> None:
    calibration = {
        "action_item": {"a": 1.0, "b": 0.0, "threshold": 0.6},
        "customer_need": {"a": 1.0, "b": 0.0, "threshold": 0.3},
        "objection": {"a": 1.0, "b": 0.0, "threshold": 0.5},
    }
    probs = np.array(
        [
            [0.55, 0.05, 0.05, 0.35],  # most probable, but under its threshold
            [0.05, 0.35, 0.05, 0.55],  # not the argmax, but over its threshold
            [0.70, 0.00, 0.25, 0.05],
        ]
    )
    labels, confidence = decide(probs, LABELS, calibration)
    assert labels == ["none", "customer_need", "action_item"]
    assert abs(confidence[1] - 0.35) < 1e-6
    assert abs(confidence[0] - 0.45) < 1e-6  # 1 - the surest item's confidence


def test_decide_without_calibration_is_the_argmax() -> None:
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.1, 0.1, 0.1]])
    labels, confidence = decide(probs, LABELS, None)
    assert labels == ["none", "action_item"]
    assert list(confidence) == [0.4, 0.7]
