"""Evaluate the text heuristic that decides who is the rep (``diarize.roles.heuristic_roles``).

Each conversation is given to the heuristic with its roles withheld; it counts as right when the
speaker it calls the rep is the rep. Three kinds of conversation:

  negotiations  real buyer-seller price negotiations typed by people (CraigslistBargain, from
                the project's shared development data; the seller is the rep). Development
                evaluation only: nothing is fitted on them.
  sales calls   the project's written sales calls, models/extractor/data/calls_*.jsonl, grouped
                by call_id: as written (the rep opens every one) and cut to start at the
                customer's first turn ("customer first"), so opening the call cannot carry it.
  AMI meetings  real four-person design meetings with no seller at all: there the heuristic must
                not assert a rep. Counted: how often the chosen rep's confidence reaches the
                threshold below which a report says "roles uncertain"
                (assistant.report.ROLE_CONFIDENCE_THRESHOLD), on whole meetings and on
                sales-call-sized pieces of 40 utterances.

Columns: n (conversations), rep right (share where the chosen rep is the rep), uncertain (share
below the threshold), right if sure (rep right among the others; for AMI, asserted: the share
where a rep is named at or above the threshold) and meeting rule (share where the rule for
meetings fired: more than two speakers and the chosen rep says fewer seller phrases per
utterance than assistant.diarize.roles.MIN_SELLER_RATE, so no rep is asserted). A second table bins
the negotiations by confidence: what the confidence said against how often it was right.

  --fit   refit the heuristic's weights by logistic regression (numpy, L2) on the named call
          files (default calls_en_a.jsonl and calls_de.jsonl, each call as written and cut to
          start with the customer) and print them, to be copied into assistant/roles.py. Only
          the project's own calls are ever fitted on.

Run, for example:

    python scripts/eval_roles.py --json roles-eval.json
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.diarize.roles import (  # noqa: E402
    FEATURES,
    MIN_SELLER_RATE,
    heuristic_roles,
    role_features,
    seller_rate,
)
from assistant.report import ROLE_CONFIDENCE_THRESHOLD, Segment  # noqa: E402

CALLS = ROOT / "models" / "extractor" / "data"
SHARED = ROOT.parent / "shared" / "data"
NEGOTIATIONS = SHARED / "negotiations" / "craigslist_resistance_dev.jsonl"
AMI = SHARED / "meetings" / "ami_dialogue_acts_train.jsonl.gz"
FIT_FILES = ("calls_en_a.jsonl", "calls_de.jsonl")
AMI_PIECE = 40  # utterances: about as long as a written sales call
BINS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


@dataclass(frozen=True)
class Conversation:
    """Segments with speakers and, where known, who is the rep."""

    segments: list[Segment]
    speakers: list[str]
    rep: str | None


def _conversation(rows: Sequence[dict], rep: str | None) -> Conversation:
    segments = [
        Segment(id=i, start_s=5.0 * i, end_s=5.0 * i + 4, text=r["text"], speaker=r["speaker"])
        for i, r in enumerate(rows)
    ]
    speakers = list(dict.fromkeys(str(r["speaker"]) for r in rows))
    return Conversation(segments, speakers, rep)


def _grouped(rows: Iterable[dict], key: str) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(str(row[key]), []).append(row)
    return groups


def _jsonl(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def load_calls(path: Path, customer_first: bool = False) -> list[Conversation]:
    """The written calls of one file; ``customer_first`` cuts each to the customer's first turn."""
    out = []
    for rows in _grouped(_jsonl(path), "call_id").values():
        rows.sort(key=lambda r: r["turn"])
        if customer_first:
            rows = rows[next(i for i, r in enumerate(rows) if r["role"] == "customer") :]
        reps = {r["speaker"] for r in rows if r["role"] == "rep"}
        if len(reps) == 1 and len({r["speaker"] for r in rows}) > 1:
            out.append(_conversation(rows, reps.pop()))
    return out


def load_negotiations(path: Path) -> list[Conversation]:
    """Buyer-seller dialogues, the seller as the rep; the file's roles are not passed on."""
    out = []
    for rows in _grouped(_jsonl(path), "call").values():
        reps = {r["speaker"] for r in rows if r["role"] == "rep"}
        if len(reps) == 1 and len({r["speaker"] for r in rows}) == 2:
            out.append(_conversation(rows, reps.pop()))
    return out


def load_ami(path: Path, piece: int | None = None) -> list[Conversation]:
    """Whole AMI meetings, or consecutive pieces of ``piece`` utterances with 2+ speakers."""
    out: list[Conversation] = []
    for rows in _grouped(_jsonl(path), "meeting_id").values():
        rows = sorted((r for r in rows if r["start"] is not None), key=lambda r: r["start"])
        parts = (
            [rows] if piece is None else [rows[i : i + piece] for i in range(0, len(rows), piece)]
        )
        out.extend(_conversation(p, None) for p in parts if len({r["speaker"] for r in p}) > 1)
    return out


