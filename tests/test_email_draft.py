"""The follow-up email drafted from a call: English and German, reviewed items, empty sections."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from assistant.cli import app
from assistant.email_draft import draft_email, format_date
from assistant.formats import FORMATS, render
from assistant.report import CallReport, Item, Provenance, Segment, Source, Speaker


def item(n: int, kind: str, text: str, **fields: Any) -> Item:
    return Item(
        id=n,
        kind=kind,
        text=text,
        quote=text,
        start_s=float(n),
        end_s=float(n) + 1.0,
        confidence=0.9,
        **fields,
    )


def call(
    items: list[Item],
    language: str | None = "en",
    call_date: date | None = date(2026, 12, 11),
    speakers: tuple[tuple[str, str], ...] = (("Anna", "rep"), ("Markus", "customer")),
) -> CallReport:
    return CallReport(
        source=Source(path="call.wav", sha256="0" * 64, kind="audio", duration_s=60.0),
        language=language,
        call_date=call_date,
        provenance=Provenance(
            engine="faster-whisper",
            model="base",
            pipeline_version="test",
            created_at=datetime.now(UTC),
        ),
        segments=[
            Segment(id=i, start_s=i * 5.0, end_s=i * 5.0 + 4.0, text="...", speaker=s, role=r)
            for i, (s, r) in enumerate(speakers)
        ],
        speakers=[Speaker(id=s, role=r) for s, r in speakers],
        items=items,
    )


ENGLISH = [
    item(1, "customer_need", "We need a Salesforce integration."),
    item(2, "objection", "The price is too high for us right now.", category="price"),
    item(3, "customer_need", "we need a  Salesforce integration"),  # the recap says it again
    item(4, "customer_need", "Our managers build the reports by hand every Monday."),
    item(
        5,
        "action_item",
        "Anna will send you the pricing sheet by Friday.",
        owner="Anna",
        due=date(2026, 12, 18),
        due_text="by Friday",
    ),
    item(
        6,
        "action_item",
        "Check the budget with the CFO.",
        owner="Markus",
        due=date(2026, 12, 31),
        due_text="by the end of the month",
    ),
    item(7, "action_item", "Loop in the IT team.", owner="customer"),
    item(8, "action_item", "Priya to review the contract.", owner="Priya"),
    item(9, "action_item", "Share the security whitepaper."),
]


def test_english_draft_in_full() -> None:
    draft = draft_email(call(ENGLISH))
    assert draft.language == "en"
    assert draft.subject == "Follow-up on our call of 11 December 2026"
    assert draft.text == (
        "Subject: Follow-up on our call of 11 December 2026\n"
        "\n"
        "Hello Markus,\n"
        "\n"
        "Thank you for your time on our call on Friday, 11 December 2026.\n"
        "\n"
        "What we understood from you:\n"
        "- We need a Salesforce integration.\n"
        "- Our managers build the reports by hand every Monday.\n"
        "\n"
        "Next steps as agreed:\n"
        "\n"
        "We will:\n"
        "- Anna will send you the pricing sheet (by Friday, 18 December 2026)\n"
        "\n"
        "On your side:\n"
        "- Check the budget with the CFO (Markus, by Thursday, 31 December 2026)\n"
        "- Loop in the IT team\n"
        "\n"
        "Further steps:\n"
        "- Priya to review the contract\n"
        "- Share the security whitepaper\n"
        "\n"
        "Please let me know if I missed or misunderstood anything.\n"
        "\n"
        "Best regards,\n"
        "Anna\n"
    )
    assert draft.body == draft.text.split("\n\n", 1)[1]
    assert "price is too high" not in draft.text  # objections are not repeated to the customer


def test_german_draft_in_full_in_the_sie_form() -> None:
    report = call(
        [
            item(1, "customer_need", "Wir brauchen eine Anbindung an SAP."),
            item(
                2,
                "action_item",
                "Ich schicke Ihnen das Angebot bis Freitag.",
                owner="Jonas",
                due=date(2026, 3, 6),
                due_text="bis Freitag",
            ),
            item(
                3,
                "action_item",
                "Das Budget mit dem Einkauf klären.",
                owner="customer",
                due=date(2026, 3, 31),
                due_text="bis Ende des Monats",
            ),
        ],
        language="de",
        call_date=date(2026, 3, 2),
        speakers=(("Jonas", "rep"), ("SPEAKER_01", "customer")),
    )
    draft = draft_email(report, customer="Frau Keller", sender="Jonas Berg")
    assert draft.language == "de"
    assert draft.text == (
        "Subject: Nachbereitung unseres Gesprächs vom 2. März 2026\n"
        "\n"
        "Guten Tag Frau Keller,\n"
        "\n"
        "vielen Dank für Ihre Zeit und das Gespräch am Montag, 2. März 2026.\n"
        "\n"
        "Das haben wir aus dem Gespräch mitgenommen:\n"
        "- Wir brauchen eine Anbindung an SAP.\n"
        "\n"
        "Die nächsten Schritte, wie besprochen:\n"
        "\n"
        "Von unserer Seite:\n"
        "- Ich schicke Ihnen das Angebot (Jonas, bis Freitag, 6. März 2026)\n"
        "\n"
        "Von Ihrer Seite:\n"
        "- Das Budget mit dem Einkauf klären (bis Dienstag, 31. März 2026)\n"
        "\n"
        "Falls ich etwas vergessen oder falsch verstanden habe, geben Sie mir bitte Bescheid.\n"
        "\n"
        "Mit freundlichen Grüßen\n"
        "Jonas Berg\n"
    )


def test_language_follows_the_speech_when_the_report_names_none() -> None:
    report = call([], language=None)
    report.segments[0].language = "de"
    assert draft_email(report).language == "de"
    assert draft_email(call([], language="fr")).language == "en"


def test_dates_without_the_machine_locale() -> None:
    day = date(2026, 12, 11)
    assert format_date(day, "en") == "Friday, 11 December 2026"
    assert format_date(day, "de") == "Freitag, 11. Dezember 2026"
    assert format_date(date(2027, 3, 1), "de") == "Montag, 1. März 2027"
    assert format_date(date(2027, 5, 2), "de", weekday=False) == "2. Mai 2027"
    assert format_date(date(2026, 6, 14), "en") == "Sunday, 14 June 2026"


def test_no_steps_leaves_the_section_out_and_proposes_one() -> None:
    text = draft_email(call([item(1, "customer_need", "We need SSO.")])).text
    lines = text.splitlines()
    assert "- We need SSO." in lines
    assert "Next steps as agreed:" not in lines and "We will:" not in lines
    assert "Shall we agree on a date for the next step? Let me know what suits you." in lines
    german = draft_email(call([], language="de", call_date=None)).text.splitlines()
    assert german[0] == "Subject: Nachbereitung unseres Gesprächs"
    assert "vielen Dank für Ihre Zeit und das Gespräch." in german
    assert "Das haben wir aus dem Gespräch mitgenommen:" not in german
    assert (
        "Wollen wir einen Termin für den nächsten Schritt vereinbaren? "
        "Teilen Sie mir gern mit, was Ihnen passt." in german
    )


def test_steps_without_a_date_still_propose_one_and_a_dated_step_does_not() -> None:
    undated = draft_email(call([item(1, "action_item", "Send the deck.", owner="Anna")])).text
    assert "- Send the deck (Anna)" in undated.splitlines()
    assert "Shall we agree on a date" in undated
    dated = draft_email(call(ENGLISH)).text
    assert "Shall we agree on a date" not in dated


def test_steps_without_known_roles_are_one_list() -> None:
    report = call(
        [item(1, "action_item", "Send the deck.", owner="Priya", due=date(2026, 12, 14))],
        speakers=(("SPEAKER_00", "rep"), ("SPEAKER_01", "customer")),
        call_date=None,
    )
    lines = draft_email(report).text.splitlines()
    assert lines[0] == "Subject: Follow-up on our call"
    start = lines.index("Next steps as agreed:")
    assert lines[start + 1] == "- Send the deck (Priya, by Monday, 14 December 2026)"
    assert "Further steps:" not in lines and "We will:" not in lines
    # Diarization labels are not names to greet or sign with.
    assert "Hello," in lines and lines[-1] == "Best regards,"


def test_rejected_items_are_left_out(tmp_path: Path) -> None:
    from assistant.store import Database
    from assistant.store import calls as store
    from assistant.store.users import create_user

    db = Database(f"sqlite:///{tmp_path / 'a.db'}")
    db.migrate()
    try:
        with db.session() as session:
            alice = create_user(session, "alice", "rep", "east")
            new = store.NewCall(
                sha256=hashlib.sha256(b"call").hexdigest(),
                filename="call.wav",
                size_bytes=100,
                media_format="wav",
                media_kind="audio",
                duration_s=60.0,
            )
            stored, _, _ = store.create_call(session, alice, new)
            store.save_report(session, stored, call(ENGLISH))
            session.flush()
            session.refresh(stored)
            for row in stored.items:
                if row.text in ("We need a Salesforce integration.", "Loop in the IT team."):
                    store.review_item(session, alice, row, "rejected", {})
            session.refresh(stored)
            report = store.current_report(stored)
        assert report is not None
        lines = draft_email(report).text.splitlines()
    finally:
        db.dispose()
    assert "- Our managers build the reports by hand every Monday." in lines
    assert "- Anna will send you the pricing sheet (by Friday, 18 December 2026)" in lines
    # The recap's repeat of the rejected need was not rejected: it stands in its own words.
    assert "- we need a Salesforce integration" in lines
    assert "- We need a Salesforce integration." not in lines
    assert "- Loop in the IT team" not in lines


def test_cli_prints_the_draft_of_a_transcript(tmp_path: Path) -> None:
    rows = [
        ("Anna", "rep", "Thanks for making the time today, Markus."),
        ("Markus", "customer", "Sure. Our managers build these reports by hand every Monday."),
        ("Anna", "rep", "I understand. I'll send you the pricing sheet by Friday."),
        ("Markus", "customer", "Great. I'll check the budget with our CFO next week."),
    ]
    path = tmp_path / "call.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"text": t, "start_s": i * 4.0, "end_s": i * 4.0 + 3.0, "speaker": s, "role": r}
            )
            + "\n"
            for i, (s, r, t) in enumerate(rows)
        )
    )
    assert "email" in FORMATS
    result = CliRunner().invoke(
        app, ["analyze", str(path), "--format", "email", "--call-date", "2026-03-02"]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "Subject: Follow-up on our call of 2 March 2026",
        "",
        "Hello Markus,",
        "",
        "Thank you for your time on our call on Monday, 2 March 2026.",
    ]
    steps = lines[lines.index("We will:") :]
    assert steps[1] == "- Anna will send you the pricing sheet (by Friday, 6 March 2026)"
    assert steps[3] == "On your side:"
    assert steps[4].startswith("- Markus will check the budget") and "13 March 2026" in steps[4]
    assert lines[-2:] == ["Best regards,", "Anna"]
    assert not result.stdout.startswith("{")


def test_cli_drafts_a_german_transcript_in_german(tmp_path: Path) -> None:
    """A transcript carries no detected language: ``-l de`` names it, and the report and the
    draft follow it."""
    rows = [
        ("Anna", "rep", "Danke, dass Sie sich heute Zeit nehmen, Herr Keller."),
        ("Markus", "customer", "Gern. Wir brauchen eine Schnittstelle zu unserem ERP."),
        ("Anna", "rep", "Ich schicke Ihnen bis Freitag das Angebot."),
    ]
    path = tmp_path / "anruf.jsonl"
    path.write_text(
        "".join(
            json.dumps(
                {"text": t, "start_s": i * 4.0, "end_s": i * 4.0 + 3.0, "speaker": s, "role": r}
            )
            + "\n"
            for i, (s, r, t) in enumerate(rows)
        )
    )
    args = ["analyze", str(path), "--call-date", "2026-03-02", "-l", "de"]
    result = CliRunner().invoke(app, [*args, "--format", "email"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Subject: Nachbereitung unseres Gesprächs vom 2. März 2026")
    report = CliRunner().invoke(app, [*args, "--format", "json"])
    assert json.loads(report.stdout)["language"] == "de"


def test_render_email_is_the_draft_text() -> None:
    report = call(ENGLISH)
    assert render(report, "email") == draft_email(report).text
