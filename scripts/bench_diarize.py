"""Benchmark speaker diarization and role assignment on conversations built from real clips.

The conversations are made of real recordings of different people in tests/data (LibriSpeech
speakers 251 and 3536, FLEURS English and German speakers, JFK, the two channels of
stereo_diarization.wav), cut at pauses into turns and laid end to end with short gaps (and, in one
conversation, short overlaps), so who spoke when is known. Reference speech inside each turn is
found from the clip's own energy (not from the VAD the diarizer uses).

Printed per conversation and overall:
  DER        diarization error rate (pyannote.metrics, 0.25 s collar, overlap scored)
  DER N      the same when the number of speakers is given (--speakers N); overall: the mean
  confusion  the part of DER that is speech given to the wrong speaker
  speakers   estimated / true number of speakers
  role acc   share of reference utterances whose role (rep/customer) is right, with the rep's
             voice profile enrolled from a clip that is NOT in the conversation
  false      speakers matched to the profile of someone who is not in the call / profiles tried
  role heur  the same without profiles, by the text heuristic; these read-speech clips hold no
             sales talk, so this column only shows that the heuristic needs sales talk

A second table runs the text-only role heuristic on the project's written sales calls
(models/extractor/data/calls_*.jsonl), as written and cut to start with the customer;
scripts/eval_roles.py measures that heuristic in full (real negotiations, meetings, confidence).
  role time  share of reference speech time whose role is right (turn edges count here)
  s/min      diarization seconds (wall clock) per minute of audio
  +% ASR     diarization wall time relative to transcribing the same audio (faster-whisper)
  +% cpu     the same in CPU seconds of this process, which other load on the machine
             does not inflate

Writes the numbers as JSON (--out). Run, for example:

    ASSISTANT_DATA_DIR=/tmp/bench python scripts/bench_diarize.py --model base --threads 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.media import SAMPLE_RATE, load_audio  # noqa: E402

DATA = ROOT / "tests" / "data"

# Voices: clips of one person each. A voice's "enroll" clip is held out of every conversation.
VOICES: dict[str, dict[str, list[str]]] = {
    "libri251": {
        "clips": ["testing_routine.wav", "another_engineer.wav"],
        "enroll": ["i_tell_you.wav"],
    },
    "libri3536": {"clips": ["another_door.wav"], "enroll": []},
    "jfk": {"clips": ["jfk.flac"], "enroll": []},
    "fleurs_en_a": {"clips": ["fleurs-en-000.ogg"], "enroll": []},
    "fleurs_en_b": {"clips": ["fleurs-en-001.ogg"], "enroll": []},
    "fleurs_en_c": {
        "clips": ["fleurs-en-002.ogg", "fleurs-en-003.ogg"],
        "enroll": ["fleurs-en-004.ogg"],
    },
    "fleurs_de_a": {"clips": ["fleurs-de-000.ogg"], "enroll": []},
    "fleurs_de_b": {"clips": ["fleurs-de-004.ogg"], "enroll": ["fleurs-de-001.ogg"]},
    "fleurs_de_c": {"clips": ["fleurs-de-002.ogg"], "enroll": []},
    "fleurs_de_d": {"clips": ["fleurs-de-003.ogg"], "enroll": []},
    "stereo_left": {"clips": ["stereo_diarization.wav#0"], "enroll": []},
    "stereo_right": {"clips": ["stereo_diarization.wav#1"], "enroll": []},
}


@dataclass(frozen=True)
class Conversation:
    name: str
    rep: str
    customers: tuple[str, ...]
    language: str
    overlap_s: float = 0.0  # >0: some turns start this much before the previous one ends
    # The customer opens some conversations, so "who opens" cannot decide roles alone.
    customer_opens: bool = False


CONVERSATIONS = (
    Conversation("en-2spk", "fleurs_en_c", ("libri251",), "en"),
    Conversation("de-2spk", "fleurs_de_b", ("fleurs_de_a",), "de", customer_opens=True),
    Conversation("en-3spk", "libri251", ("jfk", "fleurs_en_b"), "en"),
    Conversation(
        "mixed-3spk", "fleurs_en_c", ("stereo_left", "stereo_right"), "en", customer_opens=True
    ),
    Conversation("de-3spk-overlap", "fleurs_de_b", ("fleurs_de_d", "fleurs_de_c"), "de", 0.3),
)


def load_clip(name: str) -> np.ndarray:
    file, _, channel = name.partition("#")
    audio = load_audio(DATA / file)
    if channel:
        return np.ascontiguousarray(audio.samples[int(channel)])
    return np.ascontiguousarray(audio.mono)


def speech_mask(clip: np.ndarray, frame_s: float = 0.02) -> np.ndarray:
    """Reference speech per 20 ms frame from the clip's energy (independent of the VAD)."""
    hop = int(frame_s * SAMPLE_RATE)
    n = len(clip) // hop
    frames = clip[: n * hop].reshape(n, hop).astype(np.float64)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    threshold = max(np.percentile(level, 95) - 30, np.percentile(level, 10) + 8)
    mask = level > threshold
    mask = _fill(mask, int(0.3 / frame_s), value=False)  # short pauses are still the turn
    return _fill(mask, int(0.1 / frame_s), value=True)  # clicks are not speech


