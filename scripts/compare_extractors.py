"""Compare two extraction models row by row, with how sure each difference is.

Takes two ``scripts/eval_extractor.py --json`` files of two models scored on the same data and
prints, for every row both hold, each model's score, the difference (second minus first) and
its 95 % interval from a paired bootstrap over whole calls (AMI: meetings; negotiations: one
negotiation each): both models are scored on the same resampled calls, so what the calls have in
common cancels out. An interval that holds 0 says this set cannot tell the two models apart; a
row of a few calls moves by 0.02 on two utterances. Writes the table as JSON too (``--json``).

``--bar`` also prints whether the second model clears the model card's bar for shipping a new
extractor against the first (the shipped one), condition by condition (the card's first
condition, the fast tests, is not judged here):

  no row's interval lies entirely below 0;
  the mean difference over the rows nobody here wrote (every row but the own split's) is above 0;
  the headline (each model's worst row) falls by no more than HEADLINE_DROP.

    python scripts/eval_extractor.py --json /tmp/shipped.json
    python scripts/eval_extractor.py --model-dir /tmp/candidate --json /tmp/candidate.json
    python scripts/compare_extractors.py /tmp/shipped.json /tmp/candidate.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.extract.scoring import paired_bootstrap, score  # noqa: E402

# Each row's decisions, as eval_extractor.py --json writes them: the labels its score averages,
# then one entry per utterance.
FIELDS = ("labels", "call", "gold", "chosen")
# Rows of calls written by this project's authors; every other row is data nobody here wrote.
OWN = "own split"
HEADLINE_DROP = 0.02


class CompareError(Exception):
    pass


def read(path: Path) -> dict[str, Any]:
    try:
        results = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CompareError(f"{path}: no such file") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompareError(f"{path}: not a JSON file ({exc})") from None
    if not isinstance(results, dict) or not isinstance(results.get("predictions"), dict):
        raise CompareError(
            f"{path}: no predictions in it; write it with scripts/eval_extractor.py --json"
        )
    for name, row in results["predictions"].items():
        fields = [row.get(key) if isinstance(row, dict) else None for key in FIELDS]
        if not all(isinstance(f, list) for f in fields) or len({len(f) for f in fields[1:]}) > 1:
            raise CompareError(f"{path}: row {name!r} lacks {', '.join(FIELDS)} of equal length")
    return results


def mean_f1(row: dict[str, Any]) -> float:
    """The row's score from its decisions (the JSON's rounded value could round again)."""
    ones = [1.0] * len(row["gold"])
    return score(row["gold"], row["chosen"], ones, row["labels"]).macro_f1


def compare(first: dict[str, Any], second: dict[str, Any], draws: int) -> list[dict[str, Any]]:
    """One entry per row both files hold, in the first file's order."""
    rows = []
    for name, a in first["predictions"].items():
        b = second["predictions"].get(name)
        if b is None:
            continue
        if a["gold"] != b["gold"] or a["call"] != b["call"]:
            raise CompareError(f"row {name!r}: the two files were scored on different data")
        diff, low, high = paired_bootstrap(
            a["gold"], a["chosen"], b["chosen"], a["call"], a["labels"], draws=draws
        )
        rows.append(
            {
                "row": name,
                "n": len(a["gold"]),
                "calls": len(set(a["call"])),
                "first": round(mean_f1(a), 6),
                "second": round(mean_f1(b), 6),
                "difference": round(diff, 4),
                "low": round(low, 4),
                "high": round(high, 4),
            }
        )
    if not rows:
        raise CompareError("the two files share no row")
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'set':<40}{'n':>7}{'calls':>7}{'first':>8}{'second':>8}{'diff':>8}   95 % interval",
    ]
    for r in rows:
        lines.append(
            f"{r['row']:<40}{r['n']:>7}{r['calls']:>7}{r['first']:>8.3f}{r['second']:>8.3f}"
            f"{r['difference']:>+8.3f}   [{r['low']:+.3f}, {r['high']:+.3f}]"
        )
    return "\n".join(lines)


def verdict(rows: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """The bar's conditions as (what was measured, whether it holds), in the docstring's order."""
    below = [r["row"] for r in rows if r["high"] < 0]
    unwritten = [r["difference"] for r in rows if not r["row"].startswith(OWN)]
    mean = sum(unwritten) / len(unwritten) if unwritten else 0.0
    first = min(rows, key=lambda r: r["first"])
    second = min(rows, key=lambda r: r["second"])
    drop = first["first"] - second["second"]
    return [
        (
            "no row's interval entirely below 0"
            + (f": below in {', '.join(below)}" if below else ""),
            not below,
        ),
        (
            f"mean difference over the {len(unwritten)} rows nobody here wrote: {mean:+.4f} (> 0)",
            mean > 0,
        ),
        (
            f"headline {first['first']:.3f} ({first['row']}) -> {second['second']:.3f} "
            f"({second['row']}): falls by {drop:+.4f} (at most {HEADLINE_DROP})",
            drop <= HEADLINE_DROP,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("first", type=Path, help="eval_extractor.py --json of the first model")
    p.add_argument("second", type=Path, help="the same for the second model")
    p.add_argument("--draws", type=int, default=2000, help="bootstrap draws [%(default)s]")
    p.add_argument("--json", type=Path, help="also write the table here")
    p.add_argument("--bar", action="store_true", help="judge the second by the bar to ship")
    args = p.parse_args(argv)
    if args.draws < 100:
        p.error("--draws must be at least 100")
    try:
        rows = compare(read(args.first), read(args.second), args.draws)
    except CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"first: {args.first}   second: {args.second}   (diff: second - first)\n")
    print(table(rows))
    if args.bar:
        conditions = verdict(rows)
        print("\nthe bar to ship the second in place of the first (fast tests not judged here):")
        for text, holds in conditions:
            print(f"  {'holds ' if holds else 'FAILS '} {text}")
        print("  the second clears the bar" if all(h for _, h in conditions) else "  not cleared")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
