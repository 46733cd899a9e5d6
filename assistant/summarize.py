"""The call summary: who spoke, what the customer needs, the objections, the agreed next steps
(owner, due date), and the call's key moments, in the call's language.

Built from the extracted items and the segments; the key moments are the utterances most
central in embedding space (most similar to the rest of the call), picked so they do not repeat
each other. The embedder is passed in (``assistant.embeddings.get_sentence_encoder``),
so this module stays model-free and is tested with the real encoder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from assistant.errors import OptionError
from assistant.languages import guess_language
from assistant.report import Item, KeyMoment, Segment, Summary

# Texts in, one unit-length row per text out.
Embed = Callable[[list[str]], np.ndarray]

_TEXT = {
    "en": {
        "rep": "rep",
        "customer": "customer",
        "call": "Call",
        "between": "between",
        "and": "and",
        "minutes": "min",
        "needs": "The customer described {n} need(s)",
        "no_needs": "The customer stated no explicit needs",
        "objections": "raised {n} objection(s) ({cats})",
        "no_objections": "raised no objections",
        "steps": "{n} next step(s) were agreed.",
        "no_steps": "No next steps were agreed.",
        "owner": "owner",
        "due": "due",
        "categories": {
            "price": "price",
            "timing": "timing",
            "competitor": "competitor",
            "authority": "authority",
            "need": "need",
            "trust": "trust",
            "other": "other",
        },
    },
    "de": {
        "rep": "Vertrieb",
        "customer": "Kunde",
        "call": "Gespräch",
        "between": "zwischen",
        "and": "und",
        "minutes": "Min.",
        "needs": "Der Kunde nannte {n} Anforderung(en)",
        "no_needs": "Der Kunde nannte keine ausdrücklichen Anforderungen",
        "objections": "äußerte {n} Einwand/Einwände ({cats})",
        "no_objections": "äußerte keine Einwände",
        "steps": "{n} nächste(r) Schritt(e) wurden vereinbart.",
        "no_steps": "Es wurden keine nächsten Schritte vereinbart.",
        "owner": "verantwortlich",
        "due": "fällig",
        "categories": {
            "price": "Preis",
            "timing": "Zeitpunkt",
            "competitor": "Wettbewerb",
            "authority": "Entscheidungsbefugnis",
            "need": "Bedarf",
            "trust": "Vertrauen",
            "other": "Sonstiges",
        },
    },
}


@dataclass(frozen=True)
class SummarizeOptions:
    key_moments: int = 0  # 0: by the call's length, 3 to 5
    min_words: int = 6  # shorter utterances are never key moments
    diversity: float = 0.2  # how strongly a moment like one already picked is passed over
    duplicate_similarity: float = 0.7  # a moment this like one already picked is never picked
    # Added to the centrality of an utterance that is an item, times the item's confidence:
    # the moments a manager wants to replay are where needs, objections and steps were said.
    item_bonus: float = 0.1

    def __post_init__(self) -> None:
        if not 0 <= self.key_moments <= 20:
            raise OptionError(f"key_moments must be between 0 and 20, not {self.key_moments}")
        if not 0.0 <= self.item_bonus <= 1.0:
            raise OptionError(f"item_bonus must be between 0 and 1, not {self.item_bonus}")
        if not 0.0 <= self.diversity <= 1.0:
            raise OptionError(f"diversity must be between 0 and 1, not {self.diversity}")


def participants(segments: Sequence[Segment], language: str) -> list[str]:
    words = _TEXT[language]
    seen: dict[str, str | None] = {}
    for seg in segments:
        if seg.speaker and (seg.speaker not in seen or seen[seg.speaker] is None):
            seen[seg.speaker] = seg.role
    if not seen:
        roles = sorted({seg.role for seg in segments if seg.role})
        return [str(words[r]) for r in roles]
    return [f"{name} ({words[role]})" if role else name for name, role in seen.items()]


def key_moments(
    segments: Sequence[Segment],
    embed: Embed,
    count: int,
    options: SummarizeOptions,
    items: Sequence[Item] = (),
) -> list[KeyMoment]:
    """``count`` utterances by embedding centrality (mean similarity to the call's other
    utterances, a little more for items), no two alike (maximal marginal relevance), in order
    of time."""
    pool = [s for s in segments if len(s.text.split()) >= options.min_words]
    if not pool or count <= 0:
        return []
    vectors = np.asarray(embed([s.text for s in pool]), dtype=np.float32)
    similarity = vectors @ vectors.T
    n = len(pool)
    centrality = (similarity.sum(1) - similarity.diagonal()) / max(1, n - 1)
    weight = {sid: item.confidence for item in items for sid in item.segment_ids}
    centrality = centrality + options.item_bonus * np.array(
        [weight.get(s.id, 0.0) for s in pool], dtype=np.float32
    )
    chosen: list[int] = []
    while len(chosen) < min(count, n):
        redundancy = similarity[:, chosen].max(1) if chosen else np.zeros(n, dtype=np.float32)
        scores = centrality - options.diversity * redundancy
        scores[redundancy >= options.duplicate_similarity] = -np.inf
        scores[chosen] = -np.inf
        if not np.isfinite(scores).any():
            break
        chosen.append(int(scores.argmax()))
    return [
        KeyMoment(
            start_s=pool[i].start_s, end_s=pool[i].end_s, speaker=pool[i].speaker, text=pool[i].text
        )
        for i in sorted(chosen, key=lambda i: pool[i].start_s)
    ]


def _moment_count(duration_s: float, options: SummarizeOptions) -> int:
    if options.key_moments:
        return options.key_moments
    return 3 if duration_s < 600 else 4 if duration_s < 1800 else 5


def _step(item: Item, language: str) -> str:
    words = _TEXT[language]
    text = item.text
    details = []
    if item.owner:
        details.append(f"{words['owner']}: {item.owner}")
    if item.due:
        due = item.due.isoformat() + (f" ({item.due_text})" if item.due_text else "")
        details.append(f"{words['due']}: {due}")
    elif item.due_text:
        details.append(f"{words['due']}: {item.due_text}")
    return f"{text} ({'; '.join(details)})" if details else text


def summarize(
    segments: Sequence[Segment],
    items: Sequence[Item],
    embed: Embed | None,
    language: str | None = None,
    options: SummarizeOptions | None = None,
) -> Summary:
    """The structured summary of one call. ``language`` (en/de) picks the wording; when it is
    not known it is guessed from the words. Without ``embed`` there are no key moments."""
    options = options or SummarizeOptions()
    lang = language if language in _TEXT else guess_language([s.text for s in segments])
    words = _TEXT[lang]
    people = participants(segments, lang)
    needs = [i for i in items if i.kind == "customer_need"]
    objections = [i for i in items if i.kind == "objection"]
    steps = [i for i in items if i.kind == "action_item"]
    duration_s = max((s.end_s for s in segments), default=0.0) - min(
        (s.start_s for s in segments), default=0.0
    )
    head = str(words["call"])
    if len(people) >= 2:
        head += f" {words['between']} {', '.join(people[:-1])} {words['and']} {people[-1]}"
    head += f", {max(1, round(duration_s / 60))} {words['minutes']}."
    categories: dict[str, str] = words["categories"]  # type: ignore[assignment]
    cats = ", ".join(dict.fromkeys(categories.get(o.category or "other", "") for o in objections))
    need_part = str(words["needs"]).format(n=len(needs)) if needs else str(words["no_needs"])
    objection_part = (
        str(words["objections"]).format(n=len(objections), cats=cats)
        if objections
        else str(words["no_objections"])
    )
    step_part = str(words["steps"]).format(n=len(steps)) if steps else str(words["no_steps"])
    overview = f"{head} {need_part} {words['and']} {objection_part}. {step_part}"
    moments = (
        key_moments(segments, embed, _moment_count(duration_s, options), options, items)
        if embed
        else []
    )
    return Summary(
        overview=overview,
        participants=people,
        needs=[i.text for i in needs],
        objections=[
            f"{categories.get(i.category or 'other', i.category)}: {i.text}" for i in objections
        ],
        next_steps=[_step(i, lang) for i in steps],
        key_moments=moments,
    )
