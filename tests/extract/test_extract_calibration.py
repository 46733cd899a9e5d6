"""Calibration and per-label thresholds: from softmax probabilities to decisions."""

from __future__ import annotations

import numpy as np

from assistant.extract.calibration import (
    MIN_POSITIONED,
    best_threshold,
    decide,
    fit_platt,
    platt,
    positions,
)

LABELS = ("action_item", "customer_need", "objection", "none")


def test_fit_platt_recovers_an_overconfident_model() -> None:
    """Labels drawn from a known calibration map are fitted back to it: a model whose 0.9 is
    right far less often gets confidences that say so."""
    rng = np.random.default_rng(0)
    p = rng.uniform(0.01, 0.99, 20_000)
    truth = platt(p, 0.6, -2.0)
    right = (rng.uniform(size=p.size) < truth).astype(float)
    a, b, c = fit_platt(p, right)
    assert abs(a - 0.6) < 0.1 and abs(b + 2.0) < 0.15 and c == 0.0
    assert platt(np.array([0.9]), a, b)[0] < 0.5


def test_fit_platt_learns_where_in_the_call_items_are_said() -> None:
    """Items said more often near a call's end than its start: the fitted position weight says
    so, and the same probability is worth more late than early."""
    rng = np.random.default_rng(1)
    p = rng.uniform(0.01, 0.99, 30_000)
    place = rng.uniform(size=p.size)
    truth = platt(p, 0.8, -1.5, 3.0, place)
    right = (rng.uniform(size=p.size) < truth).astype(float)
    a, b, c = fit_platt(p, right, place)
    assert abs(a - 0.8) < 0.1 and abs(b + 1.5) < 0.15 and abs(c - 3.0) < 0.4
    early, late = platt(np.array([0.7, 0.7]), a, b, c, np.array([0.1, 0.9]))
    assert late > 0.5 > early


def test_positions_run_from_start_to_end_and_say_nothing_in_an_excerpt() -> None:
    assert list(positions(MIN_POSITIONED + 1)) == [i / MIN_POSITIONED for i in range(11)]
    assert set(positions(MIN_POSITIONED - 1)) == {0.5}
    assert len(positions(0)) == 0


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


def test_decide_weighs_the_position_of_action_items_only() -> None:
    """The same probabilities early and late in a call: the action item passes only late; the
    need, whose calibration has no position weight, passes in both; without positions the
    action item is judged as if said mid-call."""
    calibration = {
        "action_item": {"a": 1.0, "b": 0.0, "threshold": 0.5, "position": 2.0},
        "customer_need": {"a": 1.0, "b": 0.0, "threshold": 0.5},
        "objection": {"a": 1.0, "b": 0.0, "threshold": 0.5},
    }
    probs = np.array([[0.6, 0.1, 0.1, 0.2], [0.6, 0.1, 0.1, 0.2], [0.1, 0.6, 0.1, 0.2]] * 2)
    place = np.array([0.0, 1.0, 0.0, 0.5, 0.5, 1.0])
    labels, confidence = decide(probs, LABELS, calibration, place)
    assert labels[:3] == ["none", "action_item", "customer_need"]
    assert labels[3:] == ["action_item", "action_item", "customer_need"]
    assert abs(confidence[3] - 0.6) < 1e-6  # mid-call: the plain calibration
    assert decide(probs, LABELS, calibration)[0][3] == "action_item"


def test_an_action_item_grows_to_its_speakers_next_utterances() -> None:
    """An assignment spoken over three utterances: the first passes the threshold, the rest of
    it ("and the interface,") only the neighbour threshold. They join it when the same speaker
    says them next to it, in both directions and in runs; not when another speaker does, not
    across an unknown speaker, not without speakers, and not under the neighbour threshold."""
    calibration = {
        "action_item": {"a": 1.0, "b": 0.0, "threshold": 0.6, "neighbour": 0.2},
        "customer_need": {"a": 1.0, "b": 0.0, "threshold": 0.5},
        "objection": {"a": 1.0, "b": 0.0, "threshold": 0.5},
    }
    ai = [0.1, 0.3, 0.9, 0.25, 0.3, 0.3, 0.1, 0.9, 0.15, 0.3]
    probs = np.array([[p, 0.0, 0.0, 1.0 - p] for p in ai])
    speakers = ["B", "A", "A", "A", "A", "B", None, "C", "C", None]
    labels, confidence = decide(probs, LABELS, calibration, None, speakers)
    assert labels == [
        "none",  # another speaker's
        "action_item",  # before the item
        "action_item",  # the item
        "action_item",
        "action_item",  # a run: next to a grown one
        "none",  # another speaker
        "none",
        "action_item",
        "none",  # under the neighbour threshold
        "none",  # an unknown speaker
    ]
    assert abs(confidence[3] - 0.25) < 1e-6  # its own confidence, not the item's
    assert decide(probs, LABELS, calibration)[0].count("action_item") == 2
    without = {**calibration, "action_item": {"a": 1.0, "b": 0.0, "threshold": 0.6}}
    assert decide(probs, LABELS, without, None, speakers)[0].count("action_item") == 2
