"""Evaluate the text heuristic that decides who is the rep (``diarize.roles.heuristic_roles``).

Each conversation is given to the heuristic with its roles withheld, as the product gives it:
with each speaker's need talk, the extractor's mean customer-need probability of their
utterances read with the roles withheld (``assistant.extract.need_talk``, the model the
conversation's language gets); --words-only leaves it out (the words' cues alone, in a minute).
Three kinds of conversation:

  negotiations  real buyer-seller price negotiations typed by people (CraigslistBargain, from
                the project's shared development data; the seller is the rep). Development
                evaluation only: nothing is fitted on them.
  sales calls   the project's written sales calls, models/extractor/data/calls_*.jsonl and
                held_out/calls_*.jsonl, grouped by call_id: as written (the rep opens most) and
                cut to start at the customer's first turn ("customer first"), so opening the
                call cannot carry it. calls_en_g, calls_de_g and held_out/ are multi-party calls
                with two or three people on the vendor's side in most.
  AMI meetings  real four-person design meetings with no seller at all: there the heuristic must
                not assert a rep. Counted: how often the chosen rep's confidence reaches the
                threshold below which a report says "roles uncertain"
                (assistant.report.ROLE_CONFIDENCE_THRESHOLD), on whole meetings and on
                sales-call-sized pieces of 40 utterances (with need talk every 4th piece: the
                extractor reads 23,000 utterances instead of 93,000).

Columns: n (conversations), reps (people on the vendor's side per conversation), rep right
(everyone the heuristic calls a rep is on the vendor's side), all right (the heuristic's reps are
exactly the vendor's side), speakers (share of all speakers whose role is right), uncertain
(share below the threshold), right if sure (rep right among the others, - when every one is
uncertain; for AMI, asserted: the share where a rep is named at or above the threshold) and
meeting rule (share where the rule for meetings fired: more than two speakers and nobody on
the chosen side says assistant.diarize.roles.MIN_SELLER_RATE seller phrases per utterance, so
no rep is asserted). A second table bins the negotiations by confidence: what the confidence
said against how often it was right.

  --fit        refit the heuristic's weights by logistic regression (numpy, L2) on the named
               call files (default calls_en_a.jsonl and calls_de.jsonl, each call as written
               and cut to start with the customer) and print them, to be copied into
               assistant/diarize/roles.py. Only the project's own calls are ever fitted on.
  --side-grid  choose the settings of the rule for several people on the vendor's side
               (assistant.diarize.roles.SideRule) on calls_en_g and calls_de_g and the
               single-rep calls, never on held_out/, and print the best (about 2 minutes).
  --link-grid  the same for the settings of people introduced as one side (split_link,
               joint_link), the others at their defaults.

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.diarize.roles import (  # noqa: E402
    FEATURES,
    MIN_SELLER_RATE,
    SideRule,
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
# The multi-party calls the vendor-side rule is chosen on (--side-grid); held_out/ never is.
SIDE_FILES = ("calls_en_g.jsonl", "calls_de_g.jsonl")
SIDE_GRID = {
    "penalty": (0.04, 0.06, 0.08),
    "text_weight": (0.01, 0.02, 0.04),
    "min_score": (0.0, 0.25, 0.5),
}
# The settings for people introduced as one side (--link-grid), the others as SideRule's defaults.
LINK_GRID = {"split_link": (0.0, 0.1, 0.5, 1.0), "joint_link": (0.0, 0.06, 0.1, 0.3)}
AMI_PIECE = 40  # utterances: about as long as a written sales call
BINS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.01)


@dataclass(frozen=True)
class Conversation:
    """Segments with speakers and, where known, who is on the vendor's side (empty: no rep)."""

    segments: list[Segment]
    speakers: list[str]
    reps: frozenset[str]
    language: str = "en"


def _conversation(
    rows: Sequence[dict], reps: Iterable[str] = (), language: str = "en"
) -> Conversation:
    segments = [
        Segment(id=i, start_s=5.0 * i, end_s=5.0 * i + 4, text=r["text"], speaker=r["speaker"])
        for i, r in enumerate(rows)
    ]
    speakers = list(dict.fromkeys(str(r["speaker"]) for r in rows))
    return Conversation(segments, speakers, frozenset(reps), language)


# Who states needs, as the product's extractor reads it; None: the words' cues alone.
NeedTalk = Callable[[Conversation], dict[str, float]] | None


