"""Short, direct objections ("That's steep for us.", "Dafür reicht unser Etat nicht.") through the
shipped model and the product's extraction path, and the near misses next to them that are not
objections (the rep's own price words and pushback, the customer liking a price, asking about
it, or offering a number without a reason).

Written for this test; none of these calls is in the training data (models/extractor/data/).
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.helpers import Probe, probe_outcome

CALL_DATE = date(2026, 3, 6)

# Each probe (``Probe``): a short call, the indices of the customer's objections (8 words or
# fewer), and the indices of near misses that must not come out as objections.
PROBES_EN: list[Probe] = [
    (
        "en-seats",
        [
            ("rep", "It's forty-five dollars per seat per month, billed annually."),
            ("customer", "Hmm. Our current tool costs us less."),
            ("rep", "I know it's not the cheapest option out there."),
            ("customer", "Is training part of that price?"),
        ],
        [1],
        [2, 3],
    ),
    (
        "en-budget",
        [
            ("rep", "The starter package comes to eighteen thousand a year."),
            ("customer", "We don't have that kind of budget."),
            ("rep", "What number did you have in mind?"),
            ("customer", "Closer to ten."),
        ],
        [1],
        [2, 3],
    ),
    (
        "en-setup-fee",
        [
            ("rep", "There's also a one-time setup fee of five thousand."),
            ("customer", "A setup fee won't fly with finance."),
            ("rep", "Let me see what I can do on that."),
        ],
        [1],
        [],
    ),
    (
        "en-board",
        [
            ("rep", "Could we get the agreement signed this week?"),
            ("customer", "I'd need our owner to sign off."),
            ("rep", "Understood. When does the board meet?"),
        ],
        [1],
        [],
    ),
    (
        "en-january",
        [
            ("rep", "Most of our clients start the rollout in January."),
            ("customer", "January doesn't work, we're mid-audit then."),
            ("rep", "Okay, what would work better?"),
        ],
        [1],
        [0],
    ),
    (
        "en-zendesk",
        [
            ("rep", "The help desk module comes with every plan."),
            ("customer", "Our Zendesk setup covers that already."),
            ("rep", "Plenty of our customers connect the two."),
        ],
        [1],
        [],
    ),
    (
        "en-asr",
        [
            ("rep", "so that comes to about two grand a month all in"),
            ("customer", "yeah no we can't swing that"),
            ("customer", "what does the basic plan cost"),
            ("rep", "the basic one is eight hundred"),
        ],
        [1],
        [2],
    ),
    (
        "en-cheaper",
        [
            ("rep", "With the annual discount it's nine hundred a month."),
            ("customer", "Oh nice, under what I'd planned to spend."),
            ("customer", "Sounds fair to me."),
            ("rep", "Great, I'll send the order form over today."),
        ],
        [],
        [1, 2],
    ),
    (
        "en-counter",
        [
            ("customer", "How about six hundred?"),
            ("rep", "I can't go that low, I'm afraid."),
            ("customer", "Then it's out of our range."),
        ],
        [2],
        [0, 1],
    ),
    (
        "en-parking",
        [
            ("customer", "Sorry I'm late, gas prices are crazy this week."),
            ("rep", "No problem at all. Shall we start with the pricing?"),
            ("customer", "Sure. Honestly, cash is short this year."),
        ],
        [2],
        [0],
    ),
]

PROBES_DE: list[Probe] = [
    (
        "de-platz",
        [
            ("rep", "Das wären neununddreißig Euro pro Platz und Monat."),
            ("customer", "Uff, das ist eine Menge Geld."),
            ("rep", "Ja, wir sind nicht die Billigsten am Markt."),
        ],
        [1],
        [2],
    ),
    (
        "de-budget",
        [
            ("rep", "Das Paket kostet zwölftausend Euro im Jahr."),
            ("customer", "Dafür reicht unser Etat nicht."),
            ("customer", "Was kostet denn das kleinere Paket?"),
        ],
        [1],
        [2],
    ),
    (
        "de-leisten",
        [
            ("rep", "Die Einrichtung kostet einmalig dreitausend Euro."),
            ("customer", "Für so was fehlt uns momentan das Geld."),
            ("rep", "Da finden wir sicher eine Lösung."),
        ],
        [1],
        [],
    ),
    (
        "de-chef",
        [
            ("rep", "Können wir den Vertrag noch diese Woche unterschreiben?"),
            ("customer", "Unterschreiben darf nur unser Inhaber."),
            ("rep", "Verstehe. Wann ist er wieder im Haus?"),
        ],
        [1],
        [],
    ),
    (
        "de-jaenner",
        [
            ("rep", "Wir könnten im Jänner mit der Umstellung starten."),
            ("customer", "Im Jänner haben wir Inventur, da geht nichts."),
            ("rep", "Was würde Ihnen besser passen?"),
        ],
        [1],
        [],
    ),
    (
        "de-asr",
        [
            ("rep", "also das wären dann so zweitausend im monat"),
            ("customer", "ähm so viel geben wir dafür nicht aus"),
            ("customer", "ist der support da mit drin"),
            ("rep", "ja der ist dabei"),
        ],
        [1],
        [2],
    ),
    (
        "de-guenstig",
        [
            ("rep", "Mit dem Rabatt sind es neunhundert Euro im Monat."),
            ("customer", "Oh, da hatte ich mit mehr gerechnet."),
            ("customer", "Das ist in Ordnung für uns."),
            ("rep", "Dann schicke ich Ihnen heute noch das Angebot."),
        ],
        [],
        [1, 2],
    ),
    (
        "de-gegenangebot",
        [
            ("customer", "Und für achthundert?"),
            ("rep", "So weit runter komme ich nicht."),
            ("customer", "Dann wird das für uns zu eng."),
        ],
        [2],
        [0, 1],
    ),
]

PROBES = PROBES_EN + PROBES_DE


@pytest.fixture(scope="module")
def probe_results() -> tuple[list[str], list[str], int]:
    """(objections missed, near misses shown as objections, objections in the probe), each as
    'call:turn'."""
    for _, turns, objections, _ in PROBES:
        assert all(turns[i][0] == "customer" and len(turns[i][1].split()) <= 8 for i in objections)
    return probe_outcome("objection", PROBES, CALL_DATE)


@pytest.mark.xfail(
    strict=True,
    reason="a known gap: the shipped models find 6 of these 16 (models/extractor/MODEL_CARD.md, "
    "'Short, direct objections'); strict, so a model that finds them turns this into a failure "
    "until the mark goes",
)
def test_short_direct_objections_are_found(
    probe_results: tuple[list[str], list[str], int],
) -> None:
    """At least 70 % of the short, direct objections come out as objections."""
    missed, _, total = probe_results
    found = total - len(missed)
    assert found >= 0.7 * total, f"{found} of {total} objections found; missed {missed}"


def test_near_misses_are_not_objections(probe_results: tuple[list[str], list[str], int]) -> None:
    """The rep's price words and pushback, a price the customer likes, a question about the
    price and a bare counteroffer are not objections."""
    _, wrong, _ = probe_results
    assert not wrong, wrong