def score(conversations: Sequence[Conversation]) -> dict[str, object]:
    """Rep accuracy, how often the heuristic says it is unsure, and accuracy when it is sure."""
    right = sure = sure_right = asserted = meeting = 0
    confidences: list[tuple[float, bool]] = []
    for conv in conversations:
        found = heuristic_roles(conv.segments, conv.speakers)
        rep = next(s for s in conv.speakers if found[s][0] == "rep")
        confidence = found[rep][1]
        ok = rep == conv.rep
        many = len(conv.speakers) > 2
        meeting += many and seller_rate(conv.segments, rep) < MIN_SELLER_RATE
        right += ok
        confident = confidence >= ROLE_CONFIDENCE_THRESHOLD
        asserted += confident
        sure += confident
        sure_right += confident and ok
        confidences.append((confidence, ok))
    n = max(1, len(conversations))
    return {
        "n": len(conversations),
        "rep_right": round(right / n, 4),
        "uncertain": round(1 - sure / n, 4),
        "right_if_sure": round(sure_right / max(1, sure), 4),
        "asserted": round(asserted / n, 4),
        "meeting_rule": round(meeting / n, 4),
        "bins": _bins(confidences),
    }


def _bins(confidences: Sequence[tuple[float, bool]]) -> list[dict[str, object]]:
    out = []
    for low, high in itertools.pairwise(BINS):
        inside = [(c, ok) for c, ok in confidences if low <= c < high]
        if inside:
            out.append(
                {
                    "confidence": f"{low:.1f}-{min(high, 1.0):.1f}",
                    "n": len(inside),
                    "mean_confidence": round(sum(c for c, _ in inside) / len(inside), 3),
                    "rep_right": round(sum(ok for _, ok in inside) / len(inside), 3),
                }
            )
    return out


def evaluate(folder: Path, negotiations: Path, ami: Path) -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    if negotiations.exists():
        results["negotiations (roles withheld)"] = score(load_negotiations(negotiations))
    for file in sorted(folder.glob("calls_*.jsonl")):
        fitted = " [fit]" if file.name in FIT_FILES else ""
        results[f"{file.stem}, rep first{fitted}"] = score(load_calls(file))
        results[f"{file.stem}, customer first{fitted}"] = score(load_calls(file, True))
    if ami.exists():
        results["AMI meetings (no rep), whole"] = score(load_ami(ami))
        results[f"AMI meetings (no rep), {AMI_PIECE} utt."] = score(load_ami(ami, AMI_PIECE))
    return results


def print_table(results: dict[str, dict[str, object]]) -> None:
    print(f"uncertain: the rep's confidence below {ROLE_CONFIDENCE_THRESHOLD}")
    print(
        f"{'conversations':40} {'n':>5} {'rep right':>9} {'uncertain':>9} {'right if sure':>13} "
        f"{'meeting rule':>12}"
    )
    for name, r in results.items():
        right, sure = f"{r['rep_right']:.1%}", f"{r['right_if_sure']:.1%}"
        if name.startswith("AMI"):
            right, sure = "-", f"asserted {r['asserted']:.1%}"
        print(
            f"{name:40} {r['n']:>5} {right:>9} {r['uncertain']:>9.1%} {sure:>13} "
            f"{r['meeting_rule']:>12.1%}"
        )
    negotiation = next((r for n, r in results.items() if n.startswith("negotiations")), None)
    if negotiation:
        print("\nnegotiations by confidence")
        print(f"{'confidence':>10} {'n':>5} {'mean conf.':>10} {'rep right':>9}")
        bins: list[dict[str, object]] = negotiation["bins"]  # type: ignore[assignment]
        for b in bins:
            mean, share = b["mean_confidence"], b["rep_right"]
            print(f"{b['confidence']:>10} {b['n']:>5} {mean:>10.3f} {share:>9.1%}")


def fit(files: Sequence[Path], l2: float = 0.003) -> list[float]:
    """Logistic regression (no intercept: features are relative) of "is the rep" on FEATURES."""
    rows, labels = [], []
    for file in files:
        for conv in load_calls(file) + load_calls(file, customer_first=True):
            for speaker, x in role_features(conv.segments, conv.speakers).items():
                rows.append(x)
                labels.append(1.0 if speaker == conv.rep else 0.0)
    x_all, y = np.array(rows), np.array(labels)
    weights = np.zeros(x_all.shape[1])
    for _ in range(100):  # Newton's method
        p = 1 / (1 + np.exp(-x_all @ weights))
        gradient = x_all.T @ (p - y) + l2 * len(y) * weights
        hessian = (x_all.T * (p * (1 - p))) @ x_all + l2 * len(y) * np.eye(len(weights))
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if math.sqrt(float(step @ step)) < 1e-9:
            break
    return [round(float(w), 2) for w in weights]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=Path, default=CALLS, help="folder of calls_*.jsonl")
    parser.add_argument("--negotiations", type=Path, default=NEGOTIATIONS, help="dialogues")
    parser.add_argument("--ami", type=Path, default=AMI, help="AMI dialogue acts (.jsonl.gz)")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    parser.add_argument(
        "--fit",
        nargs="*",
        metavar="FILE",
        default=None,
        help=f"refit the weights on these call files (default: {' '.join(FIT_FILES)})",
    )
    args = parser.parse_args(argv)
    if args.fit is not None:
        names = args.fit or list(FIT_FILES)
        weights = fit([args.calls / n for n in names])
        for name, weight in zip(FEATURES, weights, strict=True):
            print(f"{name:28} {weight:+.2f}")
        print(f"_WEIGHTS = {tuple(weights)}")
        return 0
    results = evaluate(args.calls, args.negotiations, args.ami)
    print_table(results)
    if args.json:
        payload = {"threshold": ROLE_CONFIDENCE_THRESHOLD, "fit_on": list(FIT_FILES), **results}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
