"""Account warnings on small calls written out line by line; the metrics and tracker hits in the
reports are computed by the real stages (assistant.metrics, assistant.trackers), as the pipeline
does, so only the items are laid out by hand."""

from __future__ import annotations

from datetime import date

import pytest

from assistant.report import CallReport
from assistant.warnings import (
    INFORMATIONAL_KINDS,
    KINDS,
    DealWarning,
    Moment,
    WarningSettings,
    account_warnings,
    call_warnings,
)
from tests.helpers import Line
from tests.helpers import line_item as item
from tests.helpers import written_call as call


def kinds(warnings: list[DealWarning]) -> list[str]:
    return [w.kind for w in warnings]


def find(warnings: list[DealWarning], kind: str) -> DealWarning | None:
    return next((w for w in warnings if w.kind == kind), None)


# A balanced call: both sides talk, the rep answers, a dated next step, one named customer.
GOOD: list[Line] = [
    ("A", "rep", "Thanks for joining, how do you plan your warehouse shifts today?"),
    ("B", "customer", "We plan them in spreadsheets and it takes our team a full day."),
    ("A", "rep", "Our planner builds the shifts from your orders in a few minutes."),
    ("B", "customer", "That sounds useful, but the price of such a tool worries me."),
    ("A", "rep", "The plan for fifty users is smaller than one day of your team's time."),
    ("B", "customer", "Good, please send me the offer and a trial account by Friday."),
    ("A", "rep", "I will send both by Friday."),
]


def good_call(day: date = date(2026, 11, 12), name: str = "Maria") -> CallReport:
    return call(
        GOOD,
        day,
        [
            item(GOOD, 3, "objection", category="price"),
            item(GOOD, 6, "action_item", due=date(2026, 11, 14), due_text="Friday"),
        ],
        names={"B": name},
    )


def test_a_healthy_account_has_no_warnings_only_where_pricing_came_up() -> None:
    # Two calls, two people on the customer side.
    found = account_warnings([(1, good_call(date(2026, 11, 5))), (2, good_call(name="Jonas"))])
    assert kinds(found) == ["pricing_discussed"]
    assert "pricing_discussed" in INFORMATIONAL_KINDS
    # The first pricing moment of each call, with its call and second.
    price_at = good_call().segments[3].start_s
    assert [(m.call_id, m.start_s) for m in found[0].moments] == [(1, price_at), (2, price_at)]
    assert "price" in found[0].moments[0].quote
    assert found[0].message == "Pricing came up in every call."
    assert account_warnings([]) == []


# --- no next step -------------------------------------------------------------------------


def test_no_next_step_when_the_latest_call_has_no_dated_action_item() -> None:
    lines = [
        *GOOD[:5],
        ("B", "customer", "Good, let us talk again some time."),
        ("A", "rep", "I will send you the documentation."),
    ]
    undated = item(lines, 6, "action_item")
    last = call(lines, date(2026, 11, 12), [undated], names={"B": "Maria"})
    # Passed newest first: the latest is told by the call date, not the order.
    found = find(account_warnings([(7, last), (3, good_call(date(2026, 11, 1)))]), "no_next_step")
    assert found is not None
    assert (
        found.message
        == "No dated next step in the last call (12 Nov): 1 action item without a date."
    )
    assert found.moments == (Moment(7, undated.start_s, "I will send you the documentation."),)

    bare = call(lines, date(2026, 11, 12))
    found = find(call_warnings(7, bare), "no_next_step")
    assert found is not None and found.moments == ()
    assert found.message == "No next step agreed in this call (12 Nov)."


def test_a_dated_next_step_in_the_latest_call_is_enough() -> None:
    older = call(GOOD, date(2026, 10, 1))  # no action items at all
    assert "no_next_step" not in kinds(account_warnings([(1, older), (2, good_call())]))
    # The same two calls with the older one last: now it is the latest and it warns.
    assert "no_next_step" in kinds(account_warnings([(2, good_call()), (1, call(GOOD))]))


# --- objections ---------------------------------------------------------------------------

PUSHBACK: list[Line] = [
    ("A", "rep", "Our planner builds the shifts from your orders in a few minutes."),
    ("B", "customer", "Honestly, I doubt our shift leads would ever use another tool."),
    ("A", "rep", "Hm, okay."),
    ("B", "customer", "They already have too much to click through every morning."),
    ("A", "rep", "The planner runs inside the tool they already use, so nothing new to learn."),
]


def test_an_objection_without_a_substantive_rep_reply_is_unanswered() -> None:
    objection = item(PUSHBACK, 1, "objection", category="need")
    report = call(PUSHBACK, items=[objection])
    found = find(call_warnings(4, report), "objection_unanswered")
    assert found is not None
    assert found.moments == (Moment(4, objection.start_s, objection.quote),)
    assert found.message == "A customer objection got no answer from the rep."
    assert find(account_warnings([(4, report)]), "objection_unanswered") == found


