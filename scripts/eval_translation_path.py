"""For German calls: does the extractor do better on the German transcript or on Whisper's
English translation of the same audio?

Method. The labelled German calls (models/extractor/data/calls_de*.jsonl, the held-out test split
by default, chosen exactly as scripts/eval_extractor.py chooses it) are text only, so every
utterance is spoken by a speech synthesizer (espeak-ng, German voices; rep and customer get
different voices) into a WAV file, loaded with assistant.media.load_audio and transcribed once by
faster-whisper `base` (int8, language de, translate on). That one pass gives both the German
transcript and Whisper's English translation of the same audio. Each call is then classified
three ways by the same classifier, with the same speakers, roles and neighbouring utterances as
context:

  gold-de   the labelled German text itself (no speech recognition: the upper bound)
  asr-de    the German transcript of the synthetic audio
  asr-en    Whisper's English translation of the same audio

The table gives n, per-class F1 and macro-F1 (over the classes present in the gold labels) per
path, and the German word error rate of asr-de against the gold text (jiwer, after whisper's
BasicTextNormalizer), so the reader sees how well the synthetic audio is recognised. The
difference asr-en minus asr-de in macro-F1 comes with a 95% interval from a paired bootstrap over
calls (both paths are scored on the same resampled calls).

Limits. Synthetic speech is cleaner and far more monotone than a real call: no noise, no
cross-talk, no accents, no hesitations spoken the way people speak them, and espeak-ng's German
is robotic enough that Whisper mishears some of it. Both paths hear exactly the same audio, so
the comparison between them is fair, but the absolute numbers are not real-call numbers. Each
utterance is synthesized and transcribed on its own (no segmentation or diarization errors), and
word timestamps are off (they do not change the text).

The recognition outputs are kept in a JSONL cache (--asr-cache), one line per utterance keyed by
a hash of its text, the voice and the transcription settings; a re-run (say, with a newly trained
classifier, --model-dir) reuses them and does not transcribe again. Lines are appended as they
are made, so an interrupted run resumes where it stopped.

espeak-ng is not a project dependency: install it with `apt-get install espeak-ng`.

Examples:
  python scripts/eval_translation_path.py --limit-calls 2
  python scripts/eval_translation_path.py --asr-cache /tmp/translation_asr_cache.jsonl
  python scripts/eval_translation_path.py --asr-cache asr.jsonl --model-dir /tmp/new-extractor

Prints a table and writes JSON (--json, default eval_translation_path.json).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_transcribe import word_error_rate  # noqa: E402  (a script beside this one)

from assistant.errors import AssistantError  # noqa: E402
from assistant.extract.dataset import LABELS, SPLITS, Call, read_calls  # noqa: E402
from assistant.extract.scoring import Report, present, score  # noqa: E402

if TYPE_CHECKING:
    from assistant.extract.classifier import Classifier
    from assistant.transcribe import TranscribeOptions, Transcriber

DATA = ROOT / "models" / "extractor" / "data"
PATHS = ("gold-de", "asr-de", "asr-en")
ENGINE, MODEL, COMPUTE_TYPE = "faster-whisper", "base", "int8"
# Silence around each synthesized utterance, so voice activity detection sees its edges.
PAD_S = 0.5


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data", type=Path, nargs="*", help="labelled German JSONL [default: data/calls_de*.jsonl]"
    )
    p.add_argument("--split", choices=(*SPLITS, "all"), default="test", help="[default: test]")
    p.add_argument("--limit-calls", type=int, help="only the first N calls (quick runs)")
    p.add_argument(
        "--threads", type=int, default=1, help="CPU threads for Whisper and the classifier [1]"
    )
    p.add_argument(
        "--asr-cache", type=Path, help="JSONL of recognition outputs to reuse and extend"
    )
    p.add_argument("--model-dir", type=Path, help="classifier artifact [default: models/extractor]")
    p.add_argument("--rep-voice", default="de+m3", help="espeak-ng voice of the rep [de+m3]")
    p.add_argument(
        "--customer-voice", default="de+m1", help="espeak-ng voice of the customer [de+m1]"
    )
    p.add_argument("--cache-dir", type=Path, help="Whisper model cache [default: a temp folder]")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples [2000]")
    p.add_argument("--json", type=Path, default=Path("eval_translation_path.json"))
    args = p.parse_args(argv)
    if args.limit_calls is not None and args.limit_calls < 1:
        p.error("--limit-calls must be at least 1")
    if args.threads < 1:
        p.error("--threads must be at least 1")
    return args


def asr_options() -> TranscribeOptions:
    from assistant.transcribe import TranscribeOptions

    return TranscribeOptions(model=MODEL, language="de", translate=True, word_timestamps=False)


def settings_tag(options: TranscribeOptions) -> str:
    """What the recognition output depends on besides text and voice (threads excluded)."""
    settings = {k: v for k, v in options.as_dict().items() if k != "cpu_threads"}
    settings["engine"] = ENGINE
    settings["pad_s"] = PAD_S
    blob = json.dumps(settings, sort_keys=True)
    return hashlib.sha1(blob.encode("utf-8")).hexdigest()[:12]


def cache_key(text: str, voice: str, tag: str) -> str:
    return f"{hashlib.sha1(text.encode('utf-8')).hexdigest()}|{voice}|{tag}"


def read_cache(path: Path | None) -> dict[str, dict[str, Any]]:
    if path is None or not path.is_file():
        return {}
    cache: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted run
        if isinstance(entry, dict) and "key" in entry:
            cache[entry["key"]] = entry
    return cache


def voice_for(role: str | None, args: argparse.Namespace) -> str:
    return str(args.customer_voice if role == "customer" else args.rep_voice)


def synthesize(text: str, voice: str, wav: Path) -> None:
    run = subprocess.run(
        ["espeak-ng", "-v", voice, "-w", str(wav), "--stdin"],
        input=text,
        text=True,
        capture_output=True,
        check=False,
    )
    if run.returncode != 0 or not wav.is_file():
        raise RuntimeError(f"espeak-ng failed for voice {voice}: {run.stderr.strip()}")


def recognise(
    transcriber: Transcriber, options: TranscribeOptions, text: str, voice: str, tmp: Path
) -> dict[str, Any]:
    """Speak ``text`` with ``voice``, transcribe it; German text, English translation, timing."""
    import numpy as np

    from assistant.errors import MediaError
    from assistant.media import SAMPLE_RATE, MediaOptions, load_audio

    wav = tmp / "utterance.wav"
    synthesize(text, voice, wav)
    try:
        samples = load_audio(wav, MediaOptions(min_duration_s=0.0)).mono
    except MediaError:
        samples = np.zeros(0, np.float32)
    pad = np.zeros(int(PAD_S * SAMPLE_RATE), np.float32)
    audio = np.concatenate([pad, samples, pad])
    start = time.perf_counter()
    transcript = transcriber.transcribe(audio, options)
    seconds = time.perf_counter() - start
    segments = transcript.segments
    return {
        "de": " ".join(s.text.strip() for s in segments if s.text.strip()),
        "en": " ".join(s.translation.strip() for s in segments if s.translation),
        "audio_s": round(len(samples) / SAMPLE_RATE, 2),
        "asr_s": round(seconds, 2),
        "dropped": transcript.dropped,
    }


def transcribe_calls(
    calls: list[Call], args: argparse.Namespace
) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Recognition output for every utterance of ``calls``: cache key -> entry."""
    options = asr_options()
    tag = settings_tag(options)
    cache = read_cache(args.asr_cache)
    wanted = {
        cache_key(row.text, voice_for(row.role, args), tag): (row.text, voice_for(row.role, args))
        for call in calls
        for row in call.rows
    }
    todo = [(key, tv) for key, tv in wanted.items() if key not in cache]
    stats = {"utterances": float(len(wanted)), "from_cache": float(len(wanted) - len(todo))}
    print(
        f"{len(wanted)} utterances, {len(wanted) - len(todo)} from the cache, "
        f"{len(todo)} to synthesize and transcribe",
        file=sys.stderr,
        flush=True,
    )
    if todo:
        from assistant.transcribe import get_transcriber

        tmp_dir = tempfile.TemporaryDirectory()
        tmp = Path(tmp_dir.name)
        model_cache = args.cache_dir or tmp / "cache"
        transcriber = get_transcriber(ENGINE, MODEL, COMPUTE_TYPE, args.threads, model_cache)
        out = args.asr_cache.open("a", encoding="utf-8") if args.asr_cache else None
        start = time.perf_counter()
        try:
            for n, (key, (text, voice)) in enumerate(todo, 1):
                entry = recognise(transcriber, options, text, voice, tmp)
                entry = {"key": key, "voice": voice, "settings": tag, "text": text, **entry}
                cache[key] = entry
                if out is not None:
                    out.write(json.dumps(entry, ensure_ascii=False) + "\n")
                    out.flush()
                if n % 20 == 0 or n == len(todo):
                    spent = time.perf_counter() - start
                    left = spent / n * (len(todo) - n)
                    print(
                        f"  {n}/{len(todo)} transcribed, {spent / 60:.1f} min, "
                        f"~{left / 60:.1f} min left",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            if out is not None:
                out.close()
            tmp_dir.cleanup()
    entries = {key: cache[key] for key in wanted}
    stats["audio_s"] = round(sum(float(e["audio_s"]) for e in entries.values()), 1)
    stats["asr_s"] = round(sum(float(e["asr_s"]) for e in entries.values()), 1)
    return entries, stats


def classify(
    classifier: Classifier, calls: list[Call], texts: dict[str, list[list[str]]]
) -> dict[str, list[list[tuple[str, float]]]]:
    """Per path, per call, per scored row: (predicted label, its probability)."""
    from assistant.extract.features import Utterance

    out: dict[str, list[list[tuple[str, float]]]] = {}
    for path, per_call in texts.items():
        out[path] = []
        for call, call_texts in zip(calls, per_call, strict=True):
            turns = [
                Utterance(text, row.speaker, row.role)
                for text, row in zip(call_texts, call.rows, strict=True)
            ]
            preds = classifier.predict(classifier.inputs(turns))
            labels = []
            for i, row in enumerate(call.rows):
                if row.context_only:
                    continue
                probs = preds.label_probs[i]
                best = int(probs.argmax())
                labels.append((preds.labels[best], float(probs[best])))
            out[path].append(labels)
    return out


def path_report(calls: list[Call], predicted: list[list[tuple[str, float]]]) -> Report:
    gold = [row.label for call in calls for row in call.scored]
    flat = [p for per_call in predicted for p in per_call]
    return score(gold, [p for p, _ in flat], [c for _, c in flat], LABELS, present(gold, LABELS))


def bootstrap_difference(
    calls: list[Call],
    a: list[list[tuple[str, float]]],
    b: list[list[tuple[str, float]]],
    resamples: int,
) -> tuple[float, float, float]:
    """Macro-F1 of ``b`` minus ``a``, with a 95% interval from resampling whole calls."""
    import numpy as np

    point = path_report(calls, b).macro_f1 - path_report(calls, a).macro_f1
    if resamples < 1 or len(calls) < 2:
        return point, float("nan"), float("nan")
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(resamples):
        idx = rng.integers(0, len(calls), len(calls))
        sample = [calls[i] for i in idx]
        diffs.append(
            path_report(sample, [b[i] for i in idx]).macro_f1
            - path_report(sample, [a[i] for i in idx]).macro_f1
        )
    low, high = np.percentile(diffs, [2.5, 97.5])
    return point, float(low), float(high)


def table(reports: dict[str, Report]) -> str:
    head = f"{'path':<9}{'n':>6}" + "".join(f"{label:>15}" for label in LABELS)
    lines = [head + f"{'macro-F1':>10}"]
    for path, report in reports.items():
        f1 = {c.label: c.f1 for c in report.classes}
        cells = "".join(f"{f1[label]:>15.3f}" for label in LABELS)
        lines.append(f"{path:<9}{report.n:>6d}{cells}{report.macro_f1:>10.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        calls = read_calls(args.data or sorted(DATA.glob("calls_de*.jsonl")))
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.split != "all":
        calls = [c for c in calls if c.split == args.split]
    calls = [c for c in calls if c.lang == "de"]
    if args.limit_calls:
        calls = calls[: args.limit_calls]
    if not calls:
        print(f"no German labelled calls in split {args.split!r}", file=sys.stderr)
        return 2

    options = asr_options()
    tag = settings_tag(options)
    cached = read_cache(args.asr_cache)
    missing = any(
        cache_key(row.text, voice_for(row.role, args), tag) not in cached
        for call in calls
        for row in call.rows
    )
    if missing and shutil.which("espeak-ng") is None:
        print(
            "espeak-ng not found: install it (Debian/Ubuntu: apt-get install espeak-ng) to "
            "synthesize the German calls",
            file=sys.stderr,
        )
        return 2

    import torch

    torch.set_num_threads(args.threads)
    try:
        from assistant.extract.classifier import get_classifier

        classifier = get_classifier(args.model_dir)
        entries, asr_stats = transcribe_calls(calls, args)
    except (AssistantError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def asr(row_text: str, role: str | None, field: str) -> str:
        return str(entries[cache_key(row_text, voice_for(role, args), tag)][field])

    texts = {
        "gold-de": [[row.text for row in call.rows] for call in calls],
        "asr-de": [[asr(row.text, row.role, "de") for row in call.rows] for call in calls],
        "asr-en": [[asr(row.text, row.role, "en") for row in call.rows] for call in calls],
    }
    predicted = classify(classifier, calls, texts)
    reports = {path: path_report(calls, predicted[path]) for path in PATHS}
    refs = [text for per_call in texts["gold-de"] for text in per_call]
    wer = word_error_rate(refs, [text for per_call in texts["asr-de"] for text in per_call], "de")
    empty = {
        path: sum(not text.strip() for per_call in texts[path] for text in per_call)
        for path in ("asr-de", "asr-en")
    }
    diff, low, high = bootstrap_difference(
        calls, predicted["asr-de"], predicted["asr-en"], args.bootstrap
    )
    total_s = time.perf_counter() - started

    print(
        f"model: {classifier.model_dir}   split: {args.split}   calls: {len(calls)}   "
        f"voices: rep {args.rep_voice}, customer {args.customer_voice}"
    )
    print(
        f"speech: {asr_stats['audio_s'] / 60:.1f} min synthetic audio, "
        f"{asr_stats['asr_s'] / 60:.1f} min transcribing (+ translating), "
        f"{int(asr_stats['from_cache'])}/{int(asr_stats['utterances'])} utterances from cache"
    )
    print()
    print(table(reports))
    print()
    print(f"German WER of asr-de against gold-de: {wer:.3f} ({len(refs)} utterances)")
    print(f"empty recognitions: asr-de {empty['asr-de']}, asr-en {empty['asr-en']}")
    print(
        f"macro-F1 asr-en minus asr-de: {diff:+.3f}  "
        f"(95% bootstrap interval over calls {low:+.3f} to {high:+.3f})"
    )
    print(f"run time {total_s / 60:.1f} min")

    results: dict[str, object] = {
        "split": args.split,
        "calls": len(calls),
        "call_ids": [c.call_id for c in calls],
        "model_dir": str(classifier.model_dir),
        "asr": {
            "engine": ENGINE,
            "model": MODEL,
            "compute_type": COMPUTE_TYPE,
            "threads": args.threads,
            "options": options.as_dict(),
            "settings_tag": tag,
            "voices": {"rep": args.rep_voice, "customer": args.customer_voice},
            **asr_stats,
        },
        "german_wer": round(wer, 4),
        "empty": empty,
        "paths": {path: report.as_dict() for path, report in reports.items()},
        "macro_f1_en_minus_de": {
            "difference": round(diff, 4),
            "ci95": [round(low, 4), round(high, 4)],
            "resamples": args.bootstrap,
        },
        "run_s": round(total_s, 1),
    }
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