def need_talk_reader(model_dir: Path | None = None) -> Callable[[Conversation], dict[str, float]]:
    from assistant.extract import need_talk
    from assistant.extract.classifier import get_classifier

    def read(conv: Conversation) -> dict[str, float]:
        return need_talk(conv.segments, get_classifier(model_dir, conv.language))

    return read


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
        if reps and len({r["speaker"] for r in rows}) > 1:
            out.append(_conversation(rows, reps, "de" if "_de" in path.stem else "en"))
    return out


def load_negotiations(path: Path) -> list[Conversation]:
    """Buyer-seller dialogues, the seller as the rep; the file's roles are not passed on."""
    out = []
    for rows in _grouped(_jsonl(path), "call").values():
        reps = {r["speaker"] for r in rows if r["role"] == "rep"}
        if len(reps) == 1 and len({r["speaker"] for r in rows}) == 2:
            out.append(_conversation(rows, reps))
    return out


def load_ami(path: Path, piece: int | None = None) -> list[Conversation]:
    """Whole AMI meetings, or consecutive pieces of ``piece`` utterances with 2+ speakers."""
    out: list[Conversation] = []
    for rows in _grouped(_jsonl(path), "meeting_id").values():
        rows = sorted((r for r in rows if r["start"] is not None), key=lambda r: r["start"])
        parts = (
            [rows] if piece is None else [rows[i : i + piece] for i in range(0, len(rows), piece)]
        )
        out.extend(_conversation(p) for p in parts if len({r["speaker"] for r in p}) > 1)
    return out


def _named_reps(found: Mapping[str, tuple[str, float]]) -> set[str]:
    """The speakers ``heuristic_roles`` calls a rep."""
    return {s for s, (role, _) in found.items() if role == "rep"}


