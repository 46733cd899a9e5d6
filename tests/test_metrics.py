"""Call metrics on a call whose turns were laid out by hand, so every number is known."""

from __future__ import annotations

import pytest

from assistant.metrics import (
    MetricsOptions,
    compute_metrics,
    count_questions,
    interruptions,
    turns,
    union_s,
)
from assistant.report import CallMetrics, CallReport, Segment


def seg(i: int, start: float, end: float, who: str | None, role: str | None, text: str) -> Segment:
    return Segment(id=i, start_s=start, end_s=end, text=text, speaker=who, role=role)  # type: ignore[arg-type]


# Anna (rep) opens, asks, is interrupted by Ben (customer), talks over him later, and
# ends with a long pitch; Ben asks one question back. Times in seconds, 60 s recording.
CALL = [
    seg(0, 0.0, 6.0, "Anna", "rep", "Hi Ben, thanks for joining. How do you report today?"),
    seg(1, 6.5, 12.0, "Ben", "customer", "We use spreadsheets and it takes hours every week."),
    seg(2, 12.5, 20.0, "Anna", "rep", "What would a faster process be worth to you?"),
    # Ben cuts in 1.0 s before Anna's turn ends.
    seg(3, 19.0, 25.0, "Ben", "customer", "Maybe a few thousand euros, is there a trial?"),
    seg(4, 25.5, 35.0, "Anna", "rep", "Yes, a free trial for thirty days."),
    # 2 s pause, same speaker: still one monologue (25.5 .. 50.0).
    seg(5, 37.0, 50.0, "Anna", "rep", "Our platform connects to your CRM and builds the reports."),
    seg(6, 51.0, 55.0, "Ben", "customer", "Sounds good."),
]


@pytest.fixture(scope="module")
def metrics() -> CallMetrics:
    return compute_metrics(CALL, duration_s=60.0)


def by_speaker(metrics: CallMetrics, who: str):
    return next(m for m in metrics.speakers if m.speaker == who)


def test_talk_time_and_ratio_per_speaker_and_role(metrics: CallMetrics) -> None:
    anna, ben = by_speaker(metrics, "Anna"), by_speaker(metrics, "Ben")
    assert anna.talk_s == pytest.approx(6.0 + 7.5 + 9.5 + 13.0)
    assert ben.talk_s == pytest.approx(5.5 + 6.0 + 4.0)
    total = anna.talk_s + ben.talk_s
    assert anna.talk_ratio == pytest.approx(36.0 / total, abs=1e-4)
    assert anna.talk_ratio + ben.talk_ratio == pytest.approx(1.0, abs=1e-3)
    assert metrics.roles["rep"].talk_s == anna.talk_s
    assert metrics.roles["customer"].talk_ratio == ben.talk_ratio
    # Overlapping speech (19..20) counts once in the call's talk time.
    assert metrics.talk_s == pytest.approx(36.0 + 15.5 - 1.0)
    assert metrics.silence_s == pytest.approx(60.0 - metrics.talk_s)
    assert metrics.speaker_count == 2


def test_longest_monologue_per_role_spans_short_pauses(metrics: CallMetrics) -> None:
    assert metrics.roles["rep"].longest_monologue_s == pytest.approx(50.0 - 25.5)
    assert metrics.roles["rep"].longest_monologue_start_s == pytest.approx(25.5)
    assert metrics.roles["customer"].longest_monologue_s == pytest.approx(6.0)
    assert metrics.turns == 6


def test_a_long_pause_ends_the_monologue() -> None:
    call = [seg(0, 0, 5, "A", "rep", "One."), seg(1, 10, 12, "A", "rep", "Two.")]
    spans = turns(call, max_pause_s=3.0)
    assert [(t.start_s, t.end_s) for t in spans] == [(0, 5), (10, 12)]
    assert compute_metrics(call, 12.0).roles["rep"].longest_monologue_s == 5.0


def test_questions_per_role(metrics: CallMetrics) -> None:
    assert metrics.roles["rep"].questions == 2
    assert metrics.roles["customer"].questions == 1
    assert metrics.questions == 3


def test_interruptions_are_counted_for_who_cuts_in(metrics: CallMetrics) -> None:
    assert metrics.interruptions == 1
    assert by_speaker(metrics, "Ben").interruptions == 1
    assert by_speaker(metrics, "Anna").interruptions == 0
    assert metrics.roles["customer"].interruptions == 1


def test_a_short_overlap_is_not_an_interruption() -> None:
    call = [seg(0, 0, 5, "A", "rep", "Right."), seg(1, 4.9, 8, "B", "customer", "Okay.")]
    assert interruptions(turns(call), min_overlap_s=0.3) == []
    assert compute_metrics(call, 8.0, MetricsOptions(min_overlap_s=0.05)).interruptions == 1


def test_cutting_someone_off_mid_sentence_is_an_interruption() -> None:
    call = [
        seg(0, 0, 4, "A", "rep", "So our pricing works like"),
        seg(1, 4.1, 6, "B", "customer", "Sorry, what about support?"),
        seg(2, 6.1, 8, "A", "rep", "Support is included."),
        seg(3, 8.15, 9, "B", "customer", "Great."),  # A had finished: not an interruption
        seg(4, 12, 14, "A", "rep", "And then"),
        seg(5, 15, 16, "B", "customer", "Yes."),  # a long pause: A stopped, not cut off
    ]
    spans = turns(call)
    assert [t.start_s for t in interruptions(spans)] == [4.1]
    metrics = compute_metrics(call, 16.0)
    assert metrics.roles["customer"].interruptions == 1 and metrics.roles["rep"].interruptions == 0


def test_words_per_minute(metrics: CallMetrics) -> None:
    anna = by_speaker(metrics, "Anna")
    words = sum(len(s.text.split()) for s in CALL if s.speaker == "Anna")
    assert anna.words == words
    assert anna.words_per_minute == pytest.approx(words / (36.0 / 60), abs=0.1)
    assert metrics.roles["rep"].words_per_minute == anna.words_per_minute


def test_german_and_english_questions() -> None:
    assert count_questions("Wie viele Nutzer haben Sie? Und wann?") == 2
    assert count_questions("What's the price?! Okay.") == 1
    assert count_questions("No question here.") == 0
    assert count_questions('He asked "why?" and left') == 1


def test_union_counts_overlap_once() -> None:
    assert union_s([(0, 5), (3, 8), (10, 11)]) == pytest.approx(9.0)
    assert union_s([]) == 0.0


def test_no_segments_gives_empty_metrics() -> None:
    empty = compute_metrics([], duration_s=12.0)
    assert empty.talk_s == 0 and empty.silence_s == 12.0 and empty.speakers == []


def test_segments_without_speaker_count_as_unknown() -> None:
    call = [seg(0, 0, 4, None, None, "Hello there."), seg(1, 4, 6, "B", "customer", "Hi?")]
    metrics = compute_metrics(call, 6.0)
    assert {m.speaker for m in metrics.speakers} == {"unknown", "B"}
    assert "rep" not in metrics.roles
    assert metrics.roles["customer"].questions == 1


def test_metrics_serialise_with_snake_case_keys(metrics: CallMetrics) -> None:
    data = metrics.model_dump(mode="json")
    assert data["roles"]["rep"]["longest_monologue_s"] > 0
    assert set(data) >= {"talk_s", "interruptions", "words_per_minute", "speakers", "roles"}
    # A report round-trips through JSON with the typed metrics.
    report_fields = CallReport.model_fields
    assert report_fields["metrics"].annotation is CallMetrics
    assert CallMetrics.model_validate(data) == metrics
