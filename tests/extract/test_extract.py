"""Extraction: the real model on utterances it never saw, the detail rules, and the CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import ModelError, OptionError
from assistant.extract import (
    CATEGORIES,
    ExtractOptions,
    ModelExtractor,
    extract_items,
    merge_duplicates,
)
from assistant.extract.classifier import Classifier, check_artifact, get_classifier
from assistant.extract.details import Party, clean_statement, find_due, resolve_owner
from assistant.extract.features import Utterance, model_input
from assistant.report import Item, Segment

FRIDAY = date(2026, 3, 6)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return get_classifier()


def segments(lines: list[tuple[str, str | None, str]]) -> list[Segment]:
    """(speaker, role, text) lines as a call, eight seconds apart."""
    return [
        Segment(
            id=i,
            start_s=8.0 * i,
            end_s=8.0 * i + 7.0,
            text=text,
            speaker=speaker,
            role=role,  # type: ignore[arg-type]
        )
        for i, (speaker, role, text) in enumerate(lines)
    ]


# Written for these tests; none of them is in the training data.
CALL_EN = [
    ("Tom", "rep", "Hi Claire, good to see you again, how was the trade fair?"),
    ("Claire", "customer", "Oh it was busy, we were on our feet all day, but good."),
    (
        "Claire",
        "customer",
        "So the thing is, our field technicians still write every repair on paper and somebody "
        "types it all in again at the end of the week.",
    ),
    ("Tom", "rep", "Okay, and how many technicians do you have out there?"),
    ("Claire", "customer", "Around sixty, spread over four regions."),
    (
        "Claire",
        "customer",
        "Honestly the price you quoted is way above what we budgeted for this year, I don't see "
        "how we get that approved.",
    ),
    ("Tom", "rep", "Understood. Our mobile app syncs the repair reports straight into the ERP."),
    (
        "Tom",
        "rep",
        "What I'll do is send you a revised quote for sixty users by Thursday, and I'll include "
        "the multi-year discount.",
    ),
    ("Claire", "customer", "Sounds good, thanks Tom, talk soon."),
]

CALL_DE = [
    ("Lena", "rep", "Hallo Herr Wagner, schön, dass es heute klappt. Hören Sie mich gut?"),
    ("Jens", "customer", "Ja, alles gut, ich sitze im Büro, passt."),
    (
        "Jens",
        "customer",
        "Also unser Hauptproblem ist, dass die Schichtpläne immer noch per Excel verschickt "
        "werden und keiner weiß, welche Version gerade gilt.",
    ),
    ("Lena", "rep", "Verstehe. Wie viele Mitarbeiter planen Sie da ungefähr?"),
    ("Jens", "customer", "So um die dreihundert, in zwei Werken."),
    (
        "Jens",
        "customer",
        "Ehrlich gesagt sind wir mit unserem jetzigen Anbieter vertraglich noch bis Ende nächsten "
        "Jahres gebunden, vorher können wir da gar nichts wechseln.",
    ),
    ("Lena", "rep", "Unsere Lösung zeigt jedem Mitarbeiter den aktuellen Plan direkt am Handy."),
    (
        "Lena",
        "rep",
        "Gut, dann schicke ich Ihnen bis Mittwoch eine Zusammenfassung und einen Vorschlag für "
        "ein Pilotprojekt in einem Werk.",
    ),
    ("Jens", "customer", "Prima, danke Ihnen, bis dann."),
]


# Gold labels of the utterances above (index: label); the rest are small talk or answers.
GOLD = {2: "customer_need", 5: "objection", 7: "action_item", 0: "none", 4: "none", 6: "none"}

# Two more unseen calls, each with needs and objections side by side (the boundary the German
# model found hardest) and action items owned by either side.
CALL_EN_2 = [
    (
        "Priya",
        "rep",
        "Thanks for making time, Mark. Did the team get a chance to look at the trial account?",
    ),
    ("Mark", "customer", "A couple of them did, yeah, they clicked around a bit last week."),
    (
        "Mark",
        "customer",
        "What we really need is one place where the account managers see every open ticket, "
        "right now they jump between three spreadsheets and the CRM.",
    ),
    ("Priya", "rep", "How does your team get the ticket data today, is it an export?"),
    (
        "Mark",
        "customer",
        "To be honest, we got burned by a vendor last year who promised the same thing and it "
        "took them eight months to go live, so I'm skeptical.",
    ),
    (
        "Priya",
        "rep",
        "Our standard onboarding takes about three weeks, and you get a named engineer for it.",
    ),
    (
        "Mark",
        "customer",
        "And we're in the middle of a reorg, so nothing new gets signed before the summer.",
    ),
    (
        "Mark",
        "customer",
        "Could you send me the security questionnaire and a reference customer in logistics by "
        "Friday?",
    ),
    (
        "Priya",
        "rep",
        "Sure, I'll send both over by Friday and set up a call with the reference for the week "
        "after.",
    ),
    ("Mark", "customer", "Great, thanks, talk then."),
]
GOLD_EN_2 = {
    0: "none",
    2: "customer_need",
    3: "none",
    4: "objection",
    5: "none",
    6: "objection",
    7: "action_item",
    8: "action_item",
}

CALL_DE_2 = [
    (
        "Sabine",
        "rep",
        "Grüß Gott Herr Huber, danke, dass Sie sich die Zeit nehmen. Haben Sie die Unterlagen "
        "bekommen?",
    ),
    ("Stefan", "customer", "Ja, hab ich kurz überflogen, ähm, war ganz interessant."),
    (
        "Stefan",
        "customer",
        "Also bei uns ist das Problem, dass die Disponenten jeden Morgen eine Stunde lang Touren "
        "von Hand zusammenbauen, das muss schneller gehen.",
    ),
    ("Sabine", "rep", "Wie viele Fahrzeuge haben Sie denn im Einsatz?"),
    (
        "Stefan",
        "customer",
        "Und wir bräuchten eine Anbindung an unser Lagerverwaltungssystem, sonst pflegen wir "
        "alles doppelt.",
    ),
    (
        "Sabine",
        "rep",
        "Bei uns laufen die Updates automatisch über Nacht, da müssen Sie gar nichts machen.",
    ),
    (
        "Stefan",
        "customer",
        "Ehrlich gesagt, für das Geld kriegen wir ja fast eine zusätzliche Disponentin, das "
        "rechnet sich für uns so nicht.",
    ),
    (
        "Stefan",
        "customer",
        "Und das kann ich nicht alleine entscheiden, das muss am Ende unser Geschäftsführer "
        "freigeben.",
    ),
    ("Sabine", "rep", "Verstehe. Wie lange dauert bei Ihnen so eine Freigabe normalerweise?"),
    (
        "Stefan",
        "customer",
        "Ich schicke Ihnen bis Freitag die Liste mit unseren Standorten, dann können Sie das "
        "durchrechnen.",
    ),
    (
        "Sabine",
        "rep",
        "Super, und ich bereite für nächste Woche eine Rechnung mit Ihren Zahlen vor, die Sie "
        "Ihrem Chef zeigen können.",
    ),
    ("Stefan", "customer", "Passt, dann bis nächste Woche."),
]
GOLD_DE_2 = {
    0: "none",
    2: "customer_need",
    3: "none",
    4: "customer_need",
    5: "none",
    6: "objection",
    7: "objection",
    8: "none",
    9: "action_item",
    10: "action_item",
}

UNSEEN = [
    pytest.param(CALL_EN, GOLD, "en", id="en-1"),
    pytest.param(CALL_EN_2, GOLD_EN_2, "en", id="en-2"),
    pytest.param(CALL_DE, GOLD, "de", id="de-1"),
    pytest.param(CALL_DE_2, GOLD_DE_2, "de", id="de-2"),
]


def _labels(classifier: Classifier, call: list[tuple[str, str, str]], roles: bool) -> list[str]:
    turns = [Utterance(text, speaker, role if roles else None) for speaker, role, text in call]
    preds = classifier.predict(classifier.inputs(turns))
    return list(preds.chosen)


@pytest.mark.parametrize(("call", "gold", "language"), UNSEEN)
def test_model_labels_unseen_utterances(
    call: list[tuple[str, str, str]], gold: dict[int, str], language: str
) -> None:
    """Every unseen call, through the model its language gets: at most one labelled utterance
    wrong, and every action item and the opening small talk right."""
    labels = _labels(get_classifier(None, language), call, roles=True)
    misses = {i: (want, labels[i]) for i, want in gold.items() if labels[i] != want}
    assert len(misses) <= 1, misses
    assert all(labels[i] == "action_item" for i, want in gold.items() if want == "action_item")
    assert labels[0] == "none"


def test_model_works_without_roles(classifier: Classifier) -> None:
    """Diarization may give speakers without roles; commitments and small talk still come out
    right, and most of the rest."""
    labels = _labels(classifier, CALL_EN, roles=False)
    assert labels[7] == "action_item"
    assert labels[0] == "none"
    assert sum(labels[i] == gold for i, gold in GOLD.items()) >= 4


def test_probabilities_are_distributions(classifier: Classifier) -> None:
    turns = [Utterance(text, speaker, role) for speaker, role, text in CALL_DE]
    preds = classifier.predict(classifier.inputs(turns), batch_size=3)
    assert preds.label_probs.shape == (len(turns), 4)
    assert abs(float(preds.label_probs.sum(1).mean()) - 1.0) < 1e-4
    assert ((preds.embeddings**2).sum(1) > 0.99).all()


def test_extract_items_are_grounded(classifier: Classifier) -> None:
    segs = segments(CALL_EN)
    items = extract_items(segs, FRIDAY, classifier)
    kinds = {item.kind for item in items}
    assert kinds == {"action_item", "customer_need", "objection"}
    action = next(i for i in items if i.kind == "action_item")
    assert action.segment_ids == [7]
    assert (action.start_s, action.end_s) == (segs[7].start_s, segs[7].end_s)
    assert action.quote == segs[7].text
    assert action.owner == "Tom"
    assert action.due == date(2026, 3, 12)  # the Thursday after Friday 6 March
    assert action.due_text == "by Thursday"
    assert "send you a revised quote" in action.text
    assert action.text[0].isupper() and action.text.endswith(".") and "\n" not in action.text
    objection = next(i for i in items if i.kind == "objection")
    assert objection.category == "price"
    thresholds = classifier.config["calibration"]
    assert all(thresholds[i.kind]["threshold"] <= i.confidence <= 1.0 for i in items)
    assert [i.id for i in items] == list(range(len(items)))
    assert [i.start_s for i in items] == sorted(i.start_s for i in items)


def test_a_call_gets_the_model_of_its_language() -> None:
    """German calls go to the German model (multilingual-e5-small, models/extractor/de); every
    other language, and a call whose language is not known, to the default (MiniLM)."""
    german = get_classifier(None, "de")
    assert german.model_dir.name == "de" and german.config["base"] == "e5-small"
    english = get_classifier()
    assert english.config.get("base", "minilm") == "minilm"
    assert get_classifier(None, "en") is english
    assert get_classifier(None, "fr") is english
    assert get_classifier(None, "../de") is english  # a language code, never a path
    found = ModelExtractor(ExtractOptions()).extract(segments(CALL_DE), FRIDAY, "de")
    by_model = {
        model: [
            (i.kind, i.segment_ids, i.confidence)
            for i in extract_items(segments(CALL_DE), FRIDAY, classifier)
        ]
        for model, classifier in (("de", german), ("default", english))
    }
    assert by_model["de"] != by_model["default"]  # the two models can be told apart
    assert [(i.kind, i.segment_ids, i.confidence) for i in found] == by_model["de"]


def test_extract_german_due_and_owner() -> None:
    items = extract_items(segments(CALL_DE), FRIDAY, get_classifier(None, "de"))
    action = next(i for i in items if i.kind == "action_item")
    assert action.owner == "Lena"
    assert action.due_text == "bis Mittwoch"
    assert action.due == date(2026, 3, 11)
    bound = next(i for i in items if i.segment_ids == [5])
    assert bound.kind == "objection"
    # Categories are the weakest output (68 % on the test calls); only the English price
    # objection above is pinned.
    assert bound.category in CATEGORIES


def test_min_confidence_filters(classifier: Classifier) -> None:
    every = extract_items(segments(CALL_EN), FRIDAY, classifier, ExtractOptions(min_confidence=0.0))
    sure = extract_items(segments(CALL_EN), FRIDAY, classifier, ExtractOptions(min_confidence=0.9))
    assert all(item.confidence >= 0.9 for item in sure)
    assert {i.quote for i in sure} <= {i.quote for i in every}
    assert len(every) >= len(sure)


def test_empty_call_has_no_items(classifier: Classifier) -> None:
    assert extract_items([], FRIDAY, classifier) == []


def test_repeated_commitment_is_one_item(classifier: Classifier) -> None:
    recap = (
        "Tom",
        "rep",
        "So to recap, I'll send you a revised quote for sixty users by Thursday.",
    )
    items = extract_items(segments([*CALL_EN, recap]), FRIDAY, classifier)
    assert len([i for i in items if i.kind == "customer_need"]) == 1
    actions = [i for i in items if i.kind == "action_item"]
    assert len(actions) == 1
    assert set(actions[0].segment_ids) == {7, 9}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'll send the revised quote by Thursday", "Anna"),
        ("Can you loop in your CFO next week?", "Bernd"),
        ("Markus will check the calendar and get back to us", "Markus"),
        ("Herr Becker wird das intern mit dem Einkauf klären", "Herr Becker"),
        ("Können Sie mir die Zahlen bis Freitag schicken?", "Bernd"),
        ("Ich schicke Ihnen das Angebot morgen", "Anna"),
        ("Der Vertrag wird dann von uns vorbereitet", "Anna"),
    ],
)
def test_owner(text: str, expected: str) -> None:
    assert resolve_owner(text, Party("Anna", "rep"), Party("Bernd", "customer")) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Max, you'll build the first version of the dashboard for Friday", "Max"),
        ("Okay, and Dr. Weber, could you check the numbers with finance?", "Dr. Weber"),
        ("Frau Kaya, können Sie mir die Zahlen schicken?", "Frau Kaya"),
        ("Okay, could you send the floor plan?", "Bernd"),
        ("Thanks, Anna, can you send it again?", "Bernd"),  # the speaker herself
        ("Honestly, could you send me the deck?", "Bernd"),  # no name at all
        ("Look, can you check that?", "Bernd"),
        ("Emily, you'll take the notes.", "Bernd"),  # a name the call does not know
    ],
)
def test_a_request_belongs_to_the_person_it_addresses(text: str, expected: str) -> None:
    """A name the call knows, said just before the request, is its owner; any other word there
    is not, and the request goes to the other party as before."""
    known = {"Anna", "Bernd", "Max", "Dr. Weber", "Frau Kaya"}
    owner = resolve_owner(text, Party("Anna", "rep"), Party("Bernd", "customer"), known)
    assert owner == expected


def test_owner_by_role_when_names_are_unknown() -> None:
    assert (
        resolve_owner("Could you send me the floor plan?", Party(None, "rep"), None) == "customer"
    )
    assert (
        resolve_owner("I'll set up the trial account", Party(None, "customer"), None) == "customer"
    )


@pytest.mark.parametrize(
    ("text", "due_text", "due"),
    [
        ("I'll send it by Thursday", "by Thursday", date(2026, 3, 12)),
        ("we'll get back to you next week", "next week", date(2026, 3, 13)),
        ("before the end of the quarter", "before the end of the quarter", date(2026, 3, 31)),
        ("by end of day tomorrow", "by end of day tomorrow", date(2026, 3, 7)),
        ("bis Mittwoch schicke ich das", "bis Mittwoch", date(2026, 3, 11)),
        ("Ende des Monats", "Ende des Monats", date(2026, 3, 31)),
        ("am 15. April", "am 15. April", date(2026, 4, 15)),
        ("bis zum 20.3.", "bis zum 20.3", date(2026, 3, 20)),
        ("in two weeks", "in two weeks", date(2026, 3, 20)),
        ("Anfang Mai", "Anfang Mai", date(2026, 5, 1)),
        ("on March 18th", "on March 18th", date(2026, 3, 18)),
        ("heute noch", "heute noch", date(2026, 3, 6)),
    ],
)
def test_due_dates(text: str, due_text: str, due: date) -> None:
    found = find_due(text, FRIDAY)
    assert found is not None
    assert (found.text, found.date) == (due_text, due)


def test_no_due_date_when_none_is_said() -> None:
    assert find_due("we might look at that someday", FRIDAY) is None
    assert find_due("Ich melde mich bei Ihnen", FRIDAY) is None


def test_clean_statement() -> None:
    assert (
        clean_statement(
            "okay so um here's my plan, I'll I'll send the the deck tomorrow", "action_item"
        )
        == "I'll send the deck tomorrow."
    )
    assert clean_statement("Ja, ähm, wir brauchen das auf Tablets", "customer_need") == (
        "Wir brauchen das auf Tablets."
    )


def test_merge_keeps_the_item_with_a_date() -> None:
    import numpy as np

    def item(i: int, due: date | None, conf: float) -> Item:
        return Item(
            id=i,
            kind="action_item",
            text="t",
            quote="I'll send the quote by Thursday" if due else "I'll send the quote",
            start_s=float(i),
            end_s=float(i) + 1,
            confidence=conf,
            due=due,
            segment_ids=[i],
        )

    vec = np.ones(4)
    merged = merge_duplicates(
        [item(0, None, 0.99), item(5, FRIDAY, 0.8)], np.stack([vec, vec]), 0.9
    )
    assert len(merged) == 1
    assert merged[0].due == FRIDAY and merged[0].segment_ids == [0, 5]
    assert merged[0].confidence == 0.99


FRAGMENTS = [
    Utterance("okay so for next time", "A"),
    Utterance("mm-hmm", "B"),
    Utterance("you are going to look at the", "A"),
    Utterance("user interface.", "A"),
    Utterance("yeah", "C"),
    Utterance("and I'll do the costs", "B"),
]


def test_the_first_input_format_reads_one_turn_either_side() -> None:
    """Format 1, which the shipped models were trained on, stays exactly as it was."""
    assert model_input(FRAGMENTS, 3) == (
        "speaker: user interface.",
        "before: same speaker: you are going to look at the after: other speaker: yeah",
    )
    assert model_input(FRAGMENTS, 0)[1] == "after: other speaker: mm-hmm"
    assert model_input([Utterance("hello")], 0)[1] == "no context"


def test_the_second_input_format_reads_a_fragment_with_what_it_finishes() -> None:
    """Format 2 reads as many neighbours as fill the words the utterance leaves: a fragment
    comes with the sentence it ends (one tag for one speaker's consecutive utterances), a long
    utterance with a short context that still reaches the turn after it."""
    first, context = model_input(FRAGMENTS, 3, 2)
    assert first == "speaker: user interface."
    assert context == (
        "before: same speaker: okay so for next time other speaker: mm-hmm same speaker: you are "
        "going to look at the after: other speaker: yeah other speaker: and I'll do the costs"
    )
    long = " ".join(["word"] * 40)
    turns = [Utterance(long, "A"), Utterance(long, "B"), Utterance(long, "A")]
    _, context = model_input(turns, 1, 2)
    before, after = context.split(" after: ")
    assert before == "before: ... other speaker: " + " ".join(["word"] * 7)
    assert after == "other speaker: " + " ".join(["word"] * 5) + " ..."


def test_a_model_of_an_unknown_input_format_is_refused(tmp_path: Path) -> None:
    for name in ("config.json", "heads.safetensors"):
        shutil.copy(ROOT / "models" / "extractor" / name, tmp_path / name)
    config = json.loads((tmp_path / "config.json").read_text())
    config["input_format"] = 3
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="input format 3, this code builds formats 1, 2"):
        check_artifact(tmp_path)


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="train one with"):
        check_artifact(tmp_path)
    with pytest.raises(ModelError, match="no extraction model"):
        Classifier(tmp_path)


def _with_second_opinion(tmp_path: Path, **spec: object) -> Path:
    """A copy of the shipped English model whose config names the German model as its second
    opinion for action items (``spec`` overrides; an empty spec: no second opinion)."""
    source = ROOT / "models" / "extractor"
    folder = tmp_path / ("second" if spec else "alone")
    folder.mkdir()
    shutil.copy(source / "heads.safetensors", folder / "heads.safetensors")
    for name in ("adapter", "de"):
        (folder / name).symlink_to(source / name)
    config = json.loads((source / "config.json").read_text())
    config.pop("second_opinion", None)
    if spec:
        config["second_opinion"] = {
            "model": "de",
            "labels": ["action_item"],
            "weight": 0.5,
            "start": 0.01,
            **spec,
        }
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_a_second_opinion_averages_the_log_odds_of_its_labels(tmp_path: Path) -> None:
    both = Classifier(_with_second_opinion(tmp_path, weight=0.4))
    alone = Classifier(_with_second_opinion(tmp_path))
    pairs = both.inputs([Utterance(text, speaker, role) for speaker, role, text in CALL_EN])
    first = alone.forward(pairs, 32)[0]
    blended = both.predict(pairs).label_probs
    read = first[:, 0] >= 0.01  # action_item, the first label
    assert read.any() and not read.all()
    # The German model reads the same rows together, as the second opinion does: the float32
    # parts between its int8 layers differ in their last digits with the batch's shape.
    rows = [p for p, r in zip(pairs, read, strict=True) if r]
    second = get_classifier(None, "de").forward(rows, 32)[0]
    z = 0.6 * np.log(first[read, 0] / (1 - first[read, 0])) + 0.4 * np.log(
        second[:, 0] / (1 - second[:, 0])
    )
    np.testing.assert_allclose(blended[read, 0], 1 / (1 + np.exp(-z)), rtol=1e-4)
    # Rows below the start keep the first model's probability, and so do the other labels.
    np.testing.assert_array_equal(blended[~read, 0], first[~read, 0])
    np.testing.assert_array_equal(blended[:, 1:], first[:, 1:])


def test_a_second_opinion_that_cannot_be_read_is_a_clear_error(tmp_path: Path) -> None:
    for name, spec, message in (
        ("label", {"labels": ["decision"]}, "has no label decision"),
        ("folder", {"model": "fr"}, "no extraction model in .*fr"),
    ):
        (tmp_path / name).mkdir()
        with pytest.raises(ModelError, match=message):
            Classifier(_with_second_opinion(tmp_path / name, **spec))


def test_options_are_checked() -> None:
    with pytest.raises(OptionError, match="min_confidence"):
        ExtractOptions(min_confidence=1.5)
    with pytest.raises(OptionError, match="batch_size"):
        ExtractOptions(batch_size=0)


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def _write_call(path: Path, lines: list[tuple[str, str | None, str]]) -> Path:
    """The call as a .jsonl transcript with speakers and roles, and no language."""
    rows = [
        {
            "text": s.text,
            "start_s": s.start_s,
            "end_s": s.end_s,
            "speaker": s.speaker,
            "role": s.role,
        }
        for s in segments(lines)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_analyze_transcript_fills_items_summary_trackers(tmp_path: Path) -> None:
    path = _write_call(tmp_path / "call.jsonl", CALL_EN)
    result = _cli("analyze", str(path), "--call-date", "2026-03-06")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    kinds = {item["kind"] for item in report["items"]}
    assert kinds == {"action_item", "customer_need", "objection"}
    action = next(i for i in report["items"] if i["kind"] == "action_item")
    assert action["due"] == "2026-03-12" and action["owner"] == "Tom"
    summary = report["summary"]
    assert "Tom (rep)" in summary["participants"]
    assert any("2026-03-12" in step for step in summary["next_steps"])
    assert 3 <= len(summary["key_moments"]) <= 5
    pricing = next(t for t in report["trackers"] if t["name"] == "pricing")
    assert pricing["count"] >= 2 and pricing["by_role"]["customer"] >= 1
    assert report["provenance"]["options"]["extract"]["model"] == "extractor: minilm + lora"


def test_a_german_transcript_is_read_by_the_german_model(tmp_path: Path) -> None:
    """A transcript that names no language is read for it: a German call gets the German
    model, and the report says which model gave its items."""
    result = _cli("analyze", str(_write_call(tmp_path / "anruf.jsonl", CALL_DE)))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["provenance"]["options"]["extract"]["model"] == "de: e5-small + lora"
    action = next(i for i in report["items"] if i["kind"] == "action_item")
    assert action["owner"] == "Lena" and action["due_text"] == "bis Mittwoch"


def test_analyze_with_a_missing_model_fails_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "call.jsonl"
    path.write_text(json.dumps({"text": "hello", "start_s": 0, "end_s": 1}) + "\n")
    result = _cli("analyze", str(path), env={"ASSISTANT_EXTRACTOR_DIR": str(tmp_path / "none")})
    assert result.returncode == 2
    assert result.stderr.startswith("error: no extraction model in")
    assert "Traceback" not in result.stderr


def test_deadline_cut_into_the_next_segment_is_taken_in(classifier: Classifier) -> None:
    lines = [
        *CALL_EN[:7],
        ("Tom", "rep", "Okay, so I'll send you a revised quote for sixty users"),
        ("Tom", "rep", "by Thursday."),
        ("Claire", "customer", "Sounds good, thanks Tom, talk soon."),
    ]
    segs = segments(lines)
    segs[8] = segs[8].model_copy(update={"start_s": segs[7].end_s + 0.3})
    action = next(i for i in extract_items(segs, FRIDAY, classifier) if i.kind == "action_item")
    assert action.segment_ids == [7, 8]
    assert action.due == date(2026, 3, 12) and action.due_text == "by Thursday"
    assert action.quote.endswith("by Thursday.")


def test_action_statement_reads_like_a_summary() -> None:
    from assistant.extract.details import action_statement

    assert action_statement("I'll send the quote by Thursday.", "Tom") == (
        "Tom will send the quote by Thursday."
    )
    assert action_statement("Can you loop in your CFO next week?", "Priya") == (
        "Priya to loop in your CFO next week."
    )
    assert action_statement("Ich schicke Ihnen das Angebot.", "Lena") == (
        "Ich schicke Ihnen das Angebot."
    )
    assert action_statement("I'll send it.", None) == "I'll send it."


# Written for this test. The rep sets the agenda in the future tense at the opening, commits to
# something mid-call, and agrees next steps at the close.
CALL_WITH_AGENDA = [
    ("Mia", "rep", "Hi Sam, thanks for joining, can you hear me all right?"),
    ("Sam", "customer", "Yes, loud and clear."),
    (
        "Mia",
        "rep",
        "Great. So today I'm going to walk you through the reporting module and then we'll "
        "look at how the rollout would work.",
    ),
    ("Sam", "customer", "Sounds good."),
    ("Mia", "rep", "We are going to start with the dashboard, which every regional team gets."),
    ("Sam", "customer", "Okay. Is the data encrypted at rest? Our security team will ask."),
    ("Mia", "rep", "It is. I'll email you our security whitepaper right after this call."),
    ("Sam", "customer", "Right now our analysts build these reports by hand every Monday."),
    ("Mia", "rep", "That is exactly what this replaces."),
    ("Sam", "customer", "How does pricing work for forty users?"),
    ("Mia", "rep", "It's per seat, thirty euros a month, with a discount above fifty."),
    ("Sam", "customer", "That's a bit above what we budgeted."),
    ("Mia", "rep", "Understood, let me see what an annual contract would do."),
    ("Sam", "customer", "Please do."),
    ("Mia", "rep", "So as next steps, I'll send you the revised quote by Friday."),
    ("Sam", "customer", "And I'll set up a call with our finance lead next week."),
    ("Mia", "rep", "Perfect, talk soon."),
]


def test_an_agenda_at_the_opening_is_not_an_action_item(classifier: Classifier) -> None:
    """Where in the call an utterance is said counts for action items (real meetings agree
    theirs at the end): the rep's agenda at the opening ("I'm going to walk you through...")
    is no action item, while a clear commitment mid-call and the next steps at the close are.
    Without the position, the agenda was an action item at 0.62."""
    items = extract_items(segments(CALL_WITH_AGENDA), FRIDAY, classifier)
    actions = [i.segment_ids for i in items if i.kind == "action_item"]
    assert [2] not in actions
    assert [6] in actions
    assert [14] in actions and [15] in actions


# An internal wrap-up, written for this test: one assignment said over two utterances, the
# second of which names no task of its own.
WRAP_UP = [
    ("Dana", None, "Okay, so we looked at the three options for the dashboard."),
    ("Max", None, "Yeah, I think the second one is the cleanest."),
    ("Lena", None, "Agreed, and it fits what the sales team asked for."),
    ("Dana", None, "Good. Anything else on the budget?"),
    ("Max", None, "No, we're within what finance gave us."),
    ("Lena", None, "The licence costs are the same for all three."),
    ("Dana", None, "Right, then let's wrap up."),
    ("Dana", None, "Max, you'll build the first version of the dashboard for Friday,"),
    ("Dana", None, "and Lena, the export to the finance system."),
    ("Lena", None, "Sure."),
    ("Dana", None, "Thanks everyone, see you next week."),
]


def test_the_rest_of_an_assignment_joins_its_action_item(classifier: Classifier) -> None:
    """ "and Lena, the export to the finance system." is an action item only as the rest of the
    one before it (0.23 on its own, under the threshold of 0.38): it joins the item its speaker
    began, whose owner is the person first addressed. Without the neighbour threshold the item
    stopped at the first utterance, and its owner was whoever spoke last (Lena)."""
    items = extract_items(segments(WRAP_UP), FRIDAY, classifier)
    actions = [i for i in items if i.kind == "action_item"]
    assert [i.segment_ids for i in actions] == [[7, 8]]
    assert actions[0].owner == "Max"
    assert actions[0].quote.endswith("the export to the finance system.")


def test_recalibration_refuses_bad_arguments_and_changes_nothing(tmp_path: Path) -> None:
    """``scripts/calibrate_extractor.py`` names what is wrong and leaves the model as it was."""
    script = [sys.executable, str(ROOT / "scripts" / "calibrate_extractor.py")]
    run = subprocess.run(
        [*script, "--model-dir", str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 2 and "no extraction model" in run.stderr
    config = ROOT / "models" / "extractor" / "config.json"
    before = config.read_bytes()
    args = ["--model-dir", str(config.parent), "--holdout", "calls_xx"]
    run = subprocess.run([*script, *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "--holdout names no data file: calls_xx" in run.stderr
    assert "Traceback" not in run.stderr
    args = ["--model-dir", str(config.parent), "--ami", str(tmp_path / "none.jsonl.gz")]
    run = subprocess.run([*script, *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "no AMI meetings" in run.stderr
    assert config.read_bytes() == before


def test_training_refuses_a_start_that_is_no_model_and_writes_nothing(tmp_path: Path) -> None:
    """``train_extractor.py --start-from`` a folder without a model says so before reading any
    data, and writes nothing."""
    script = [sys.executable, str(ROOT / "scripts" / "train_extractor.py")]
    ami = ROOT / "models" / "extractor" / "config.json"  # any file: it is not read
    out = tmp_path / "out"
    args = ["--start-from", str(tmp_path), "--ami", str(ami), "--out", str(out)]
    run = subprocess.run([*script, *args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "--start-from: no extraction model" in run.stderr
    assert "Traceback" not in run.stderr and not out.exists()


def merge_script() -> list[str]:
    return [sys.executable, str(ROOT / "scripts" / "merge_extractors.py")]


def test_a_merged_adapter_adds_the_mean_of_the_models_updates() -> None:
    """Merging seeds: the merged LoRA update B @ A is exactly the mean of the models' updates."""
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    from merge_extractors import merge_adapters

    torch.manual_seed(0)
    name = "encoder.layer.5.attention.self.query.lora_{}.weight"
    adapters = [
        {name.format("A"): torch.randn(4, 12), name.format("B"): torch.randn(12, 4)}
        for _ in range(3)
    ]
    merged = merge_adapters(adapters)
    assert merged[name.format("A")].shape == (12, 12)
    update = merged[name.format("B")] @ merged[name.format("A")]
    mean = sum(a[name.format("B")] @ a[name.format("A")] for a in adapters) / 3
    assert torch.allclose(update, mean, atol=1e-5)
    assert not torch.allclose(update, adapters[0][name.format("B")] @ adapters[0][name.format("A")])
    # A model merged from two seeds counts twice beside a third seed's: every seed weighs alike.
    again = merge_adapters([merge_adapters(adapters[:2]), adapters[2]], [2, 1])
    assert again[name.format("A")].shape == (12, 12)
    assert torch.allclose(again[name.format("B")] @ again[name.format("A")], mean, atol=1e-5)
    unweighted = merge_adapters([merge_adapters(adapters[:2]), adapters[2]])
    assert not torch.allclose(unweighted[name.format("B")] @ unweighted[name.format("A")], mean)


def test_stacked_adapters_add_both_updates(tmp_path: Path) -> None:
    """Going on from a trained model (``train_extractor.py --start-from``): the adapter written
    adds the first model's update and the second's, also where the second adapted nothing, and
    adapters of different scales are refused."""
    import torch
    from safetensors.torch import load_file, save_file

    sys.path.insert(0, str(ROOT / "scripts"))
    from train_extractor import stack_adapters

    torch.manual_seed(0)
    name = "base_model.model.encoder.layer.{}.attention.self.query.lora_{}.weight"
    shapes = {"A": (4, 12), "B": (12, 4)}
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, rank, layers in ((first, 4, [4, 5]), (second, 2, [5])):
        folder.mkdir()
        weights = {
            name.format(layer, m): torch.randn(*(rank if d == 4 else d for d in shapes[m]))
            for layer in layers
            for m in "AB"
        }
        save_file(weights, str(folder / "adapter_model.safetensors"))
        config = {"r": rank, "lora_alpha": 2 * rank, "layers_to_transform": layers}
        (folder / "adapter_config.json").write_text(json.dumps(config))
    parts = [load_file(str(f / "adapter_model.safetensors")) for f in (first, second)]
    stack_adapters(first, second)
    stacked = load_file(str(second / "adapter_model.safetensors"))
    assert json.loads((second / "adapter_config.json").read_text())["r"] == 6
    for layer in (4, 5):
        a, b = name.format(layer, "A"), name.format(layer, "B")
        want = sum(w[b] @ w[a] for w in parts if a in w)
        assert torch.allclose(stacked[b] @ stacked[a], want, atol=1e-5)
    config = json.loads((first / "adapter_config.json").read_text())
    (first / "adapter_config.json").write_text(json.dumps(dict(config, lora_alpha=4)))
    with pytest.raises(ValueError, match="differ in scale"):
        stack_adapters(first, second)


def test_a_model_merged_with_a_copy_of_itself_predicts_what_it_did(
    tmp_path: Path, classifier: Classifier
) -> None:
    """The merge loads as a model, at twice the adapter's rank, with the same predictions."""
    import shutil

    shipped = ROOT / "models" / "extractor"
    copies = []
    for n in (1, 2):
        copy = tmp_path / f"copy{n}"
        copy.mkdir()
        shutil.copytree(shipped / "adapter", copy / "adapter")
        for name in ("config.json", "heads.safetensors"):
            shutil.copy(shipped / name, copy / name)
        copies.append(str(copy))
    out = tmp_path / "merged"
    run = subprocess.run(
        [*merge_script(), "--out", str(out), *copies, "--skip-calibration"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    rank = [
        json.loads((f / "adapter" / "adapter_config.json").read_text())["r"] for f in (shipped, out)
    ]
    assert rank[1] == 2 * rank[0]
    seeds = [len(json.loads((f / "config.json").read_text())["merged"]) for f in (shipped, out)]
    assert seeds[1] == 2 * seeds[0]
    pairs = [(text, "") for _, _, text in CALL_WITH_AGENDA]
    before = classifier.predict(pairs).label_probs
    after = Classifier(out).predict(pairs).label_probs
    assert abs(after - before).max() < 1e-4


def test_merging_refuses_models_that_do_not_fit_and_writes_nothing(tmp_path: Path) -> None:
    """Models of different encoders, a single model, a folder that holds a model: each is
    refused with its reason, before anything is written."""
    english = ROOT / "models" / "extractor"
    german = english / "de"
    out = tmp_path / "merged"
    cases = [
        ([str(english), str(german)], "differ in base"),
        ([str(english)], "two or more models"),
        ([str(english), str(english)], "named twice"),
        ([str(english), str(tmp_path)], "no extraction model"),
    ]
    for models, message in cases:
        run = subprocess.run(
            [*merge_script(), "--out", str(out), *models],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 2 and message in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
        assert not out.exists()
    for target, message in ((english, "is one of the models"), (german, "already holds a model")):
        before = (target / "config.json").read_bytes()
        run = subprocess.run(
            [*merge_script(), "--out", str(target), str(english), str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 2 and message in run.stderr, run.stderr
        assert (target / "config.json").read_bytes() == before
