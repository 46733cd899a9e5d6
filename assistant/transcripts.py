"""Transcripts as input: WebVTT, SubRip, JSONL (Zoom, Teams and our own exports) and the JSON
files Whisper and WhisperX write.

A transcript skips transcription; the later stages run on its utterances. Speakers are taken from
WebVTT voice tags (``<v Anna>``), a ``Name: text`` prefix (Zoom) or the JSON ``speaker`` field.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from assistant.errors import TranscriptFormatError
from assistant.report import Segment

TRANSCRIPT_EXTENSIONS = frozenset({".vtt", ".srt", ".jsonl", ".json"})
# No call lasts this long; the bound keeps every later sum, clock and duration finite.
MAX_TIME_S = 1000 * 3600.0

_TIME = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})")
_CUE_TIMES = re.compile(rf"^\s*({_TIME.pattern})\s*-->\s*({_TIME.pattern})")
# Neighbouring parts never match the same character (a voice's name starts with a non-space,
# a tag holds no '<'), so a long run of spaces or '<' cannot make the matcher backtrack over
# the rest of the cue at every position: parsing stays linear in the cue's length.
_VOICE = re.compile(r"^<v(?:\.[^\s>]*)?\s+([^\s>][^>]*)>(.*?)(?:</v>)?$", re.S)
_PREFIX = re.compile(r"^([A-ZÄÖÜ][\w .'\-]{0,40}?):\s+(.+)$", re.S)
_TAG = re.compile(r"</?[^<>]+>")


def is_transcript(path: Path) -> bool:
    return path.suffix.lower() in TRANSCRIPT_EXTENSIONS


def _excerpt(text: str, chars: int = 60) -> str:
    """``text`` for an error message: one line, never the whole of a huge input."""
    return repr(text if len(text) <= chars else text[:chars] + "…")


def _seconds(path: Path, stamp: str) -> float:
    match = _TIME.fullmatch(stamp.strip())
    if not match:
        raise TranscriptFormatError(f"{path.name}: bad cue time {_excerpt(stamp)}")
    hours, minutes, seconds, fraction = match.groups()
    # int() refuses thousands of digits, and a float overflows on hundreds: both are far out
    # of range anyway, so such hours are never converted.
    total = (
        math.inf
        if len((hours or "").lstrip("0")) > 6
        else int(hours or 0) * 3600
        + int(minutes) * 60
        + int(seconds)
        + int(fraction.ljust(3, "0")) / 1000
    )
    if total > MAX_TIME_S:
        raise TranscriptFormatError(
            f"{path.name}: cue time {_excerpt(stamp)} is out of range "
            f"(at most {MAX_TIME_S / 3600:.0f} hours)"
        )
    return total


def _time(where: str, name: str, value: object) -> float:
    """A JSON time in seconds: a finite number from 0 to ``MAX_TIME_S``."""
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise TranscriptFormatError(
            f"{where}: {name} must be a number, not {_excerpt(repr(value))}"
        ) from exc
    except OverflowError:
        seconds = math.inf  # an integer too large for a float
    if not (math.isfinite(seconds) and 0 <= seconds <= MAX_TIME_S):
        raise TranscriptFormatError(
            f"{where}: {name} must be a time from 0 to {MAX_TIME_S:.0f} seconds, "
            f"not {_excerpt(str(seconds))}"
        )
    return seconds


def _speaker_and_text(raw: str) -> tuple[str | None, str]:
    raw = raw.strip()
    if voice := _VOICE.match(raw):
        return voice.group(1).strip(), _TAG.sub("", voice.group(2)).strip()
    text = _TAG.sub("", raw).strip()
    if prefix := _PREFIX.match(text):
        return prefix.group(1).strip(), prefix.group(2).strip()
    return None, text


def _parse_cues(path: Path, text: str) -> list[Segment]:
    segments: list[Segment] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = [line for line in block.strip().split("\n") if line.strip()]
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            continue  # header, NOTE or STYLE block
        match = _CUE_TIMES.match(lines[timing])
        if not match:
            raise TranscriptFormatError(f"{path.name}: bad cue timing {_excerpt(lines[timing])}")
        start_s, end_s = _seconds(path, match.group(1)), _seconds(path, match.group(6))
        speaker, body = _speaker_and_text(" ".join(lines[timing + 1 :]))
        if not body:
            continue
        if end_s < start_s:
            raise TranscriptFormatError(
                f"{path.name}: cue ends before it starts: {_excerpt(lines[timing])}"
            )
        segments.append(
            Segment(id=len(segments), start_s=start_s, end_s=end_s, text=body, speaker=speaker)
        )
    return segments


# The project's names for a turn's times, and those of faster-whisper's and WhisperX's segments.
_TIME_KEYS = (("start_s", "end_s"), ("start", "end"))


def _loads(where: str, text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptFormatError(f"{where}: not valid JSON ({exc.msg})") from exc
    except ValueError as exc:  # an integer of more digits than int() converts
        raise TranscriptFormatError(f"{where}: a number has too many digits") from exc
    except RecursionError as exc:
        raise TranscriptFormatError(f"{where}: not valid JSON (nested too deeply)") from exc


def _turns(rows: list[tuple[str, object]]) -> list[Segment]:
    """Segments of JSON turns, each ``(where, row)``: ``text``, optional ``speaker``,
    ``role`` and times (a turn without a start starts where the one before ended)."""
    segments: list[Segment] = []
    clock = 0.0
    for where, row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise TranscriptFormatError(f"{where}: each turn needs a 'text' string")
        start_name, end_name = (
            _TIME_KEYS[0] if "start_s" in row or "end_s" in row else _TIME_KEYS[1]
        )
        start_s = _time(where, start_name, row.get(start_name, clock))
        end_s = _time(where, end_name, row.get(end_name, start_s))
        role = row.get("role")
        if role not in (None, "rep", "customer"):
            raise TranscriptFormatError(f"{where}: role must be 'rep' or 'customer'")
        speaker = row.get("speaker")
        clock = max(end_s, start_s)
        if not row["text"].strip():
            continue  # Whisper writes empty segments over silence
        segments.append(
            Segment(
                id=len(segments),
                start_s=start_s,
                end_s=clock,
                text=row["text"].strip(),
                speaker=str(speaker) if speaker is not None else None,
                role=role,
            )
        )
    return segments


def _parse_jsonl(path: Path, text: str) -> list[Segment]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            where = f"{path.name}:{number}"
            rows.append((where, _loads(where, line)))
    return _turns(rows)


def _parse_json(path: Path, text: str) -> list[Segment]:
    """A whole-file JSON transcript: Whisper's and WhisperX's ``{"segments": [...]}`` (WhisperX
    adds each segment's ``speaker``), or a bare list of turns."""
    document = _loads(path.name, text)
    turns = document.get("segments") if isinstance(document, dict) else document
    if not isinstance(turns, list):
        raise TranscriptFormatError(
            f"{path.name}: a JSON transcript is a list of turns or an object with a "
            "'segments' list (as Whisper and WhisperX write it)"
        )
    return _turns([(f"{path.name}: segment {n}", row) for n, row in enumerate(turns, 1)])


def read_transcript(path: Path) -> list[Segment]:
    """Utterances of a ``.vtt``, ``.srt``, ``.jsonl`` or ``.json`` transcript, in file order."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TranscriptFormatError(
            f"{path.name}: cannot read the transcript as UTF-8 text"
        ) from exc
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        segments = _parse_jsonl(path, text)
    elif suffix == ".json":
        segments = _parse_json(path, text)
    elif suffix == ".vtt" and not text.lstrip().startswith("WEBVTT"):
        raise TranscriptFormatError(f"{path.name}: a WebVTT file must start with 'WEBVTT'")
    else:
        segments = _parse_cues(path, text)
    if not segments:
        raise TranscriptFormatError(f"{path.name}: the transcript has no utterances")
    return segments
