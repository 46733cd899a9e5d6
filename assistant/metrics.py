"""Call metrics: pure functions over speaker-labelled segments, no models.

Definitions (all times in seconds):

- **talk time** of a speaker: the union of their segments' spans; the call's talk time is the
  union over everyone (overlapping speech counts once), silence is the rest of the recording.
- **talk ratio**: a speaker's (or role's) talk time over the sum of all speakers' talk time.
- **turn**: consecutive segments of one speaker, with no other speaker in between and no pause
  longer than ``max_pause_s``. The **longest monologue** is the longest turn, start to end.
- **questions**: sentences ending in ``?`` (Whisper punctuates English and German).
- **interruption**: a turn that starts at least ``min_overlap_s`` before another speaker's turn
  has ended (overlapping speech, as two-channel recordings show it), or within ``cutoff_gap_s``
  after a turn that stopped mid-sentence (no closing ``.?!``: cut off, as a mono recording shows
  it); it is counted for the one who interrupts.
- **words per minute**: words over talk time, for speakers who talked at least ``min_talk_s``.

Segments without a speaker count as the speaker ``unknown``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.report import CallMetrics, Role, RoleMetrics, Segment, SpeakerMetrics

UNKNOWN = "unknown"
_QUESTION = re.compile(r"\?[?!]*(?=[\s\"'»”)]|$)")


@dataclass(frozen=True)
class MetricsOptions:
    max_pause_s: float = 3.0
    min_overlap_s: float = 0.3
    cutoff_gap_s: float = 0.2
    min_talk_s: float = 1.0


@dataclass(frozen=True)
class TurnSpan:
    speaker: str
    start_s: float
    end_s: float
    ends_sentence: bool = True

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


def _who(segment: Segment) -> str:
    return segment.speaker or UNKNOWN


def union_s(spans: Sequence[tuple[float, float]]) -> float:
    """Length of the union of (start, end) spans."""
    total = 0.0
    end_so_far = float("-inf")
    for start, end in sorted(spans):
        if end <= end_so_far:
            continue
        total += end - max(start, end_so_far)
        end_so_far = end
    return total


def count_questions(text: str) -> int:
    return len(_QUESTION.findall(text))


def count_words(segment: Segment) -> int:
    if segment.words:
        return sum(1 for w in segment.words if any(c.isalnum() for c in w.text))
    return sum(1 for token in segment.text.split() if any(c.isalnum() for c in token))


def turns(segments: Sequence[Segment], max_pause_s: float = 3.0) -> list[TurnSpan]:
    """Runs of one speaker's segments in time order (see the module docstring)."""
    out: list[TurnSpan] = []
    for segment in sorted(segments, key=lambda s: (s.start_s, s.end_s)):
        who = _who(segment)
        last = out[-1] if out else None
        complete = segment.text.rstrip(" \"'»”)").endswith((".", "?", "!", "…"))
        if last and last.speaker == who and segment.start_s - last.end_s <= max_pause_s:
            if segment.end_s >= last.end_s:
                out[-1] = TurnSpan(who, last.start_s, segment.end_s, complete)
        else:
            out.append(TurnSpan(who, segment.start_s, segment.end_s, complete))
    return out


def interruptions(
    spans: Sequence[TurnSpan], min_overlap_s: float = 0.3, cutoff_gap_s: float = 0.2
) -> list[TurnSpan]:
    """The turns that began while someone else's turn was still going, or cut it off."""
    found = []
    for i, turn in enumerate(spans):
        before = spans[i - 1] if i else None
        if (
            before is not None
            and before.speaker != turn.speaker
            and not before.ends_sentence
            and 0.0 <= turn.start_s - before.end_s <= cutoff_gap_s
        ):
            found.append(turn)
            continue
        for earlier in spans[max(0, i - 50) : i]:  # turns long past cannot still be going
            if (
                earlier.speaker != turn.speaker
                and earlier.start_s < turn.start_s
                and turn.start_s <= earlier.end_s - min_overlap_s
            ):
                found.append(turn)
                break
    return found


def compute_metrics(
    segments: Sequence[Segment],
    duration_s: float,
    options: MetricsOptions | None = None,
) -> CallMetrics:
    """The metrics of one call from its segments (speaker and role set by the diarize stage)."""
    options = options or MetricsOptions()
    segments = [s for s in segments if s.end_s > s.start_s or s.text.strip()]
    if not segments:
        return CallMetrics(duration_s=round(duration_s, 3), silence_s=round(duration_s, 3))
    speakers: dict[str, list[Segment]] = {}
    for segment in segments:
        speakers.setdefault(_who(segment), []).append(segment)
    role_of: dict[str, Role | None] = {}
    for who, own in speakers.items():
        roles = Counter(s.role for s in own if s.role is not None)
        role_of[who] = roles.most_common(1)[0][0] if roles else None

    spans = turns(segments, options.max_pause_s)
    interrupting = interruptions(spans, options.min_overlap_s, options.cutoff_gap_s)
    talk = {who: union_s([(s.start_s, s.end_s) for s in own]) for who, own in speakers.items()}
    all_talk_s = sum(talk.values()) or 1.0

    per_speaker = []
    for who, own in speakers.items():
        words = sum(count_words(s) for s in own)
        own_turns = [t for t in spans if t.speaker == who]
        per_speaker.append(
            SpeakerMetrics(
                speaker=who,
                role=role_of[who],
                talk_s=round(talk[who], 2),
                talk_ratio=round(talk[who] / all_talk_s, 4),
                turns=len(own_turns),
                words=words,
                words_per_minute=_pace(words, talk[who], options.min_talk_s),
                questions=sum(count_questions(s.text) for s in own),
                longest_monologue_s=round(max(t.duration_s for t in own_turns), 2),
                interruptions=sum(t.speaker == who for t in interrupting),
            )
        )
    per_speaker.sort(key=lambda m: -m.talk_s)

    per_role: dict[Role, RoleMetrics] = {}
    for role in ("rep", "customer"):
        members = [m for m in per_speaker if m.role == role]
        if not members:
            continue
        role_turns = [t for t in spans if role_of.get(t.speaker) == role]
        longest = max(role_turns, key=lambda t: t.duration_s)
        role_talk_s = sum(talk[m.speaker] for m in members)
        words = sum(m.words for m in members)
        per_role[role] = RoleMetrics(
            talk_s=round(role_talk_s, 2),
            talk_ratio=round(role_talk_s / all_talk_s, 4),
            words=words,
            words_per_minute=_pace(words, role_talk_s, options.min_talk_s),
            questions=sum(m.questions for m in members),
            longest_monologue_s=round(longest.duration_s, 2),
            longest_monologue_start_s=round(longest.start_s, 2),
            interruptions=sum(m.interruptions for m in members),
        )

    call_talk_s = union_s([(s.start_s, s.end_s) for s in segments])
    words = sum(m.words for m in per_speaker)
    return CallMetrics(
        duration_s=round(duration_s, 3),
        talk_s=round(call_talk_s, 2),
        silence_s=round(max(0.0, duration_s - call_talk_s), 2),
        speaker_count=len(speakers),
        turns=len(spans),
        interruptions=len(interrupting),
        questions=sum(m.questions for m in per_speaker),
        words_per_minute=_pace(words, sum(talk.values()), options.min_talk_s),
        speakers=per_speaker,
        roles=per_role,
    )


def _pace(words: int, talk_s: float, min_talk_s: float) -> float:
    if talk_s < min_talk_s:
        return 0.0
    return round(words / (talk_s / 60), 1)
