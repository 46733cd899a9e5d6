"""Word error rate on clean and degraded speech: the product's transcriber vs plain faster-whisper.

Both run the same Whisper weights in one process. "product" is
``get_transcriber("faster-whisper", ...)`` with ``TranscribeOptions`` (its own VAD, blocks of at
most 24 s, a language per block, hallucination guards); "plain" is faster-whisper's own
``WhisperModel.transcribe(audio, language=..., vad_filter=True, beam_size=...)`` with the beam
the product uses for that language (greedy for English, 5 otherwise, or --beam-size).

Audio sets, from the FLEURS clips in tests/data (read speech, five per language), every clip
brought to -25 dBFS first (a call's level, not the corpus's) and then degraded:

  clips    each clip on its own
  joined   the five clips of the language joined with 0.5 s pauses, in four orders (as
           numbered, reversed, from the third clip on, and that reversed): about 45 s of
           English or 65 s of German each, so several of the product's blocks

Conditions (scripts/degrade.py): clean, mulaw8k (telephone), opus16k (Zoom/Teams),
mp3_32k, noise20db (pink noise at 20 dB SNR).

Columns: lang, set, condition; words = reference words; WER product, WER plain (normalised:
lower case, punctuation removed, numbers as written; jiwer over all the set's words); diff =
product - plain in WER points (positive: the product is worse), "words diff" the same in words
(a German clip set has 114 words: one word is 0.9 points); lang ok = inputs whose detected
language (the product's main language / plain's) was right; RTF = transcription seconds / audio
seconds, each engine (wall clock, so it rises when other work shares the machine). The last line
names the worst diff.
--language given passes the true language to both instead of detecting it.

Examples:
  python scripts/bench_degraded.py --quick
  python scripts/bench_degraded.py --out bench_degraded.json --cache-dir /tmp/cache
  python scripts/bench_degraded.py --language given --conditions clean,opus16k

Prints a table and writes JSON (--out, default bench_degraded.json).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from tables import aligned, machine  # noqa: E402

DATA = ROOT / "tests" / "data"
LANGS = ("en", "de")
SETS = ("clips", "joined")
GAP_S = 0.5
LEVEL_DBFS = -25.0


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def word_error_rate(refs: list[str], hyps: list[str]) -> float:
    """Errors over all reference words (substitutions, deletions, insertions)."""
    pairs = [(normalize(r), normalize(h)) for r, h in zip(refs, hyps, strict=True)]
    try:
        import jiwer
    except ImportError:
        errors = sum(_edit_distance(r.split(), h.split()) for r, h in pairs)
        return errors / max(1, sum(len(r.split()) for r, _ in pairs))
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


def _edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def level(clip: np.ndarray, dbfs: float = LEVEL_DBFS) -> np.ndarray:
    rms = float(np.sqrt(np.mean(np.square(clip, dtype=np.float64))))
    return (clip * (10 ** (dbfs / 20) / rms)).astype(np.float32) if rms > 0 else clip


def inputs(lang: str, name: str) -> list[tuple[str, np.ndarray, str]]:
    """(input name, clean audio, reference text) of one language's set."""
    from assistant.media import SAMPLE_RATE, load_audio

    clips = []
    for i in range(5):
        stem = f"fleurs-{lang}-{i:03d}"
        audio = level(load_audio(DATA / f"{stem}.ogg").mono)
        clips.append((stem, audio, (DATA / f"{stem}.txt").read_text(encoding="utf-8").strip()))
    if name == "clips":
        return clips
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), dtype=np.float32)
    out = []
    rotated = clips[2:] + clips[:2]
    orders = {"in-order": clips, "reversed": clips[::-1], "rotated": rotated}
    orders["rotated-reversed"] = rotated[::-1]
    for order, picked in orders.items():
        audio = np.concatenate([part for _, a, _ in picked for part in (a, gap)][:-1])
        out.append((f"{lang}-joined-{order}", audio, " ".join(t for _, _, t in picked)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    from degrade import CONDITIONS, degrade

    parser.add_argument("--model", default="base", help="Whisper model [default: base]")
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--beam-size", type=int, default=0, help="0: the product's default")
    parser.add_argument("--langs", default=",".join(LANGS), help="comma-separated: en,de")
    parser.add_argument("--sets", default=",".join(SETS), help=f"from: {', '.join(SETS)}")
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument(
        "--language", choices=("detect", "given"), default="detect", help="detect or give it"
    )
    parser.add_argument("--quick", action="store_true", help="clean and opus16k, joined only")
    parser.add_argument("--out", type=Path, default=Path("bench_degraded.json"))
    parser.add_argument("--cache-dir", type=Path, help="model cache [default: a temp folder]")
    args = parser.parse_args()
    conditions = [c for c in args.conditions.split(",") if c]
    sets = [s for s in args.sets.split(",") if s]
    langs = [x for x in args.langs.split(",") if x]
    if args.quick:
        conditions, sets = ["clean", "opus16k"], ["joined"]
    for values, valid, what in ((conditions, CONDITIONS, "condition"), (sets, SETS, "set")):
        unknown = sorted(set(values) - set(valid))
        if unknown:
            parser.error(f"unknown {what}(s) {', '.join(unknown)}; expected: {', '.join(valid)}")

    from assistant.media import SAMPLE_RATE
    from assistant.transcribe import TranscribeOptions, get_transcriber

    tmp = tempfile.TemporaryDirectory() if args.cache_dir is None else None
    cache = args.cache_dir or Path(tmp.name if tmp else ".") / "cache"
    tr = get_transcriber("faster-whisper", args.model, args.compute_type, args.threads, cache)
    plain_model = tr.backend._model  # type: ignore[attr-defined]  # the same loaded weights
    warm_up = inputs("en", "clips")[0][1]  # one-time costs stay out of the timings
    tr.transcribe(warm_up, TranscribeOptions(model=args.model))
    list(plain_model.transcribe(warm_up, vad_filter=True)[0])

    rows = []
    for lang in langs:
        given = lang if args.language == "given" else None
        options = TranscribeOptions(
            model=args.model,
            language=given,
            compute_type=args.compute_type,
            beam_size=args.beam_size,
            cpu_threads=args.threads,
        )
        beam = options.beam_for(lang)
        for name in sets:
            clean = inputs(lang, name)
            for condition in conditions:
                refs, product, plain = [], [], []
                product_s = plain_s = audio_s = 0.0
                product_ok = plain_ok = 0
                for _, audio, ref in clean:
                    audio = degrade(audio, condition, seed=len(refs))
                    audio_s += len(audio) / SAMPLE_RATE
                    refs.append(ref)
                    t0 = time.perf_counter()
                    t = tr.transcribe(audio, options)
                    product_s += time.perf_counter() - t0
                    product.append(" ".join(s.text for s in t.segments))
                    product_ok += t.language == lang
                    t0 = time.perf_counter()
                    segments, info = plain_model.transcribe(
                        audio, language=given, vad_filter=True, beam_size=beam
                    )
                    plain.append(" ".join(s.text for s in segments))
                    plain_s += time.perf_counter() - t0
                    plain_ok += info.language == lang
                row = {
                    "lang": lang,
                    "set": name,
                    "condition": condition,
                    "inputs": len(refs),
                    "words": sum(len(normalize(r).split()) for r in refs),
                    "audio_s": round(audio_s, 1),
                    "wer_product": round(word_error_rate(refs, product), 4),
                    "wer_plain": round(word_error_rate(refs, plain), 4),
                    "language_ok_product": product_ok,
                    "language_ok_plain": plain_ok,
                    "seconds_product": round(product_s, 2),
                    "seconds_plain": round(plain_s, 2),
                    "hypotheses_product": product,
                    "hypotheses_plain": plain,
                }
                row["diff_points"] = round((row["wer_product"] - row["wer_plain"]) * 100, 2)
                # The same difference in words: on a set of 114 words one word is 0.9 points.
                row["diff_words"] = round((row["wer_product"] - row["wer_plain"]) * row["words"])
                rows.append(row)
                print(
                    f"{lang} {name} {condition}: product {row['wer_product']:.1%} "
                    f"plain {row['wer_plain']:.1%}",
                    file=sys.stderr,
                    flush=True,
                )
    beams = args.beam_size or "greedy for en, 5 otherwise"
    print(f"model {args.model} {args.compute_type}, language {args.language}, beam {beams}")
    print(table(rows))
    worst = max(rows, key=lambda r: r["diff_points"]) if rows else None
    if worst:
        print(
            f"worst diff: {worst['diff_points']:+.1f} WER points, {worst['diff_words']:+d} words "
            f"({worst['lang']} {worst['set']} {worst['condition']})"
        )
    for lang in langs:
        mine = [r for r in rows if r["lang"] == lang]
        words, diff = sum(r["words"] for r in mine), sum(r["diff_words"] for r in mine)
        if words:
            print(
                f"{lang}, all sets: the product made {diff:+d} word errors against plain in "
                f"{words} words ({100 * diff / words:+.2f} points)"
            )
    report = {
        "machine": machine(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "rows": rows,
        "worst_diff_points": worst["diff_points"] if worst else None,
    }
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    if tmp:
        tmp.cleanup()


def table(rows: list[dict]) -> str:
    head = (
        "lang",
        "set",
        "condition",
        "words",
        "WER product",
        "WER plain",
        "diff",
        "words diff",
        "lang ok (product plain)",
        "RTF product",
        "RTF plain",
    )
    lines = [head]
    for r in rows:
        lines.append(
            (
                r["lang"],
                r["set"],
                r["condition"],
                str(r["words"]),
                f"{r['wer_product'] * 100:.1f}%",
                f"{r['wer_plain'] * 100:.1f}%",
                f"{r['diff_points']:+.1f}",
                f"{r['diff_words']:+d}",
                f"{r['language_ok_product']}/{r['inputs']} {r['language_ok_plain']}/{r['inputs']}",
                f"{r['seconds_product'] / r['audio_s']:.3f}",
                f"{r['seconds_plain'] / r['audio_s']:.3f}",
            )
        )
    return aligned(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "scripts"))
    main()
