"""Benchmark the transcription engines: real-time factor, word error rate and peak memory.

Every configuration (engine x model) runs in its own child process, so the peak resident memory
reported is that configuration's alone. Audio sets, all built from the real clips in tests/data:

  clips-en   jfk.flac, four LibriSpeech and five FLEURS English clips, one by one (WER vs refs)
  clips-de   five FLEURS German clips, one by one (multilingual models only)
  long       the English clips at one level, joined with 1 s gaps, repeated to --long-minutes
             (default 10)
  hour       the same to 60 minutes (peak memory of an hour-long call; skipped with --quick)

RTF = transcription seconds / audio seconds (model loading excluded, reported apart; a short
warm-up runs first so one-time compilation is not counted). CPU s/s = CPU seconds the process
used (all its threads) per audio second: on a machine that other work shares, wall-clock RTF
rises with the load while CPU s/s stays close to the cost of the work itself; CPU s/s divided by
the threads estimates the RTF on otherwise idle cores. The load average is recorded in the JSON.
WER uses openai-whisper's EnglishTextNormalizer for English and its BasicTextNormalizer for
German, scored with jiwer.

Examples:
  python scripts/bench_transcribe.py --quick
  python scripts/bench_transcribe.py --engines faster-whisper,openai-whisper --models base
  python scripts/bench_transcribe.py --json bench.json --threads 2

Prints a table and writes JSON (--json, default bench_transcribe.json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from tables import aligned, machine  # noqa: E402

DATA = ROOT / "tests" / "data"
JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
SETS = ("clips-en", "clips-de", "long", "hour")


def references() -> dict[str, tuple[str, str]]:
    """clip name -> (language, reference text)."""
    refs = {"jfk.flac": ("en", JFK)}
    for line in (DATA / "librispeech_references.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            refs[row["audio"]] = ("en", row["text"])
    for lang in ("en", "de"):
        for i in range(5):
            name = f"fleurs-{lang}-{i:03d}"
            refs[f"{name}.ogg"] = (lang, (DATA / f"{name}.txt").read_text().strip())
    return refs


def word_error_rate(refs: list[str], hyps: list[str], language: str) -> float:
    import jiwer
    from whisper.normalizers import BasicTextNormalizer, EnglishTextNormalizer

    norm = EnglishTextNormalizer() if language == "en" else BasicTextNormalizer()
    pairs = [(norm(r), norm(h)) for r, h in zip(refs, hyps, strict=True)]
    pairs = [(r, h) for r, h in pairs if r.strip()]
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def level(clip: np.ndarray, dbfs: float = -25.0) -> np.ndarray:
    """``clip`` scaled to ``dbfs`` RMS. The clips come from corpora recorded 40 dB apart (the
    FLEURS ones at about -60 dBFS); one call recording has its parties at similar levels."""
    rms = float(np.sqrt(np.mean(np.square(clip, dtype=np.float64))))
    return (clip * (10 ** (dbfs / 20) / rms)).astype(np.float32) if rms > 0 else clip


def joined(clips: list[np.ndarray], texts: list[str], minutes: float) -> tuple[np.ndarray, str]:
    """The clips (at one level) with 1 s gaps, repeated until ``minutes`` long, and the matching
    reference. A faint noise floor (-70 dBFS, like a quiet line) makes every repetition differ
    in its samples, so no engine can reuse work done on an earlier, identical stretch."""
    from assistant.media import SAMPLE_RATE

    clips = [level(c) for c in clips]
    gap = np.zeros(SAMPLE_RATE, dtype=np.float32)
    target = int(minutes * 60 * SAMPLE_RATE)
    parts: list[np.ndarray] = []
    words: list[str] = []
    n = 0
    while n < target:
        for c, text in zip(clips, texts, strict=True):
            parts += [c, gap]
            words.append(text)
            n += len(c) + len(gap)
    audio = np.concatenate(parts)
    audio += np.random.default_rng(0).normal(0.0, 10 ** (-70 / 20), len(audio)).astype(np.float32)
    return audio, " ".join(words)


def child(spec: dict) -> dict:
    """Run one configuration (in its own process) and return its measurements."""
    from assistant.media import SAMPLE_RATE, load_audio
    from assistant.transcribe import TranscribeOptions, get_transcriber

    engine, model = spec["engine"], spec["model"]
    t0 = time.perf_counter()
    tr = get_transcriber(engine, model, spec["compute_type"], spec["threads"], Path(spec["cache"]))
    load_s = time.perf_counter() - t0
    options = TranscribeOptions(
        model=model, compute_type=spec["compute_type"], beam_size=spec["beam_size"]
    )
    refs = references()
    audio = {name: load_audio(DATA / name).mono for name in refs}
    tr.transcribe(audio["jfk.flac"], options)  # warm-up (openai-whisper compiles its DTW)
    english_only = model.endswith(".en")
    rows = []

    def measure(name: str, clips: list[str], long_minutes: float | None) -> None:
        language = refs[clips[0]][0]
        texts, hyps, seconds, audio_s = [refs[c][1] for c in clips], [], 0.0, 0.0
        cpu0 = time.process_time()
        if long_minutes is None:
            for c in clips:
                start = time.perf_counter()
                t = tr.transcribe(audio[c], options)
                seconds += time.perf_counter() - start
                audio_s += len(audio[c]) / SAMPLE_RATE
                hyps.append(" ".join(s.text for s in t.segments))
        else:
            samples, text = joined([audio[c] for c in clips], texts, long_minutes)
            texts = [text]
            start = time.perf_counter()
            t = tr.transcribe(samples, options)
            seconds = time.perf_counter() - start
            audio_s = len(samples) / SAMPLE_RATE
            hyps = [" ".join(s.text for s in t.segments)]
            del samples
        cpu_s = time.process_time() - cpu0
        rows.append(
            {
                "set": name,
                "audio_s": round(audio_s, 1),
                "seconds": round(seconds, 2),
                "rtf": round(seconds / audio_s, 4),
                "cpu_s": round(cpu_s, 2),
                "cpu_per_audio_s": round(cpu_s / audio_s, 4),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "wer": round(word_error_rate(texts, hyps, language), 4),
                "peak_rss_mb": round(peak_rss_mb(), 1),
            }
        )

    english = [c for c, (lang, _) in refs.items() if lang == "en"]
    german = [c for c, (lang, _) in refs.items() if lang == "de"]
    for name in spec["sets"]:
        if name == "clips-en":
            measure(name, english, None)
        elif name == "clips-de" and not english_only:
            measure(name, german, None)
        elif name == "long":
            measure(name, english, spec["long_minutes"])
        elif name == "hour":
            measure(name, english, 60.0)
    return {
        "engine": engine,
        "model": model,
        "compute_type": tr.backend.compute_type,  # type: ignore[attr-defined]
        "threads": spec["threads"],
        "beam_size": spec["beam_size"],
        "load_s": round(load_s, 2),
        "rows": rows,
    }


def run_child(spec: dict) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps(spec)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{spec['engine']} {spec['model']} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    head = ("engine", "model", "compute", "set", "audio s", "time s", "RTF", "CPU s/s", "WER")
    head = (*head, "peak MB", "load")
    lines = [head]
    for r in results:
        for row in r["rows"]:
            lines.append(
                (
                    r["engine"],
                    r["model"],
                    r["compute_type"],
                    row["set"],
                    f"{row['audio_s']:.0f}",
                    f"{row['seconds']:.1f}",
                    f"{row['rtf']:.3f}",
                    f"{row.get('cpu_per_audio_s', float('nan')):.3f}",
                    f"{row['wer'] * 100:.1f}%",
                    f"{row['peak_rss_mb']:.0f}",
                    f"{row.get('load_average_1m', float('nan')):.1f}",
                )
            )
    return aligned(lines)


def comparisons(results: list[dict]) -> list[dict]:
    """faster-whisper vs openai-whisper on the same model and audio: speed ratio, WER gap."""
    by_key = {(r["engine"], r["model"], row["set"]): row for r in results for row in r["rows"]}
    out = []
    for (engine, model, name), fast in by_key.items():
        ref = by_key.get(("openai-whisper", model, name))
        if engine != "faster-whisper" or ref is None:
            continue
        out.append(
            {
                "model": model,
                "set": name,
                "speedup": round(ref["seconds"] / fast["seconds"], 2),
                "cpu_speedup": round(ref["cpu_s"] / fast["cpu_s"], 2),
                "wer_faster": fast["wer"],
                "wer_openai": ref["wer"],
                "wer_gap_points": round((fast["wer"] - ref["wer"]) * 100, 2),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engines", default="faster-whisper", help="comma-separated engines")
    parser.add_argument("--models", default="base,tiny.en", help="comma-separated models")
    parser.add_argument("--compute-type", default="int8", help="faster-whisper compute type")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per engine")
    parser.add_argument(
        "--beam-size",
        type=int,
        default=0,
        help="beam size for both engines [default: 0, the product's default: greedy for "
        "English, 5 for other languages]",
    )
    parser.add_argument("--long-minutes", type=float, default=10.0, help="length of 'long'")
    parser.add_argument("--sets", default=",".join(SETS), help=f"from: {', '.join(SETS)}")
    parser.add_argument(
        "--hour-engines", default="faster-whisper", help="engines that run the 'hour' set"
    )
    parser.add_argument(
        "--quick", action="store_true", help="short run: 2-minute long set, no hour"
    )
    parser.add_argument("--json", type=Path, default=Path("bench_transcribe.json"))
    parser.add_argument("--cache-dir", type=Path, help="model cache [default: a temp folder]")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    sets = [s for s in args.sets.split(",") if s]
    unknown = sorted(set(sets) - set(SETS))
    if unknown:
        parser.error(f"unknown set(s) {', '.join(unknown)}; expected: {', '.join(SETS)}")
    if not 0 <= args.beam_size <= 10:
        parser.error(f"--beam-size must be 0 to 10, not {args.beam_size}")
    if args.quick:
        sets = [s for s in sets if s != "hour"]
        args.long_minutes = min(args.long_minutes, 2.0)
    from assistant.transcribe import ENGINES

    engines = [e for e in args.engines.split(",") if e]
    for e in engines:
        if e not in ENGINES:
            parser.error(f"unknown engine {e!r}; expected one of: {', '.join(ENGINES)}")
    tmp = tempfile.TemporaryDirectory() if args.cache_dir is None else None
    cache = str(args.cache_dir or Path(tmp.name if tmp else ".") / "cache")
    results = []
    for model in [m for m in args.models.split(",") if m]:
        for engine in engines:
            spec = {
                "engine": engine,
                "model": model,
                "compute_type": args.compute_type,
                "threads": args.threads,
                "beam_size": args.beam_size,
                "cache": cache,
                "sets": [s for s in sets if s != "hour" or engine in args.hour_engines],
                "long_minutes": args.long_minutes,
            }
            print(f"running {engine} {model} ...", file=sys.stderr, flush=True)
            results.append(run_child(spec))
    print(table(results))
    compared = comparisons(results)
    for c in compared:
        print(
            f"{c['model']} {c['set']}: faster-whisper is {c['speedup']:.1f}x faster than "
            f"openai-whisper (wall clock; {c['cpu_speedup']:.1f}x in CPU time); "
            f"WER {c['wer_faster'] * 100:.1f}% vs {c['wer_openai'] * 100:.1f}% "
            f"({c['wer_gap_points']:+.1f} points)"
        )
    report = {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items() if k != "child"},
        "results": results,
        "comparisons": compared,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.json}", file=sys.stderr)
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
