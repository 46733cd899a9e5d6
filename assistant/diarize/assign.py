"""Words to speakers: pure and model-free, no text dropped."""

from __future__ import annotations

import numpy as np

from assistant.diarize.types import Turn
from assistant.report import Segment, Word, overlap_s


def speaker_at(turns: list[Turn], start_s: float, end_s: float) -> str | None:
    """The speaker who overlaps [start_s, end_s] most, else the nearest in time."""
    if not turns:
        return None
    talk: dict[str, float] = {}
    for turn in turns:
        if turn.start_s < end_s and turn.end_s > start_s:
            overlap = overlap_s(start_s, end_s, turn.start_s, turn.end_s)
            talk[turn.speaker] = talk.get(turn.speaker, 0.0) + overlap
    if talk:
        return max(talk, key=lambda who: talk[who])
    middle = (start_s + end_s) / 2

    def distance(turn: Turn) -> float:
        return max(turn.start_s - middle, middle - turn.end_s, 0.0)

    return min(turns, key=distance).speaker


def assign_speakers(segments: list[Segment], turns: list[Turn]) -> list[Segment]:
    """Give every word and segment a speaker; split segments where the speaker changes.

    Pure and model-free. No text is dropped: every word lands in exactly one output segment.
    A single word that flips speaker between two words of the same speaker keeps theirs.
    """
    out: list[Segment] = []
    for segment in segments:
        if not segment.words:
            speaker = speaker_at(turns, segment.start_s, segment.end_s)
            out.append(segment.model_copy(update={"id": len(out), "speaker": speaker}))
            continue
        speakers = [speaker_at(turns, w.start_s, w.end_s) for w in segment.words]
        for i in range(1, len(speakers) - 1):
            if speakers[i - 1] == speakers[i + 1] != speakers[i]:
                speakers[i] = speakers[i - 1]
        words = [
            w.model_copy(update={"speaker": s})
            for w, s in zip(segment.words, speakers, strict=True)
        ]
        groups: list[list[Word]] = []
        for word in words:
            if groups and groups[-1][-1].speaker == word.speaker:
                groups[-1].append(word)
            else:
                groups.append([word])
        if len(groups) == 1:
            out.append(
                segment.model_copy(
                    update={"id": len(out), "speaker": groups[0][0].speaker, "words": words}
                )
            )
            continue
        for group in groups:
            out.append(
                segment.model_copy(
                    update={
                        "id": len(out),
                        "start_s": group[0].start_s,
                        "end_s": group[-1].end_s,
                        "text": join_words(group),
                        "words": group,
                        "speaker": group[0].speaker,
                        "translation": None,
                    }
                )
            )
    return out


def join_words(words: list[Word]) -> str:
    return " ".join(w.text.strip() for w in words if w.text.strip())


def runs(labels: np.ndarray) -> list[tuple[int, int]]:
    """[first, last) index ranges of equal values in ``labels``."""
    spans = []
    first = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[first]:
            spans.append((first, i))
            first = i
    return spans