def test_the_answer_window_and_the_answer_length_are_settings() -> None:
    report = call(PUSHBACK, items=[item(PUSHBACK, 1, "objection", category="need")])
    # The rep's real answer is the third turn after the objection.
    assert "objection_unanswered" not in kinds(
        call_warnings(4, report, WarningSettings(answer_turns=3))
    )
    # "Hm, okay." (2 words) counts once two words are enough.
    short_ok = WarningSettings(min_answer_words=2)
    assert "objection_unanswered" not in kinds(call_warnings(4, report, short_ok))


def test_an_answered_objection_and_a_rep_objection_do_not_warn() -> None:
    answered = call(GOOD, items=[item(GOOD, 3, "objection", category="price")])
    assert "objection_unanswered" not in kinds(call_warnings(1, answered))
    # The last line is the rep's and nobody answers it, but the rep does not answer the rep.
    by_rep = call(PUSHBACK, items=[item(PUSHBACK, 4, "objection", category="other")])
    assert "objection_unanswered" not in kinds(call_warnings(1, by_rep))


def test_an_objection_at_the_end_of_the_call_is_unanswered() -> None:
    lines = [*GOOD[:2], ("B", "customer", "And to be frank, your tool is too expensive for us.")]
    report = call(lines, items=[item(lines, 2, "objection", category="price")])
    assert "objection_unanswered" in kinds(call_warnings(1, report))


# --- competitors --------------------------------------------------------------------------


def test_competitors_named_by_the_tracker_with_each_moment() -> None:
    lines = [
        *GOOD[:2],
        ("B", "customer", "We are also talking to HubSpot and Pipedrive about this."),
        ("A", "rep", "Good to know, our planner connects to HubSpot as well."),
    ]
    found = find(account_warnings([(1, good_call()), (2, call(lines))]), "competitor_named")
    assert found is not None
    assert found.message == "Competitors named: HubSpot, Pipedrive."
    # One moment per line, however many names it holds; the rep's own mention is no warning.
    assert [(m.call_id, m.quote) for m in found.moments] == [(2, lines[2][2])]
    assert found.moments[0].start_s == pytest.approx(call(lines).segments[2].start_s)


def test_a_rep_naming_what_the_product_works_with_is_no_competitor() -> None:
    lines = [*GOOD[:2], ("A", "rep", "Our platform connects to SAP and Microsoft Dynamics.")]
    assert "competitor_named" not in kinds(call_warnings(1, call(lines)))


def test_a_competitor_objection_without_a_name_warns_too() -> None:
    lines = [*GOOD[:2], ("B", "customer", "Frankly, we already have a provider we like.")]
    found = find(
        call_warnings(5, call(lines, items=[item(lines, 2, "objection", category="competitor")])),
        "competitor_named",
    )
    assert found is not None and found.message == "A competitor came up as an objection."
    assert "competitor_named" not in kinds(call_warnings(5, call(lines)))


# --- pricing ------------------------------------------------------------------------------

NO_PRICE: list[Line] = [
    ("A", "rep", "Thanks for joining, how do you plan your warehouse shifts today?"),
    ("B", "customer", "We plan them in spreadsheets and it takes our team a full day."),
    ("A", "rep", "Our planner builds the shifts from your orders in a few minutes."),
]


def test_pricing_not_discussed_after_enough_calls() -> None:
    one, two = (1, call(NO_PRICE)), (2, call(NO_PRICE))
    found = find(account_warnings([one, two]), "pricing_not_discussed")
    assert found is not None and found.message == "Pricing not discussed in any of the 2 calls."
    assert "pricing_discussed" not in kinds(account_warnings([one, two]))
    # One call is too early to say, unless the setting says otherwise.
    assert "pricing_not_discussed" not in kinds(account_warnings([one]))
    early = WarningSettings(pricing_after_calls=1)
    assert "pricing_not_discussed" in kinds(account_warnings([one], early))
    assert "pricing_not_discussed" not in kinds(
        account_warnings([one, two], WarningSettings(pricing_after_calls=3))
    )


def test_pricing_in_any_call_or_a_report_without_trackers_keeps_it_quiet() -> None:
    found = account_warnings([(1, call(NO_PRICE)), (2, good_call())])
    assert "pricing_not_discussed" not in kinds(found)
    discussed = find(found, "pricing_discussed")
    assert discussed is not None and discussed.message == "Pricing came up in 1 of 2 calls."
    # A report made without trackers cannot say pricing was never mentioned.
    untracked = call(NO_PRICE).model_copy(update={"trackers": []})
    assert "pricing_not_discussed" not in kinds(
        account_warnings([(1, call(NO_PRICE)), (2, untracked)])
    )


# --- who is on the customer side ----------------------------------------------------------


