"""Fit a trained extraction model's calibration again, without training it again.

Runs the model (in float32, as training calibrates) on the validation split training used (the
written validation calls of the data files it trained on, and the AMI validation meetings
whole), fits the per-label calibration and thresholds as ``train_extractor.py`` does at its end
(``fit_calibration``), and writes them into the model's ``config.json`` and ``metrics.json``.
The weights and the temperature stay as they are. Use it when the calibration's form changes
(as when action items gained the utterance's position in the call).

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
    examples,
    fit_calibration,
)

from assistant.errors import AssistantError  # noqa: E402
from assistant.extract.classifier import Classifier  # noqa: E402
from assistant.extract.dataset import read_ami_meetings, read_calls  # noqa: E402


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
    files = sorted(DATA.glob("*.jsonl"))
    calls = [c for c in read_calls(f for f in files if f.stem not in holdout) if c.split == "val"]
    calls += [c for c in read_ami_meetings(ami, for_training=True) if c.split == "val"]
    pairs, gold, _, _, owners = examples(calls, None, 0.0)
    print(f"validation: {len(calls)} calls and meetings, {len(pairs)} utterances")
    probs = classifier.predict(pairs).label_probs
    written = np.array([c.source != "ami" for c in owners])
    fitted = fit_calibration(probs, np.array(gold), written, call_positions(calls))

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