def _fill(mask: np.ndarray, max_len: int, value: bool) -> np.ndarray:
    """Runs of ``value`` shorter than max_len (inside the mask) flip to ``not value``."""
    mask = mask.copy()
    i = 0
    while i < len(mask):
        if mask[i] == value:
            j = i
            while j < len(mask) and mask[j] == value:
                j += 1
            if j - i < max_len and i > 0 and j < len(mask):
                mask[i:j] = not value
            i = j
        else:
            i += 1
    return mask


def pieces(clip: np.ndarray, max_piece_s: float = 7.0) -> list[np.ndarray]:
    """Cut a long clip into turns at its longest pause near the middle (recursively)."""
    if len(clip) / SAMPLE_RATE <= max_piece_s:
        return [clip]
    mask = speech_mask(clip)
    n = len(mask)
    lo, hi = int(n * 0.3), int(n * 0.7)
    best, best_len, i = None, 0, lo
    while i < hi:
        if not mask[i]:
            j = i
            while j < n and not mask[j]:
                j += 1
            if j - i > best_len:
                best, best_len = (i + j) // 2, j - i
            i = j
        else:
            i += 1
    if best is None:
        hop = int(0.02 * SAMPLE_RATE)
        frames = clip[: n * hop].reshape(n, hop)
        best = lo + int(np.argmin(np.mean(frames[lo:hi] ** 2, axis=1)))
    cut = best * int(0.02 * SAMPLE_RATE)
    return pieces(clip[:cut], max_piece_s) + pieces(clip[cut:], max_piece_s)


def build(conv: Conversation, seed: int = 0):
    """The mixed audio and reference turns [(start_s, end_s, voice)]."""
    rng = np.random.default_rng(seed)
    voices = (conv.rep, *conv.customers)
    queues = {
        v: [p for clip in VOICES[v]["clips"] for p in pieces(load_clip(clip))] for v in voices
    }
    order: list[str] = []
    last: str | None = None
    next_customer = 0
    while any(queues.values()):
        if last is None:
            voice = conv.customers[0] if conv.customer_opens else conv.rep
        elif last != conv.rep and queues[conv.rep]:
            voice = conv.rep
        else:
            waiting = [c for c in conv.customers if queues[c]] or [conv.rep]
            voice = waiting[next_customer % len(waiting)]
            next_customer += 1
        order.append(voice)
        queues[voice].pop(0) if queues[voice] else None
        last = voice
    queues = {
        v: [p for clip in VOICES[v]["clips"] for p in pieces(load_clip(clip))] for v in voices
    }
    audio = np.zeros(0, np.float32)
    reference: list[tuple[float, float, str]] = []
    cursor = 0
    for i, voice in enumerate(order):
        if not queues[voice]:
            continue
        piece = queues[voice].pop(0)
        piece = piece / (np.sqrt(np.mean(piece**2)) + 1e-9) * 0.05  # level voices like a call
        gap = int(rng.uniform(0.2, 0.8) * SAMPLE_RATE)
        if conv.overlap_s and i % 3 == 2:
            gap = -int(conv.overlap_s * SAMPLE_RATE)
        start = max(0, cursor + gap) if i else 0
        end = start + len(piece)
        if end > len(audio):
            audio = np.pad(audio, (0, end - len(audio)))
        audio[start:end] += piece.astype(np.float32)
        mask = speech_mask(piece)
        frame = int(0.02 * SAMPLE_RATE)
        j = 0
        while j < len(mask):
            if mask[j]:
                k = j
                while k < len(mask) and mask[k]:
                    k += 1
                reference.append(
                    ((start + j * frame) / SAMPLE_RATE, (start + k * frame) / SAMPLE_RATE, voice)
                )
                j = k
            else:
                j += 1
        cursor = max(cursor, end)
    audio = np.pad(audio, (int(0.5 * SAMPLE_RATE), int(0.5 * SAMPLE_RATE)))
    reference = [(s + 0.5, e + 0.5, v) for s, e, v in reference]
    return audio.astype(np.float32), reference