def score(conversations: Sequence[Conversation], talk: NeedTalk = None) -> dict[str, object]:
    """Rep accuracy, how often the heuristic says it is unsure, and accuracy when it is sure."""
    right = exact = sure = sure_right = asserted = meeting = 0
    speakers = speakers_right = 0
    confidences: list[tuple[float, bool]] = []
    for conv in conversations:
        needs = talk(conv) if talk is not None else None
        found = heuristic_roles(conv.segments, conv.speakers, need_talk=needs)
        named = _named_reps(found)
        confidence = min(found[s][1] for s in named)
        ok = named <= conv.reps
        many = len(conv.speakers) > 2
        meeting += many and max(seller_rate(conv.segments, s) for s in named) < MIN_SELLER_RATE
        right += ok
        exact += named == conv.reps
        speakers += len(conv.speakers)
        speakers_right += sum((s in named) == (s in conv.reps) for s in conv.speakers)
        confident = confidence >= ROLE_CONFIDENCE_THRESHOLD
        asserted += confident
        sure += confident
        sure_right += confident and ok
        confidences.append((confidence, ok))
    n = max(1, len(conversations))
    return {
        "n": len(conversations),
        "reps": sum(len(c.reps) for c in conversations) / n,
        "rep_right": round(right / n, 4),
        "all_right": round(exact / n, 4),
        "speakers_right": round(speakers_right / max(1, speakers), 4),
        "uncertain": round(1 - sure / n, 4),
        # None when no conversation was sure: nothing to be right or wrong about.
        "right_if_sure": round(sure_right / sure, 4) if sure else None,
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


def evaluate(
    folder: Path, negotiations: Path, ami: Path, talk: NeedTalk = None
) -> dict[str, dict[str, object]]:
    results: dict[str, dict[str, object]] = {}
    if negotiations.exists():
        results["negotiations (roles withheld)"] = score(load_negotiations(negotiations), talk)
    files = sorted(folder.glob("calls_*.jsonl")) + sorted(folder.glob("held_out/calls_*.jsonl"))
    for file in files:
        fitted = " [fit]" if file.name in FIT_FILES else ""
        fitted += " [held out]" if file.parent.name == "held_out" else ""
        results[f"{file.stem}, rep first{fitted}"] = score(load_calls(file), talk)
        results[f"{file.stem}, customer first{fitted}"] = score(load_calls(file, True), talk)
    if ami.exists():
        results["AMI meetings (no rep), whole"] = score(load_ami(ami), talk)
        pieces = load_ami(ami, AMI_PIECE)
        name = f"AMI meetings (no rep), {AMI_PIECE} utt."
        if talk is not None:
            pieces, name = pieces[::4], name + ", every 4th"
        results[name] = score(pieces, talk)
    return results


def print_table(results: dict[str, dict[str, object]]) -> None:
    print(f"uncertain: the rep's confidence below {ROLE_CONFIDENCE_THRESHOLD}")
    print(
        f"{'conversations':50} {'n':>5} {'reps':>4} {'rep right':>9} {'all right':>9} "
        f"{'speakers':>8} {'uncertain':>9} {'right if sure':>13} {'meeting rule':>12}"
    )
    for name, r in results.items():
        right, exact = f"{r['rep_right']:.1%}", f"{r['all_right']:.1%}"
        each = f"{r['speakers_right']:.1%}"
        sure = "-" if r["right_if_sure"] is None else f"{r['right_if_sure']:.1%}"
        if name.startswith("AMI"):
            right, exact, each, sure = "-", "-", "-", f"asserted {r['asserted']:.1%}"
        print(
            f"{name:50} {r['n']:>5} {r['reps']:>4.2f} {right:>9} {exact:>9} {each:>8} "
            f"{r['uncertain']:>9.1%} {sure:>13} {r['meeting_rule']:>12.1%}"
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
                labels.append(1.0 if speaker in conv.reps else 0.0)
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


def side_grid(
    folder: Path, top: int = 8, grid: Mapping[str, Sequence[float]] = SIDE_GRID
) -> list[tuple[float, SideRule]]:
    """Choose the vendor-side rule's settings (``SideRule``): every combination of ``grid``,
    valued at the mean share of calls whose vendor side comes out exactly right over the
    SIDE_FILES, plus that mean over the other (single-rep) files of ``folder``, each call as
    written and customer first. Calls of two speakers do not depend on the settings."""
    files = {
        file.name: load_calls(file) + load_calls(file, customer_first=True)
        for file in sorted(folder.glob("calls_*.jsonl"))
    }

    def exact(conv: Conversation, rule: SideRule) -> bool:
        return _named_reps(heuristic_roles(conv.segments, conv.speakers, rule)) == conv.reps

    fixed = {
        name: sum(exact(conv, SideRule()) for conv in convs if len(conv.speakers) < 3)
        for name, convs in files.items()
    }
    results = []
    for values in itertools.product(*grid.values()):
        rule = SideRule(**dict(zip(grid, values, strict=True)))
        share = {
            name: (fixed[name] + sum(exact(c, rule) for c in convs if len(c.speakers) > 2))
            / len(convs)
            for name, convs in files.items()
        }
        multi = [v for n, v in share.items() if n in SIDE_FILES]
        single = [v for n, v in share.items() if n not in SIDE_FILES]
        results.append((round(sum(multi) / len(multi) + sum(single) / len(single), 4), rule))
    results.sort(key=lambda r: -r[0])
    return results[:top]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=Path, default=CALLS, help="folder of calls_*.jsonl")
    parser.add_argument("--negotiations", type=Path, default=NEGOTIATIONS, help="dialogues")
    parser.add_argument("--ami", type=Path, default=AMI, help="AMI dialogue acts (.jsonl.gz)")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    parser.add_argument(
        "--words-only", action="store_true", help="leave the extractor's need talk out"
    )
    parser.add_argument("--model-dir", type=Path, default=None, help="the extractor's models")
    parser.add_argument(
        "--fit",
        nargs="*",
        metavar="FILE",
        default=None,
        help=f"refit the weights on these call files (default: {' '.join(FIT_FILES)})",
    )
    parser.add_argument(
        "--side-grid",
        action="store_true",
        help=f"choose the vendor-side rule's settings on {' '.join(SIDE_FILES)} and print the best",
    )
    parser.add_argument(
        "--link-grid",
        action="store_true",
        help="as --side-grid, for the settings of people introduced as one side (LINK_GRID)",
    )
    args = parser.parse_args(argv)
    if args.side_grid or args.link_grid:
        grid = LINK_GRID if args.link_grid else SIDE_GRID
        for value, rule in side_grid(args.calls, grid=grid):
            print(f"{value:.4f}  {rule}")
        return 0
    if args.fit is not None:
        names = args.fit or list(FIT_FILES)
        weights = fit([args.calls / n for n in names])
        for name, weight in zip(FEATURES, weights, strict=True):
            print(f"{name:28} {weight:+.2f}")
        print(f"_WEIGHTS = {tuple(weights)}")
        return 0
    talk = None if args.words_only else need_talk_reader(args.model_dir)
    results = evaluate(args.calls, args.negotiations, args.ami, talk)
    print("need talk: " + ("left out (--words-only)" if talk is None else "the extractor's"))
    print_table(results)
    if args.json:
        payload = {
            "threshold": ROLE_CONFIDENCE_THRESHOLD,
            "fit_on": list(FIT_FILES),
            "need_talk": talk is not None,
            **results,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
