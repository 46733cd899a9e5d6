"""Extraction: action items, customer needs and objections, each grounded in the call.

::

    segments --features--> (utterance, context) pairs --classifier--> label probabilities
             --details--> owner, due date, category, clean statement --merge--> Items

``Extractor`` is the role; ``ModelExtractor`` (the fine-tuned MiniLM in ``models/extractor``) is
the one implementation. ``classifier.py`` wraps the model (torch is imported there, on first use),
``details.py`` holds the rules for owners, dates and statements, ``features.py`` builds the text the
model reads, ``dataset.py`` and ``metrics.py`` serve training and evaluation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from assistant.errors import OptionError
from assistant.extract.calibration import positions
from assistant.extract.dataset import CATEGORIES, LABELS
from assistant.extract.details import (
    Party,
    action_statement,
    clean_statement,
    find_due,
    resolve_owner,
)
from assistant.extract.features import Utterance
from assistant.report import Item, Segment

if TYPE_CHECKING:
    from assistant.extract.classifier import Classifier, Predictions

__all__ = [
    "CATEGORIES",
    "LABELS",
    "NEED_TALK_UTTERANCES",
    "ExtractOptions",
    "Extractor",
    "ModelExtractor",
    "extract_items",
    "get_extractor",
    "need_talk",
]

# Diarization labels ("SPEAKER_00", "S1") are not names; an owner is then given by role.
_NOT_A_NAME = re.compile(r"\d|^(speaker|sprecher|spk|unknown)\b", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class ExtractOptions:
    """How to extract; recorded with the report as provenance."""

    model_dir: Path | None = None  # None: models/extractor of the source tree
    # Items are given from the model's own per-label thresholds (fitted for F1 at real priors,
    # see assistant.extract.calibration); a value here also drops items less likely to be right.
    min_confidence: float = 0.0
    batch_size: int = 32
    # Two items of one kind whose quotes' sentence embeddings are this similar are one item.
    merge_similarity: float = 0.85
    # Consecutive utterances of one speaker with the same label, this close, are one item.
    join_gap_s: float = 2.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_confidence <= 1.0:
            raise OptionError(f"min_confidence must be between 0 and 1, not {self.min_confidence}")
        if self.batch_size < 1:
            raise OptionError(f"batch_size must be at least 1, not {self.batch_size}")
        if not 0.0 < self.merge_similarity <= 1.0:
            raise OptionError(
                f"merge_similarity must be above 0 and at most 1, not {self.merge_similarity}"
            )

    def as_dict(self) -> dict[str, object]:
        return {
            "model_dir": str(self.model_dir) if self.model_dir else None,
            "min_confidence": self.min_confidence,
            "merge_similarity": self.merge_similarity,
            "join_gap_s": self.join_gap_s,
        }


class Extractor(Protocol):
    name: str

    def extract(
        self, segments: list[Segment], call_date: date, language: str | None = None
    ) -> list[Item]: ...

    def model_name(self, language: str | None = None) -> str: ...

    def need_talk(
        self, segments: list[Segment], language: str | None = None
    ) -> dict[str, float]: ...


def is_name(speaker: str | None) -> bool:
    return bool(speaker) and not _NOT_A_NAME.search(speaker or "")


def _party(segment: Segment) -> Party:
    return Party(segment.speaker if is_name(segment.speaker) else None, segment.role)


def _other_party(segments: list[Segment], index: int) -> Party | None:
    """The person the speaker of ``segments[index]`` talks to: the nearest other speaker."""
    me = segments[index]
    for distance in range(1, 6):
        for j in (index - distance, index + distance):
            if 0 <= j < len(segments):
                other = segments[j]
                if me.speaker and other.speaker and other.speaker != me.speaker:
                    return _party(other)
                if me.role and other.role and other.role != me.role:
                    return _party(other)
    if me.role in ("rep", "customer"):
        return Party(None, "customer" if me.role == "rep" else "rep")
    return None


@dataclass
class _Candidate:
    kind: str
    indices: list[int]
    confidence: float
    category_probs: np.ndarray


def _candidates(
    segments: list[Segment], preds: Predictions, options: ExtractOptions
) -> list[_Candidate]:
    out: list[_Candidate] = []
    for i, seg in enumerate(segments):
        kind, confidence = preds.chosen[i], float(preds.confidence[i])
        if kind == "none" or confidence < options.min_confidence or not seg.text.strip():
            continue
        last = out[-1] if out else None
        if (
            last is not None
            and last.kind == kind
            and last.indices[-1] == i - 1
            and segments[i - 1].speaker == seg.speaker
            and seg.start_s - segments[i - 1].end_s <= options.join_gap_s
        ):
            last.indices.append(i)
            last.confidence = max(last.confidence, confidence)
            last.category_probs = last.category_probs + preds.category_probs[i]
            continue
        out.append(
            _Candidate(
                kind,
                [i],
                confidence,
                preds.category_probs[i].copy(),
            )
        )
    return out


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _take_trailing_deadline(
    segments: list[Segment], candidate: _Candidate, call_date: date, join_gap_s: float
) -> None:
    """A recognizer may cut "I'll send the quote" from "by Thursday.": when the commitment
    names no date and the same speaker's next short segment does, the item takes it in."""
    last = candidate.indices[-1]
    text = " ".join(segments[i].text for i in candidate.indices)
    if last + 1 >= len(segments) or find_due(text, call_date) is not None:
        return
    current, following = segments[last], segments[last + 1]
    if (
        following.speaker == current.speaker
        and following.start_s - current.end_s <= join_gap_s
        and len(following.text.split()) <= 8
        and find_due(following.text, call_date) is not None
    ):
        candidate.indices.append(last + 1)


