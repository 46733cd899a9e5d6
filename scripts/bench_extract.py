"""Benchmark extraction, summary and trackers on a one-hour call.

The call is built from the labelled calls in models/extractor/data/ (test split first), joined
one after another until it has --utterances utterances (about 900 in an hour of talk), with
realistic timestamps; or it is read from --transcript (a .jsonl/.vtt/.srt file). Times model
loading once, then each stage --repeat times, and prints the table (median seconds) and writes
the numbers as JSON. The goal: extraction of a one-hour call under 20 s on 2 CPU cores.
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
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.report import Item, Segment  # noqa: E402

T = TypeVar("T")

DATA = ROOT / "models" / "extractor" / "data"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--utterances", type=int, default=900, help="[%(default)s]")
    p.add_argument("--transcript", type=Path, help="benchmark this transcript instead")
    p.add_argument("--repeat", type=int, default=3, help="[%(default)s]")
    p.add_argument("--threads", type=int, default=0, help="torch threads [0: torch's default]")
    p.add_argument("--no-roles", action="store_true", help="drop roles (diarization without roles)")
    p.add_argument("--model-dir", type=Path, help="[default: models/extractor]")
    p.add_argument("--json", type=Path, default=Path("bench_extract.json"), help="[%(default)s]")
    return p.parse_args(argv)


def one_hour_call(n: int, roles: bool) -> list[Segment]:
    from assistant.extract.dataset import read_calls

    calls = [c for c in read_calls(sorted(DATA.glob("calls_*.jsonl"))) if c.source != "ami"]
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
                        speaker=row.speaker,
                        role=row.role if roles else None,
                    )
                )
                clock += length + 0.4
    return segments


CPU: dict[str, float] = {}  # stage -> median CPU seconds of this process (all threads)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    from assistant.embeddings import SentenceEncoder
    from assistant.extract import ExtractOptions, extract_items
    from assistant.extract.classifier import Classifier, default_model_dir
    from assistant.summarize import summarize
    from assistant.trackers import DEFAULT_TRACKERS, match_trackers

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.transcript:
        from assistant.transcripts import read_transcript

        segments = read_transcript(args.transcript)
    else:
        segments = one_hour_call(args.utterances, not args.no_roles)
    duration_min = (segments[-1].end_s - segments[0].start_s) / 60

    start = time.perf_counter()
    classifier = Classifier(args.model_dir or default_model_dir())
    load_classifier = time.perf_counter() - start
    start = time.perf_counter()
    encoder = SentenceEncoder()
    load_encoder = time.perf_counter() - start

    options = ExtractOptions(model_dir=args.model_dir)
    call_date = date(2026, 3, 6)

    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    items: list[Item] = []

    def measure(name: str, fn: Callable[[], T]) -> T:
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.setdefault(name, []).append(time.perf_counter() - start)
        cpus.setdefault(name, []).append(time.process_time() - start_cpu)
        return result

    for _ in range(args.repeat):
        # Each round is a new call: nothing embedded before, then the pipeline's order.
        encoder._memory.clear()
        items = measure(
            "extract (classify + details + merge)",
            lambda: extract_items(segments, call_date, classifier, options, encoder),
        )
        found = items
        measure("summarize (key moments + text)", lambda: summarize(segments, found, encoder))  # noqa: B023
        measure("trackers", lambda: match_trackers(segments, DEFAULT_TRACKERS))
    extract_s, summary_s, trackers_s = (
        statistics.median(walls[name])
        for name in (
            "extract (classify + details + merge)",
            "summarize (key moments + text)",
            "trackers",
        )
    )
    CPU.update({name: statistics.median(values) for name, values in cpus.items()})
    CPU["extract + summarize + trackers"] = sum(CPU.values())

    rows = [
        ("load extraction model", load_classifier),
        ("load sentence encoder", load_encoder),
        ("extract (classify + details + merge)", extract_s),
        ("summarize (key moments + text)", summary_s),
        ("trackers", trackers_s),
        ("extract + summarize + trackers", extract_s + summary_s + trackers_s),
    ]
    print(
        f"{len(segments)} utterances, {duration_min:.0f} min of talk, "
        f"{len(items)} items, torch threads {torch.get_num_threads()}, "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()})"
    )
    print(f"{'stage':<40}{'wall s':>10}{'CPU s':>10}")
    for name, seconds in rows:
        cpu = f"{CPU[name]:>10.2f}" if name in CPU else f"{'':>10}"
        print(f"{name:<40}{seconds:>10.2f}{cpu}")
    load = os.getloadavg()[0]
    print(f"load average during the run: {load:.1f} on {os.cpu_count()} CPUs")
    goal = "met" if extract_s < 20 else "MISSED"
    print(f"goal: extraction of a one-hour call under 20 s: {goal}")
    result = {
        "utterances": len(segments),
        "minutes": round(duration_min, 1),
        "items": len(items),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "repeat": args.repeat,
        "seconds": {name: round(s, 3) for name, s in rows},
        "cpu_seconds": {name: round(s, 3) for name, s in CPU.items()},
        "load_average": round(os.getloadavg()[0], 2),
        "goal_extract_under_20_s": extract_s < 20,
    }
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