def annotation(turns):
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for i, (start, end, who) in enumerate(turns):
        ann[Segment(start, end), i] = who
    return ann


def role_accuracy(reference, hypothesis_roles, rep_voice: str, step_s: float = 0.01):
    """(utterances, time): share of reference utterances whose role (the role given to most of
    the utterance) is right, and share of reference speech time whose role is right."""
    right_time = total_time = right_utterances = 0
    for start, end, voice in reference:
        truth = "rep" if voice == rep_voice else "customer"
        votes = {"rep": 0, "customer": 0, None: 0}
        for t in np.arange(start, end, step_s):
            role = next((r for s, e, r in hypothesis_roles if s <= t < e), None)
            votes[role] += 1
        total_time += sum(votes.values())
        right_time += votes[truth]
        right_utterances += max(votes, key=lambda r: votes[r]) == truth
    return right_utterances / max(1, len(reference)), right_time / max(1, total_time)


def heuristic_on_written_calls(folder: Path) -> list[dict]:
    """Role heuristic (text only) on written sales calls: share of calls with every role right,
    as written and cut to start at the customer's first turn."""
    from assistant.report import Segment
    from assistant.roles import heuristic_roles

    results = []
    for file in sorted(folder.glob("calls_*.jsonl")):
        calls: dict[str, list[dict]] = {}
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            calls.setdefault(row["call_id"], []).append(row)
        right = {"as written": 0, "customer first": 0}
        for rows in calls.values():
            rows.sort(key=lambda r: r["turn"])
            first_customer = next(i for i, r in enumerate(rows) if r["role"] == "customer")
            for variant, part in (("as written", rows), ("customer first", rows[first_customer:])):
                segments = [
                    Segment(
                        id=i,
                        start_s=5.0 * i,
                        end_s=5.0 * i + 4,
                        text=r["text"],
                        speaker=r["speaker"],
                    )
                    for i, r in enumerate(part)
                ]
                speakers = list(dict.fromkeys(r["speaker"] for r in part))
                truth = {r["speaker"]: r["role"] for r in part}
                found = heuristic_roles(segments, speakers)
                right[variant] += all(found[s][0] == truth[s] for s in speakers)
        results.append(
            {
                "file": file.name,
                "calls": len(calls),
                "as_written": round(right["as written"] / len(calls), 4),
                "customer_first": round(right["customer first"] / len(calls), 4),
            }
        )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="Prints a table and writes JSON; see the module docstring for the columns.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--threshold", type=float, default=None, help="clustering distance")
    parser.add_argument("--model", default="base", help="Whisper model for the timing baseline")
    parser.add_argument(
        "--no-asr",
        action="store_true",
        help="skip transcription (no timing ratio, no heuristic roles)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-diarize.json"), help="JSON output")
    parser.add_argument(
        "--calls",
        type=Path,
        default=ROOT / "models" / "extractor" / "data",
        help="folder of written sales calls (calls_*.jsonl) for the role heuristic",
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch and Whisper")
    args = parser.parse_args(argv)

    import torch
    from pyannote.metrics.diarization import DiarizationErrorRate

    from assistant import diarize, profiles, roles
    from assistant.errors import AssistantError
    from assistant.profiles import VoiceProfile

    torch.set_num_threads(args.threads)
    options = diarize.DiarizeOptions()
    if args.threshold is not None:
        options = diarize.DiarizeOptions(threshold=args.threshold)
    diarize.get_encoder()  # load once, outside the timings
    diarize.speech_regions(np.zeros(SAMPLE_RATE, np.float32))

    transcriber = None
    if not args.no_asr:
        from assistant.settings import get_settings
        from assistant.transcribe import TranscribeOptions, get_transcriber

        cache = get_settings().cache_dir
        transcriber = get_transcriber("faster-whisper", args.model, "int8", args.threads, cache)

    stranger_profiles = {}
    for voice, clips in VOICES.items():
        audio = np.concatenate([load_clip(c) for c in clips["clips"] + clips["enroll"]])
        vector = diarize.embed_speech(audio)
        assert vector is not None
        stranger_profiles[voice] = VoiceProfile.new(voice, vector, len(audio) / SAMPLE_RATE)

    rows = []
    metric_all = DiarizationErrorRate(collar=0.25, skip_overlap=False)
    for conv in CONVERSATIONS:
        audio, reference = build(conv)
        duration_min = len(audio) / SAMPLE_RATE / 60
        segments = []
        asr_s = asr_cpu_s = None
        if transcriber is not None:
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                transcript = transcriber.transcribe(
                    audio, TranscribeOptions(model=args.model, language=conv.language)
                )
            except AssistantError as exc:  # an English-only model and a German call
                print(f"{conv.name}: no transcription ({exc})", file=sys.stderr)
            else:
                asr_s, asr_cpu_s = time.perf_counter() - t0, time.process_time() - c0
                segments = transcript.segments
        # The whole diarize stage as the pipeline runs it: VAD, embeddings, clustering,
        # words to speakers, roles (no profiles: the heuristic).
        t0, c0 = time.perf_counter(), time.process_time()
        plain = diarize.diarize(audio, segments, options)
        diarize_s, diarize_cpu_s = time.perf_counter() - t0, time.process_time() - c0
        hypothesis = [(t.start_s, t.end_s, t.speaker) for t in plain.turns]
        metric = DiarizationErrorRate(collar=0.25, skip_overlap=False)
        ref_ann, hyp_ann = annotation(reference), annotation(hypothesis)
        detail = metric(ref_ann, hyp_ann, detailed=True)
        metric_all(ref_ann, hyp_ann)
        total = detail["total"] or 1.0
        # The same with the number of speakers given (--speakers N).
        known = diarize.diarize_mono(audio, replace(options, speakers=1 + len(conv.customers)))
        der_known = DiarizationErrorRate(collar=0.25, skip_overlap=False)(
            ref_ann, annotation([(t.start_s, t.end_s, t.speaker) for t in known.turns])
        )
        role_of = {s.id: s.role for s in plain.speakers}
        heuristic = [(t.start_s, t.end_s, role_of[t.speaker]) for t in plain.turns]
        acc_heur = role_accuracy(reference, heuristic, conv.rep)[0] if segments else None

        # The rep enrolled from clips that are not in the conversation.
        enroll = [load_clip(c) for c in VOICES[conv.rep]["enroll"]]
        embedding = diarize.embed_speech(np.concatenate(enroll))
        assert embedding is not None
        profile = VoiceProfile.new("Rep", embedding, sum(len(e) for e in enroll) / SAMPLE_RATE)
        speakers = roles.assign_roles(segments, plain.diarization, [profile], options)
        hyp_roles = [
            (t.start_s, t.end_s, speakers[t.speaker].role) for t in plain.diarization.turns
        ]
        acc_profile, time_profile = role_accuracy(reference, hyp_roles, conv.rep)
        # Profiles of people who are NOT in the call must not match anyone in it.
        strangers = [v for v in VOICES if v not in (conv.rep, *conv.customers)]
        false_matches = profiles.match_profiles(
            plain.diarization.embeddings, [stranger_profiles[v] for v in strangers]
        )
        rows.append(
            {
                "conversation": conv.name,
                "duration_s": round(len(audio) / SAMPLE_RATE, 1),
                "speakers_true": 1 + len(conv.customers),
                "speakers_found": len(plain.diarization.speakers),
                "der": round(detail["diarization error rate"], 4),
                "der_speakers_given": round(der_known, 4),
                "confusion": round(detail["confusion"] / total, 4),
                "missed": round(detail["missed detection"] / total, 4),
                "false_alarm": round(detail["false alarm"] / total, 4),
                "role_accuracy_profile": round(acc_profile, 4),
                "role_time_accuracy_profile": round(time_profile, 4),
                "rep_similarity": max(
                    (x.profile_similarity or 0.0 for x in speakers.values()), default=0.0
                ),
                "best_stranger_similarity": round(
                    max(
                        float(stranger_profiles[v].embedding @ e)
                        for v in strangers
                        for e in plain.diarization.embeddings.values()
                    ),
                    4,
                ),
                "stranger_profiles": len(strangers),
                "false_profile_matches": len(false_matches),
                "role_accuracy_heuristic": None if acc_heur is None else round(acc_heur, 4),
                "diarize_s": round(diarize_s, 3),
                "diarize_s_per_min": round(diarize_s / duration_min, 3),
                "asr_s": None if asr_s is None else round(asr_s, 3),
                "diarize_vs_asr": None if asr_s is None else round(diarize_s / asr_s, 4),
                "diarize_cpu_s": round(diarize_cpu_s, 3),
                "asr_cpu_s": None if asr_cpu_s is None else round(asr_cpu_s, 3),
                "diarize_vs_asr_cpu": None
                if asr_cpu_s is None
                else round(diarize_cpu_s / asr_cpu_s, 4),
            }
        )

    total_min = sum(r["duration_s"] for r in rows) / 60
    timed = [r for r in rows if r["asr_s"] is not None]
    total_diar = sum(r["diarize_s"] for r in rows)
    total_asr = sum(r["asr_s"] for r in timed)

    def mean(key: str) -> float | None:
        values = [r[key] for r in rows if r[key] is not None]
        return round(float(np.mean(values)), 4) if values else None

    overall = {
        "der": round(abs(metric_all), 4),
        "der_speakers_given": mean("der_speakers_given"),
        "role_accuracy_profile": mean("role_accuracy_profile"),
        "role_time_accuracy_profile": mean("role_time_accuracy_profile"),
        "role_accuracy_heuristic": mean("role_accuracy_heuristic"),
        "false_profile_matches": sum(r["false_profile_matches"] for r in rows),
        "stranger_profiles": sum(r["stranger_profiles"] for r in rows),
        "diarize_s_per_min": round(total_diar / total_min, 3),
        # Over the conversations that were transcribed.
        "diarize_vs_asr": round(sum(r["diarize_s"] for r in timed) / total_asr, 4)
        if total_asr
        else None,
        "diarize_vs_asr_cpu": round(
            sum(r["diarize_cpu_s"] for r in timed) / sum(r["asr_cpu_s"] for r in timed), 4
        )
        if total_asr
        else None,
        "asr_model": None if transcriber is None else args.model,
        "threads": args.threads,
        "options": options.as_dict(),
    }
    print_table(rows, overall)
    written = heuristic_on_written_calls(args.calls) if args.calls.is_dir() else []
    if written:
        print()
        print(
            "Role heuristic on written sales calls (text only; fitted on calls_en_a and "
            "calls_de; scripts/eval_roles.py also measures real negotiations and meetings)"
        )
        print(f"{'file':22} {'calls':>6} {'as written':>11} {'customer first':>15}")
        for w in written:
            print(
                f"{w['file']:22} {w['calls']:>6} {w['as_written']:>11.1%} "
                f"{w['customer_first']:>15.1%}"
            )
    result = {"conversations": rows, "overall": overall, "written_calls": written}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def print_table(rows: list[dict], overall: dict) -> None:
    columns = ("conversation", "dur s", "spk", "DER", "DER N", "conf", "miss", "FA", "role acc")
    columns += ("role time", "role heur", "false", "s/min", "+% ASR", "+% cpu")
    widths = (16, 6, 5, 7, 6, 6, 6, 6, 8, 9, 9, 6, 6, 7, 7)
    line = " ".join(
        f"{c:>{w}}" if i else f"{c:<{w}}"
        for i, (c, w) in enumerate(zip(columns, widths, strict=False))
    )
    print(line)
    print("-" * len(line))
    for r in [*rows, {"conversation": "overall", **overall}]:
        if r["conversation"] == "overall":
            print("-" * len(line))
        cells = (
            r["conversation"],
            f"{r['duration_s']:.1f}"
            if "duration_s" in r
            else f"{sum(x['duration_s'] for x in rows):.1f}",
            f"{r['speakers_found']}/{r['speakers_true']}" if "speakers_found" in r else "",
            _pct(r["der"]),
            _pct(r.get("der_speakers_given")),
            _pct(r.get("confusion")),
            _pct(r.get("missed")),
            _pct(r.get("false_alarm")),
            _pct(r["role_accuracy_profile"]),
            _pct(r["role_time_accuracy_profile"]),
            _pct(r["role_accuracy_heuristic"]),
            f"{r['false_profile_matches']}/{r['stranger_profiles']}",
            f"{r['diarize_s_per_min']:.2f}",
            _pct(r["diarize_vs_asr"]),
            _pct(r["diarize_vs_asr_cpu"]),
        )
        print(
            " ".join(
                f"{c:>{w}}" if i else f"{c:<{w}}"
                for i, (c, w) in enumerate(zip(cells, widths, strict=False))
            )
        )


if __name__ == "__main__":
    raise SystemExit(main())