def _build_item(
    segments: list[Segment],
    candidate: _Candidate,
    categories: tuple[str, ...],
    call_date: date,
    known_names: set[str],
    join_gap_s: float,
) -> Item:
    if candidate.kind == "action_item":
        _take_trailing_deadline(segments, candidate, call_date, join_gap_s)
    first, last = segments[candidate.indices[0]], segments[candidate.indices[-1]]
    quote = " ".join(segments[i].text.strip() for i in candidate.indices)
    owner = due = due_text = category = None
    if candidate.kind == "action_item":
        owner = resolve_owner(
            quote, _party(first), _other_party(segments, candidate.indices[0]), known_names
        )
        if found := find_due(quote, call_date):
            due, due_text = found.date, found.text
    elif candidate.kind == "objection":
        category = categories[int(candidate.category_probs.argmax())]
    return Item(
        id=0,
        kind=candidate.kind,
        text=action_statement(clean_statement(quote, candidate.kind), owner)
        if candidate.kind == "action_item"
        else clean_statement(quote, candidate.kind),
        quote=quote,
        start_s=first.start_s,
        end_s=last.end_s,
        speaker=first.speaker,
        role=first.role,
        confidence=round(candidate.confidence, 4),
        owner=owner,
        due=due,
        due_text=due_text,
        category=category,
        segment_ids=[segments[i].id for i in candidate.indices],
    )


def merge_duplicates(
    items: list[Item], embeddings: np.ndarray | None, similarity: float
) -> list[Item]:
    """Near-duplicates within a call (the recap at the end repeats the commitment made earlier)
    become one item: the one with a due date, else the surer one, keeps its quote and moment and
    gains the other's segments. Two items of one kind are duplicates when their quotes'
    embeddings (unit rows of ``embeddings``) are at least ``similarity`` alike, or when most
    words of the shorter quote are in the longer one."""
    unit = None
    if embeddings is not None:
        norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
        unit = embeddings / np.where(norms == 0, 1.0, norms)
    kept: list[int] = []
    merged: dict[int, Item] = {}
    for i, item in enumerate(items):
        twin = None
        for k in kept:
            other = merged[k]
            if other.kind != item.kind:
                continue
            a, b = _words(item.quote), _words(other.quote)
            shorter = min(len(a), len(b))
            contained = shorter >= 5 and len(a & b) / shorter >= 0.8
            if contained or (unit is not None and float(unit[i] @ unit[k]) >= similarity):
                twin = k
                break
        if twin is None:
            kept.append(i)
            merged[i] = item
            continue
        other = merged[twin]
        keep, drop = (
            (item, other)
            if (item.due is not None, item.confidence) > (other.due is not None, other.confidence)
            else (other, item)
        )
        merged[twin] = keep.model_copy(
            update={
                "segment_ids": sorted(set(keep.segment_ids) | set(drop.segment_ids)),
                "confidence": max(keep.confidence, drop.confidence),
                "owner": keep.owner or drop.owner,
            }
        )
    return [merged[k] for k in kept]