def test_one_contact_on_the_customer_side_warns() -> None:
    calls = [(1, call(NO_PRICE, names={"B": "Maria"})), (2, call(NO_PRICE, names={"B": "maria"}))]
    found = find(account_warnings(calls), "single_contact")
    assert found is not None
    assert found.message == "Maria is the only contact on the customer side (2 calls)."
    assert [(m.call_id, m.start_s, m.quote) for m in found.moments] == [
        (1, calls[0][1].segments[1].start_s, NO_PRICE[1][2]),
        (2, calls[1][1].segments[1].start_s, NO_PRICE[1][2]),
    ]
    # One call is too early, unless the setting says otherwise.
    assert find(account_warnings(calls[:1]), "single_contact") is None
    one_call = WarningSettings(single_contact_after_calls=1)
    assert find(account_warnings(calls[:1], one_call), "single_contact") is not None


def test_labels_are_per_call_so_unnamed_contacts_are_counted_per_call() -> None:
    # "B" in two calls need not be the same person: the warning says only what is known.
    calls = [(1, call(NO_PRICE)), (2, call(NO_PRICE))]
    found = find(account_warnings(calls), "single_contact")
    assert found is not None
    assert found.message == "One person on the customer side in every call (2 calls)."


def test_more_than_one_contact_does_not_warn() -> None:
    other = call(NO_PRICE, names={"B": "Jonas"})
    assert (
        find(
            account_warnings([(1, call(NO_PRICE, names={"B": "Maria"})), (2, other)]),
            "single_contact",
        )
        is None
    )
    two_in_one = [
        *NO_PRICE,
        ("C", "customer", "I run the night shift, and we plan it the same way."),
    ]
    assert (
        find(account_warnings([(1, call(NO_PRICE)), (2, call(two_in_one))]), "single_contact")
        is None
    )


def test_roles_not_known_do_not_make_a_single_contact() -> None:
    unknown: list[Line] = [(who, None, text) for who, _, text in NO_PRICE]
    calls = [(1, call(unknown)), (2, call(unknown))]
    assert find(account_warnings(calls), "single_contact") is None
    assert find(account_warnings(calls), "low_customer_talk") is None


# --- talk time ----------------------------------------------------------------------------

PITCH: list[Line] = [
    ("A", "rep", "Thanks for joining, let me walk you through the planner before we start."),
    ("B", "customer", "Sure, go ahead."),
    (
        "A",
        "rep",
        "The planner reads your orders every night, works out how many people each shift "
        "needs, matches them to who is available and qualified, and sends everyone their "
        "shifts on their phone before breakfast, with swaps approved in one tap by the lead.",
    ),
    ("B", "customer", "Okay, thanks."),
]


def test_low_customer_talk_points_at_the_reps_longest_monologue() -> None:
    report = call(PITCH, date(2026, 11, 12))
    share = report.metrics.roles["customer"].talk_ratio
    assert share < 0.30
    found = find(call_warnings(9, report), "low_customer_talk")
    assert found is not None
    assert found.message == f"The customer spoke {round(share * 100)} % of the time (below 30 %)."
    assert found.moments == (Moment(9, report.segments[2].start_s, PITCH[2][2]),)


def test_low_customer_talk_across_the_account_names_the_quietest_call() -> None:
    calls = [(1, good_call(date(2026, 11, 5))), (2, call(PITCH, date(2026, 11, 12)))]
    found = find(account_warnings(calls), "low_customer_talk")
    assert found is not None
    assert found.message.startswith("The customer spoke ")
    assert "in the call of 12 Nov" in found.message
    assert [m.call_id for m in found.moments] == [2]


def test_the_talk_share_threshold_is_a_setting() -> None:
    report = call(PITCH)
    share = report.metrics.roles["customer"].talk_ratio
    assert (
        find(
            call_warnings(1, report, WarningSettings(min_customer_talk=share)), "low_customer_talk"
        )
        is None
    )
    balanced = good_call()
    assert balanced.metrics.roles["customer"].talk_ratio > 0.30
    assert find(call_warnings(1, balanced), "low_customer_talk") is None
    strict = WarningSettings(min_customer_talk=0.6)
    assert find(call_warnings(1, balanced, strict), "low_customer_talk") is not None


# --- the lists ----------------------------------------------------------------------------


def test_warnings_come_in_a_stable_order_one_per_kind() -> None:
    lines = [
        *PITCH,
        ("B", "customer", "We also looked at Salesforce, and I doubt we need all of this."),
    ]
    report = call(lines, items=[item(lines, 4, "objection", category="need")])
    found = account_warnings([(1, report), (2, call(PITCH))])
    assert kinds(found) == [
        "no_next_step",
        "objection_unanswered",
        "competitor_named",
        "pricing_not_discussed",
        "single_contact",
        "low_customer_talk",
    ]
    assert kinds(found) == sorted(kinds(found), key=KINDS.index)
    assert len(set(kinds(found))) == len(found)
    # One call shows only what one call can show.
    assert kinds(call_warnings(1, report)) == [
        "no_next_step",
        "objection_unanswered",
        "competitor_named",
        "low_customer_talk",
    ]
    assert all(w.message.endswith(".") for w in found)
