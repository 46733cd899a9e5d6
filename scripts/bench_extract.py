"""Benchmark extraction, summary and trackers on a one-hour call.

The call is built from the labelled calls in models/extractor/data/ (test split first), joined
one after another until it has --utterances utterances (about 900 in an hour of talk), with
realistic timestamps, one call per language (--languages), each classified by the model the
product gives a call in that language (German: models/extractor/de); or it is read from
--transcript (a .jsonl/.vtt/.srt file, in the first of --languages). Times model loading once,
then each stage --repeat times, and prints the table (median seconds, languages side by side)
and writes the numbers as JSON. The goal: extraction of a one-hour call under 20 s on 2 CPU
cores, in every language.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.report import Item, Segment  # noqa: E402

T = TypeVar("T")

DATA = ROOT / "models" / "extractor" / "data"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--utterances", type=int, default=900, help="[%(default)s]")
    p.add_argument("--transcript", type=Path, help="benchmark this transcript instead")
    p.add_argument(
        "--languages",
        nargs="+",
        default=["en", "de"],
        help="one call per language, each through the model its language gets [%(default)s]",
    )
    p.add_argument("--repeat", type=int, default=3, help="[%(default)s]")
    p.add_argument("--threads", type=int, default=0, help="torch threads [0: torch's default]")
    p.add_argument("--no-roles", action="store_true", help="drop roles (diarization without roles)")
    p.add_argument("--model-dir", type=Path, help="[default: models/extractor]")
    p.add_argument("--json", type=Path, default=Path("bench_extract.json"), help="[%(default)s]")
    args = p.parse_args(argv)
    if args.utterances < 1 or args.repeat < 1:
        p.error("--utterances and --repeat must be at least 1")
    return args


def one_hour_call(n: int, roles: bool, lang: str) -> list[Segment]:
    from assistant.extract.dataset import read_calls

    calls = [c for c in read_calls(sorted(DATA.glob("calls_*.jsonl"))) if c.lang == lang]
    if not calls:
        raise SystemExit(f"error: no labelled calls in {lang!r} in {DATA}")
    calls.sort(key=lambda c: (c.split != "test", c.call_id))
    segments: list[Segment] = []
    clock = 0.0
    while len(segments) < n:
        for call in calls:
            for row in call.rows:
                if len(segments) == n:
                    return segments
                # About 2.6 words a second, as people talk on calls.
                length = max(1.0, len(row.text.split()) / 2.6)
                segments.append(
                    Segment(
                        id=len(segments),
                        start_s=round(clock, 2),
                        end_s=round(clock + length, 2),
                        text=row.text,
                        # Two voices, as diarization labels a recorded two-party call.
                        speaker="SPEAKER_1" if row.role == "rep" else "SPEAKER_2",
                        role=row.role if roles else None,
                    )
                )
                clock += length + 0.4
    return segments


EXTRACT = "extract (classify + details + merge)"
# Only where the heuristic decided the roles: a first reading with the roles withheld.
NEED_TALK = "need talk for the role heuristic"
SUMMARY = "summarize (key moments + text)"
TRACKERS = "trackers"
TOTAL = "need talk + extract + summarize + trackers"


def bench_call(
    segments: list[Segment], lang: str, args: argparse.Namespace, encoder: Any
) -> dict[str, Any]:
    """Load the model ``lang`` gets, then time each stage ``--repeat`` times (medians)."""
    from assistant.extract import ExtractOptions, extract_items, need_talk
    from assistant.extract.classifier import get_classifier
    from assistant.summarize import summarize
    from assistant.trackers import DEFAULT_TRACKERS, match_trackers

    start = time.perf_counter()
    classifier = get_classifier(args.model_dir, lang)
    load = time.perf_counter() - start
    options = ExtractOptions(model_dir=args.model_dir)
    call_date = date(2026, 3, 6)
    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}

    def measure(name: str, fn: Callable[[], T]) -> T:
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.setdefault(name, []).append(time.perf_counter() - start)
        cpus.setdefault(name, []).append(time.process_time() - start_cpu)
        return result

    items: list[Item] = []
    for _ in range(args.repeat):
        # Each round is a new call: nothing embedded before, then the pipeline's order.
        encoder._memory.clear()
        measure(NEED_TALK, lambda: need_talk(segments, classifier))
        items = measure(
            EXTRACT, lambda: extract_items(segments, call_date, classifier, options, encoder)
        )
        found = items
        measure(SUMMARY, lambda: summarize(segments, found, encoder))  # noqa: B023
        measure(TRACKERS, lambda: match_trackers(segments, DEFAULT_TRACKERS))
    wall = {name: statistics.median(values) for name, values in walls.items()}
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    wall[TOTAL], cpu[TOTAL] = sum(wall.values()), sum(cpu.values())
    return {
        "model": str(classifier.model_dir),
        "base": classifier.config.get("base", "minilm"),
        "int8": bool(classifier.config.get("int8")),
        "utterances": len(segments),
        "minutes": round((segments[-1].end_s - segments[0].start_s) / 60, 1),
        "items": len(items),
        "load_model_s": round(load, 3),
        "seconds": {name: round(v, 3) for name, v in wall.items()},
        "cpu_seconds": {name: round(v, 3) for name, v in cpu.items()},
        "goal_extract_under_20_s": wall[NEED_TALK] + wall[EXTRACT] < 20,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from assistant.embeddings import SentenceEncoder
    from assistant.errors import AssistantError

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.transcript:
        from assistant.transcripts import read_transcript

        calls = {args.languages[0]: read_transcript(args.transcript)}
    else:
        calls = {
            lang: one_hour_call(args.utterances, not args.no_roles, lang) for lang in args.languages
        }
    start = time.perf_counter()
    encoder = SentenceEncoder()
    load_encoder = time.perf_counter() - start
    try:
        results = {
            lang: bench_call(segments, lang, args, encoder) for lang, segments in calls.items()
        }
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    print(
        f"torch threads {torch.get_num_threads()}, "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
        f"sentence encoder loaded in {load_encoder:.2f} s"
    )
    for lang, r in results.items():
        kind = f"{r['base']}{' int8' if r['int8'] else ''}"
        print(
            f"{lang}: {r['utterances']} utterances, {r['minutes']:.0f} min of talk, "
            f"{r['items']} items; model {r['model']} ({kind}), loaded in {r['load_model_s']:.2f} s"
        )
    header = "".join(f"{lang + ' wall s':>12}{lang + ' CPU s':>12}" for lang in results)
    print(f"{'stage':<40}{header}")
    for name in (NEED_TALK, EXTRACT, SUMMARY, TRACKERS, TOTAL):
        cells = "".join(
            f"{r['seconds'][name]:>12.2f}{r['cpu_seconds'][name]:>12.2f}" for r in results.values()
        )
        print(f"{name:<40}{cells}")
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.1f} on {os.cpu_count()} CPUs")
    for lang, r in results.items():
        goal = "met" if r["goal_extract_under_20_s"] else "MISSED"
        print(f"goal ({lang}): need talk + extraction of a one-hour call under 20 s: {goal}")
    result = {
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "repeat": args.repeat,
        "load_sentence_encoder_s": round(load_encoder, 3),
        "load_average": round(load, 2),
        "languages": results,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
