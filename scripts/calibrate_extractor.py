"""Fit a trained extraction model's calibration again, without training it again.

Runs the model (in float32, as training calibrates) on the validation split training used (the
written validation calls of the data files it trained on, and the AMI validation meetings
whole), fits the per-label calibration and thresholds as ``train_extractor.py`` does at its end
(``fit_calibration``), then the action items' neighbour threshold (``fit_neighbour``, which
training does not fit), and writes them into the model's ``config.json`` and ``metrics.json``.
The weights and the temperature stay as they are. Use it when the calibration's form changes
(as when action items gained the utterance's position in the call, and then their neighbours).

    python scripts/calibrate_extractor.py --model-dir models/extractor \\
        --holdout calls_en_e calls_en_g calls_de_g calls_de_f

``--holdout`` must name the files the model was trained without (default: the model's
``holdout`` in config.json), so that no call it trained on calibrates it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from train_extractor import (  # noqa: E402
    AMI,
    DATA,
    call_positions,
    check_data,
    fit_calibration,
    turns_of,
)

from assistant.errors import AssistantError  # noqa: E402
from assistant.extract.calibration import decide, f1_at, positions  # noqa: E402
from assistant.extract.classifier import Classifier  # noqa: E402
from assistant.extract.dataset import Call, read_ami_meetings, read_calls  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model-dir", type=Path, required=True, help="a trained model's folder")
    p.add_argument("--holdout", nargs="*", help="data files the model was trained without")
    p.add_argument("--ami", type=Path, default=AMI, help="AMI dialogue acts [%(default)s]")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return p.parse_args(argv)


def calibrate(classifier: Classifier, holdout: list[str], ami: Path) -> dict[str, Any]:
    """Fit the calibration on the validation split and write it into the model's config.json
    (and metrics.json); returns it."""
    model_dir = classifier.model_dir
    labels = list(classifier.labels)
    files = sorted(DATA.glob("*.jsonl"))
    calls = [c for c in read_calls(f for f in files if f.stem not in holdout) if c.split == "val"]
    calls += [c for c in read_ami_meetings(ami, for_training=True) if c.split == "val"]
    # Every utterance is read: the meetings' linked utterances without task words are left out
    # of the Platt fit and the threshold (as in training) but score the neighbour threshold.
    probs = [
        classifier.predict(classifier.inputs(turns_of(c, None, 0.0))).label_probs for c in calls
    ]
    rows = [row for call in calls for row in call.rows]
    fit = np.array([not row.context_only for row in rows])
    print(f"validation: {len(calls)} calls and meetings, {int(fit.sum())} utterances")
    gold = np.array([labels.index(row.label) for row in rows])
    written = np.array([call.source != "ami" for call in calls for _ in call.rows])
    fitted = fit_calibration(np.vstack(probs)[fit], gold[fit], written[fit], call_positions(calls))
    neighbour = fit_neighbour(calls, probs, labels, fitted)
    if neighbour is not None:
        fitted["action_item"]["neighbour"] = neighbour

    config = classifier.config
    print(f"was: {json.dumps(config.get('calibration'))}")
    config["calibration"] = fitted
    config_path = model_dir / "config.json"
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    metrics_path = model_dir / "metrics.json"
    if metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text("utf-8"))
        metrics["calibration"] = fitted
        metrics_path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(f"wrote the calibration into {config_path}")
    return fitted


def fit_neighbour(
    calls: list[Call], probs: list[np.ndarray], labels: list[str], fitted: dict[str, Any]
) -> float | None:
    """The action items' neighbour threshold (``calibration.decide``) by the criterion of their
    threshold: the best mean of the action-item F1 on the written calls and on the meetings
    (every linked utterance scored), on a grid of 0.05 steps below the threshold, ties to the
    higher one; None when no value beats the rule left out."""

    def mean_f1(neighbour: float | None) -> float:
        own = {**fitted["action_item"], "neighbour": neighbour}
        calibration = {**fitted, "action_item": own}
        found: dict[bool, list[tuple[bool, bool]]] = {True: [], False: []}  # (chosen, right)
        for call, p in zip(calls, probs, strict=True):
            speakers = [row.speaker for row in call.rows]
            decided, _ = decide(p, labels, calibration, positions(len(p)), speakers)
            written = call.source != "ami"
            found[written] += [
                (label == "action_item", row.label == "action_item")
                for row, label in zip(call.rows, decided, strict=True)
                if not (written and row.context_only)
            ]
        f1s = [
            f1_at(np.array([c for c, _ in part], float), np.array([r for _, r in part]), 0.5)
            for part in found.values()
            if part
        ]
        return float(np.mean(f1s))

    without = mean_f1(None)
    grid = [round(t, 2) for t in np.arange(0.05, fitted["action_item"]["threshold"], 0.05)]
    scores = {t: mean_f1(t) for t in grid}
    best = max(grid, key=lambda t: (scores[t], t), default=None)
    for t in grid:
        print(f"neighbour {t:.2f}: mean action-item F1 {scores[t]:.4f} (without: {without:.4f})")
    return best if best is not None and scores[best] > without else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        classifier = Classifier(args.model_dir, float32=True)
        holdout = classifier.config.get("holdout", []) if args.holdout is None else args.holdout
        check_data(holdout, args.ami)
    except (AssistantError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    calibrate(classifier, holdout, args.ami)
    return 0


if __name__ == "__main__":
    sys.exit(main())