def extract_items(
    segments: list[Segment],
    call_date: date,
    classifier: Classifier,
    options: ExtractOptions | None = None,
    embed: Callable[[list[str]], np.ndarray] | None = None,
) -> list[Item]:
    """Items of one call, in order of time, with ids from 0. ``embed`` (the sentence encoder)
    finds near-duplicates by meaning; without it only by shared words."""
    options = options or ExtractOptions()
    if not segments:
        return []
    turns = [Utterance(s.text, s.speaker, s.role) for s in segments]
    preds = classifier.predict(
        classifier.inputs(turns),
        options.batch_size,
        positions(len(turns)),
        [s.speaker for s in segments],
    )
    known = {s.speaker for s in segments if s.speaker and is_name(s.speaker)}
    candidates = _candidates(segments, preds, options)
    items = [
        _build_item(segments, c, preds.categories, call_date, known, options.join_gap_s)
        for c in candidates
    ]
    vectors = embed([item.quote for item in items]) if embed and items else None
    items = merge_duplicates(items, vectors, options.merge_similarity)
    items.sort(key=lambda item: (item.start_s, item.segment_ids))
    return [item.model_copy(update={"id": n}) for n, item in enumerate(items)]


# Utterances of one speaker that ``need_talk`` reads at most, evenly spread through the call: a
# mean needs no more, and an hour-long call is read in a tenth of the time of extracting it.
NEED_TALK_UTTERANCES = 40


def need_talk(
    segments: list[Segment], classifier: Classifier, batch_size: int = 32
) -> dict[str, float]:
    """{speaker: the mean probability, over their utterances read with the roles withheld, that
    one states a customer need}: evidence for the role heuristic of who the customer is (only a
    customer states one, see DATA_CARD.md). Objections are left out: a seller turning down a
    low offer reads like one."""
    said: dict[str, list[int]] = {}
    for i, segment in enumerate(segments):
        if segment.speaker is not None:
            said.setdefault(segment.speaker, []).append(i)
    picked = {
        speaker: [ids[round(k)] for k in np.linspace(0, len(ids) - 1, NEED_TALK_UTTERANCES)]
        if len(ids) > NEED_TALK_UTTERANCES
        else ids
        for speaker, ids in said.items()
    }
    pairs = classifier.inputs([Utterance(s.text, s.speaker, None) for s in segments])
    read = sorted({i for ids in picked.values() for i in ids})
    if not read:
        return {}
    probs = classifier.predict([pairs[i] for i in read], batch_size).label_probs
    need = dict(zip(read, probs[:, classifier.labels.index("customer_need")], strict=True))
    return {speaker: float(np.mean([need[i] for i in ids])) for speaker, ids in picked.items()}


class ModelExtractor:
    """The fine-tuned classifiers (one per language folder) and the detail rules, each loaded
    once per process."""

    name = "minilm-lora"

    def __init__(self, options: ExtractOptions) -> None:
        from assistant.embeddings import get_sentence_encoder
        from assistant.extract.classifier import get_classifier

        self.options = options
        get_classifier(options.model_dir)  # a missing or broken model fails here, not mid-call
        self.embed = get_sentence_encoder()

    def extract(
        self, segments: list[Segment], call_date: date, language: str | None = None
    ) -> list[Item]:
        """Items of a call in ``language`` (the call's language picks the model, see
        ``classifier.get_classifier``)."""
        from assistant.extract.classifier import get_classifier

        classifier = get_classifier(self.options.model_dir, language)
        return extract_items(segments, call_date, classifier, self.options, self.embed)

    def need_talk(self, segments: list[Segment], language: str | None = None) -> dict[str, float]:
        """Each speaker's need talk (``need_talk``), read by the model ``language`` gets."""
        from assistant.extract.classifier import get_classifier

        classifier = get_classifier(self.options.model_dir, language)
        return need_talk(segments, classifier, self.options.batch_size)

    def model_name(self, language: str | None = None) -> str:
        """The model a call in ``language`` gets, as the report's provenance names it: its
        folder, base encoder and method (``de: e5-small + lora``)."""
        from assistant.extract.classifier import get_classifier

        classifier = get_classifier(self.options.model_dir, language)
        config = classifier.config
        base, method = config.get("base", "minilm"), config.get("method", "lora")
        return f"{classifier.model_dir.name}: {base} + {method}"


def get_extractor(options: ExtractOptions) -> ModelExtractor:
    return ModelExtractor(options)
