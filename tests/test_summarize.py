"""The call summary: structure, language, and key moments with the real sentence encoder."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from assistant.embeddings import SentenceEncoder, get_sentence_encoder
from assistant.errors import OptionError
from assistant.report import Item, Segment
from assistant.summarize import SummarizeOptions, guess_language, key_moments, summarize


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return get_sentence_encoder()


def seg(i: int, text: str, speaker: str | None, role: str | None) -> Segment:
    return Segment(
        id=i, start_s=30.0 * i, end_s=30.0 * i + 20, text=text, speaker=speaker, role=role
    )  # type: ignore[arg-type]


CALL = [
    seg(0, "Hi Maria, thanks for joining, can you hear me all right?", "Paul", "rep"),
    seg(1, "Yes, fine. Sorry, the traffic was terrible this morning.", "Maria", "customer"),
    seg(
        2,
        "Our warehouse team counts the inventory by hand every Friday night.",
        "Maria",
        "customer",
    ),
    seg(
        3,
        "Counting stock by hand takes the warehouse staff the whole weekend.",
        "Maria",
        "customer",
    ),
    seg(4, "Our scanners update the inventory counts in real time for every shelf.", "Paul", "rep"),
    seg(
        5,
        "The license cost is more than we spend on the whole warehouse software today.",
        "Maria",
        "customer",
    ),
    seg(
        6, "I will send the pricing for the warehouse inventory scanners by Monday.", "Paul", "rep"
    ),
    seg(7, "Great, bye.", "Maria", "customer"),
]

ITEMS = [
    Item(
        id=0,
        kind="customer_need",
        text="Our warehouse team counts the inventory by hand.",
        quote=CALL[2].text,
        start_s=60,
        end_s=80,
        confidence=0.9,
        segment_ids=[2],
    ),
    Item(
        id=1,
        kind="objection",
        text="The license cost is too high.",
        quote=CALL[5].text,
        start_s=150,
        end_s=170,
        confidence=0.8,
        category="price",
        segment_ids=[5],
    ),
    Item(
        id=2,
        kind="action_item",
        text="I will send the pricing by Monday.",
        quote=CALL[6].text,
        start_s=180,
        end_s=200,
        confidence=0.95,
        owner="Paul",
        due=date(2026, 3, 9),
        due_text="by Monday",
        segment_ids=[6],
    ),
]


def test_summary_structure(encoder: SentenceEncoder) -> None:
    summary = summarize(CALL, ITEMS, encoder, "en")
    assert summary.participants == ["Paul (rep)", "Maria (customer)"]
    assert summary.needs == ["Our warehouse team counts the inventory by hand."]
    assert summary.objections == ["price: The license cost is too high."]
    assert summary.next_steps == [
        "I will send the pricing by Monday. (owner: Paul; due: 2026-03-09 (by Monday))"
    ]
    assert summary.overview.startswith("Call between Paul (rep) and Maria (customer), 4 min.")
    assert "1 objection(s) (price)" in summary.overview
    assert "1 next step(s) were agreed." in summary.overview


def test_summary_in_german(encoder: SentenceEncoder) -> None:
    summary = summarize(CALL, ITEMS, encoder, "de")
    assert summary.participants == ["Paul (Vertrieb)", "Maria (Kunde)"]
    assert summary.overview.startswith("Gespräch zwischen Paul (Vertrieb) und Maria (Kunde)")
    assert summary.objections[0].startswith("Preis: ")
    assert "verantwortlich: Paul" in summary.next_steps[0]


def test_language_is_guessed_when_unknown() -> None:
    assert guess_language(["Wir haben das Problem, dass die Daten nicht da sind."]) == "de"
    assert guess_language(["We have the problem that the data is not there."]) == "en"
    assert guess_language([]) == "en"


def test_key_moments_are_central_and_distinct(encoder: SentenceEncoder) -> None:
    moments = key_moments(CALL, encoder, 3, SummarizeOptions())
    texts = [m.text for m in moments]
    assert len(texts) == 3
    # Small talk is least like the rest of the call; the warehouse inventory is the topic.
    assert CALL[1].text not in texts and CALL[0].text not in texts
    assert sum("inventory" in t or "warehouse" in t for t in texts) >= 2
    # The two near-identical complaints are not both picked.
    assert not (CALL[2].text in texts and CALL[3].text in texts)
    assert [m.start_s for m in moments] == sorted(m.start_s for m in moments)


def test_key_moment_count_follows_call_length(encoder: SentenceEncoder) -> None:
    # 40 utterances, 30 s apart: a 20-minute call.
    long_call = [seg(i, f"{s.text} Part {i}.", s.speaker, s.role) for i, s in enumerate(CALL * 5)]
    assert len(summarize(CALL, ITEMS, encoder, "en").key_moments) == 3
    assert len(summarize(long_call, ITEMS, encoder, "en").key_moments) == 4


def test_no_items_no_embedder() -> None:
    summary = summarize(CALL, [], None, None)
    assert summary.key_moments == [] and summary.next_steps == []
    assert "No next steps were agreed." in summary.overview


def test_encoder_gives_unit_vectors(encoder: SentenceEncoder) -> None:
    vectors = encoder(["the quote", "das Angebot", "a completely different topic about weather"])
    assert vectors.shape == (3, 384)
    assert np.allclose((vectors**2).sum(1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] - 0.5


def test_options_are_checked() -> None:
    with pytest.raises(OptionError, match="key_moments"):
        SummarizeOptions(key_moments=-1)
