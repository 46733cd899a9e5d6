"""How one utterance, with its neighbours and roles, becomes the classifier's input text.

Pure string work, shared by training (``scripts/train_extractor.py``) and inference, so the model
always sees text built the same way. The utterance is the first sequence; the context (the turn
before and the turn after, each tagged with who spoke) is the second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# Bumped when the input text changes; a model trained on another version is refused.
INPUT_FORMAT = 1

_PREV_WORDS = 30
_NEXT_WORDS = 20
_SELF_WORDS = 60


@dataclass(frozen=True)
class Utterance:
    """What the input builder needs from an utterance (a ``Segment`` or a training row)."""

    text: str
    speaker: str | None = None
    role: str | None = None


def speaker_tag(turn: Utterance, anchor: Utterance | None = None) -> str:
    """``rep:`` or ``customer:`` when the role is known; otherwise whether the same person as the
    anchor utterance spoke (``same speaker:`` / ``other speaker:``), or just ``speaker:``."""
    if turn.role in ("rep", "customer"):
        return f"{turn.role}:"
    if anchor is not None and turn.speaker and anchor.speaker:
        return "same speaker:" if turn.speaker == anchor.speaker else "other speaker:"
    return "speaker:"


def _head(text: str, words: int) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


def _tail(text: str, words: int) -> str:
    parts = text.split()
    return ("... " if len(parts) > words else "") + " ".join(parts[-words:])


def model_input(turns: Sequence[Utterance], index: int) -> tuple[str, str]:
    """The (utterance, context) text pair for ``turns[index]``."""
    turn = turns[index]
    first = f"{speaker_tag(turn)} {_head(turn.text, _SELF_WORDS)}"
    context = []
    if index > 0:
        before = turns[index - 1]
        context.append(f"before: {speaker_tag(before, turn)} {_tail(before.text, _PREV_WORDS)}")
    if index + 1 < len(turns):
        after = turns[index + 1]
        context.append(f"after: {speaker_tag(after, turn)} {_head(after.text, _NEXT_WORDS)}")
    return first, " ".join(context) or "no context"


def model_inputs(turns: Sequence[Utterance]) -> list[tuple[str, str]]:
    return [model_input(turns, i) for i in range(len(turns))]
