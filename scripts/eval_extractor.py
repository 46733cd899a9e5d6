"""Evaluate the extraction model on labelled calls.

By default: the held-out test calls of models/extractor/data/ (the split the training script
never trains or calibrates on), English and German reported apart, the real AMI meeting
excerpts apart. Prints per-class precision, recall and F1, macro-F1, and calibration (expected
calibration error and a reliability table: are predictions made at 0.9 right 9 times in 10?).
Then the rules on the gold action items: owner (as role or name) and due phrase.

Any transcript JSONL with gold labels works too (``--data call.jsonl --split all``): lines with
``text`` and ``label`` (action_item, customer_need, objection, none), optionally ``speaker``,
``role``, ``lang``, ``owner``, ``due_text``; each file is one call unless lines carry ``call_id``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.errors import AssistantError  # noqa: E402
from assistant.extract.dataset import LABELS, SPLITS, Call, read_calls  # noqa: E402
from assistant.extract.details import Party, find_due, resolve_owner  # noqa: E402
from assistant.extract.features import Turn, model_inputs  # noqa: E402
from assistant.extract.metrics import format_report, score  # noqa: E402

DATA = ROOT / "models" / "extractor" / "data"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, nargs="*", help="labelled JSONL [default: data/*.jsonl]")
    p.add_argument("--split", choices=(*SPLITS, "all"), help="[default: test; all with --data]")
    p.add_argument("--model-dir", type=Path, help="[default: models/extractor]")
    p.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        help="count predictions below this confidence as none (the pipeline drops them)",
    )
    p.add_argument("--no-roles", action="store_true", help="hide speaker roles from the model")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    return p.parse_args(argv)


def _group_name(call: Call) -> str:
    return "ami (real meetings)" if call.source == "ami" else call.lang


def owner_and_due(calls: list[Call]) -> dict[str, object]:
    """How often the rules name the gold owner and find the gold due phrase (gold items only)."""
    from datetime import date

    owners = owner_right = dues = due_right = 0
    for call in calls:
        rows = call.rows
        for i, row in enumerate(rows):
            if row.label != "action_item" or call.source == "ami":
                continue
            if row.owner:
                other = next(
                    (
                        rows[j]
                        for d in range(1, 6)
                        for j in (i - d, i + d)
                        if 0 <= j < len(rows) and rows[j].role and rows[j].role != row.role
                    ),
                    None,
                )
                predicted = resolve_owner(
                    row.text,
                    Party(row.speaker, row.role),
                    Party(other.speaker, other.role) if other else None,
                    {r.speaker for r in rows if r.speaker},
                )
                # The gold owner is a role or a name; a speaker's name and role are one party.
                roles = {r.speaker.lower(): r.role for r in rows if r.speaker and r.role}

                def party(who: str | None, roles: dict[str, str | None] = roles) -> str:
                    who = (who or "").lower()
                    return roles.get(who) or who

                owners += 1
                owner_right += party(predicted) == party(row.owner)
            found = find_due(row.text, date(2026, 3, 2))
            dues += 1
            if row.due_text is None:
                due_right += found is None
            elif found is not None:
                a, b = found.text.lower(), row.due_text.lower()
                due_right += a in b or b in a
    return {
        "owner_accuracy": round(owner_right / owners, 4) if owners else None,
        "owner_n": owners,
        "due_phrase_accuracy": round(due_right / dues, 4) if dues else None,
        "due_n": dues,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    split = args.split or ("all" if args.data else "test")
    try:
        from assistant.extract.classifier import Classifier, default_model_dir

        calls = read_calls(args.data or sorted(DATA.glob("*.jsonl")))
        if split != "all":
            calls = [c for c in calls if c.split == split]
        if not calls:
            print(f"no labelled calls in split {split!r}", file=sys.stderr)
            return 2
        classifier = Classifier(args.model_dir or default_model_dir())
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    gold: dict[str, list[str]] = {}
    predicted: dict[str, list[str]] = {}
    confidence: dict[str, list[float]] = {}
    for call in calls:
        turns = [Turn(r.text, r.speaker, None if args.no_roles else r.role) for r in call.rows]
        preds = classifier.predict(model_inputs(turns))
        name = _group_name(call)
        for i, row in enumerate(call.rows):
            if row.context_only:
                continue
            probs = preds.label_probs[i]
            best = int(probs.argmax())
            label = preds.labels[best]
            if probs[best] < args.min_confidence:
                label = "none"
            for group in ("all", name):
                gold.setdefault(group, []).append(row.label)
                predicted.setdefault(group, []).append(label)
                confidence.setdefault(group, []).append(float(probs[best]))

    print(f"model: {classifier.model_dir}   split: {split}   calls: {len(calls)}")
    results: dict[str, object] = {"split": split, "calls": len(calls), "groups": {}}
    for group in sorted(gold, key=lambda g: (g != "all", g)):
        present = [label for label in LABELS if label in gold[group]]
        report = score(gold[group], predicted[group], confidence[group], LABELS, present)
        print()
        print(format_report(f"[{group}]  macro-F1 over {', '.join(present)}", report))
        results["groups"][group] = report.as_dict()  # type: ignore[index]
    rules = owner_and_due(calls)
    print()
    print(
        f"rules on gold action items: owner {rules['owner_accuracy']} (n={rules['owner_n']}), "
        f"due phrase {rules['due_phrase_accuracy']} (n={rules['due_n']})"
    )
    results["rules"] = rules
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
