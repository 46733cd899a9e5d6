"""How one utterance, with its neighbours and roles, becomes the classifier's input text.

Pure string work, shared by training (``scripts/train_extractor.py``) and inference, so the model
always sees text built the same way. The utterance is the first sequence; the context is the
second: in format 1 the turn before and the turn after, each tagged with who spoke; in format 2
as many neighbouring utterances as fill the same number of words (up to four on each side), so a
short fragment ("Marketing Expert.") is read with the sentence it finishes. A model's
``config.json`` records the format it was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# The formats this code builds; a model trained on another one is refused.
INPUT_FORMATS = (1, 2)

_PREV_WORDS = 30
_NEXT_WORDS = 20
_SELF_WORDS = 60
# Format 2: at most this many utterances on each side, and words around the utterance as many as
# its own words leave of this budget (at least the minimum), three fifths of them before it: the
# input holds 80 tokens, and in format 1 a long turn around a long utterance often cut the turn
# after it off.
_SIDE_TURNS = 4
_CONTEXT_WORDS = 46
_MIN_CONTEXT_WORDS = 12


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


def _side(turns: Sequence[Utterance], index: int, step: int, words: int) -> str:
    """Format 2: the utterances before (``step`` -1) or after (+1) ``turns[index]`` in time
    order, until they hold ``words`` words; one tag for consecutive utterances of one known
    speaker, cut to ``words`` words on the side away from the utterance."""
    anchor, count = turns[index], 0
    picked: list[Utterance] = []
    j = index + step
    while 0 <= j < len(turns) and count < words and len(picked) < _SIDE_TURNS:
        picked.append(turns[j])
        count += len(turns[j].text.split())
        j += step
    if step < 0:
        picked.reverse()
    groups: list[tuple[str, list[str]]] = []
    prev: Utterance | None = None
    for turn in picked:
        same = prev is not None and (prev.speaker, prev.role) == (turn.speaker, turn.role)
        if same and turn.speaker:
            groups[-1][1].extend(turn.text.split())
        else:
            groups.append((speaker_tag(turn, anchor), turn.text.split()))
        prev = turn
    # Cut the far end: from the start before the utterance, from the end after it.
    kept: list[tuple[str, list[str]]] = []
    left = words
    for tag, ws in groups if step > 0 else reversed(groups):
        if left <= 0:
            break
        part = ws[:left] if step > 0 else ws[-left:]
        left -= len(part)
        kept.append((tag, part))
    cut = count > words
    if step < 0:
        kept.reverse()
    text = " ".join(f"{tag} {' '.join(ws)}" for tag, ws in kept)
    if cut:
        text = f"... {text}" if step < 0 else f"{text} ..."
    return text


def model_input(turns: Sequence[Utterance], index: int, input_format: int = 1) -> tuple[str, str]:
    """The (utterance, context) text pair for ``turns[index]``, built in ``input_format``."""
    turn = turns[index]
    first = f"{speaker_tag(turn)} {_head(turn.text, _SELF_WORDS)}"
    before = after = None
    if input_format == 1:
        if index > 0:
            prev = turns[index - 1]
            before = f"{speaker_tag(prev, turn)} {_tail(prev.text, _PREV_WORDS)}"
        if index + 1 < len(turns):
            nxt = turns[index + 1]
            after = f"{speaker_tag(nxt, turn)} {_head(nxt.text, _NEXT_WORDS)}"
    else:
        budget = max(_MIN_CONTEXT_WORDS, _CONTEXT_WORDS - len(turn.text.split()))
        share = round(budget * 0.6)
        if index > 0:
            before = _side(turns, index, -1, share)
        if index + 1 < len(turns):
            after = _side(turns, index, 1, budget - share)
    context = [f"{side}: {text}" for side, text in (("before", before), ("after", after)) if text]
    return first, " ".join(context) or "no context"


def model_inputs(turns: Sequence[Utterance], input_format: int = 1) -> list[tuple[str, str]]:
    return [model_input(turns, i, input_format) for i in range(len(turns))]
