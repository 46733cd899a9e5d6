"""Short, direct customer needs ("we need X", "it has to ...", "wir brauchen ...") through the
shipped model and the product's extraction path, and the near misses next to them that are not
needs (the rep restating the need, "we need to wrap up", "do you need anything else from me",
a need that was met in the past).

Written for this test; none of these calls is in the training data (models/extractor/data/).
"""

from __future__ import annotations

from datetime import date

import pytest

from tests.helpers import Probe, probe_outcome

CALL_DATE = date(2026, 3, 6)

# Each probe (``Probe``): a short call, the indices of the customer's needs, and the indices of
# near misses that must not come out as needs.
PROBES_EN: list[Probe] = [
    (
        "en-recording",
        [
            ("rep", "What would the new phone system have to do for you?"),
            ("customer", "We need every call recorded automatically, for compliance."),
            ("rep", "So you need automatic recording on every line, is that right?"),
            ("customer", "Yes, every line."),
        ],
        [1],
        [2],
    ),
    (
        "en-fedex",
        [
            ("rep", "How do you ship at the moment?"),
            ("customer", "Mostly UPS, with a few freight pallets."),
            ("customer", "It has to print FedEx labels as well."),
            ("rep", "Okay, FedEx is one of our standard carriers."),
        ],
        [2],
        [],
    ),
    (
        "en-two-factor",
        [
            ("rep", "Anything from your IT team I should know about?"),
            ("customer", "It must support two-factor login, IT won't sign off otherwise."),
            ("rep", "Got it, so two-factor on every account."),
            ("customer", "Sorry, we need to wrap up, I have another call at three."),
        ],
        [1],
        [2, 3],
    ),
    (
        "en-excel",
        [
            ("rep", "How does your manager get the numbers today?"),
            ("customer", "Someone copies them out by hand on Friday afternoon."),
            ("customer", "We need the weekly report as an Excel file every Monday morning."),
            ("rep", "That's a scheduled export, you can set it up yourself."),
        ],
        [2],
        [],
    ),
    (
        "en-three-sites",
        [
            ("rep", "Is it just the one warehouse?"),
            ("customer", "No, three, and it needs to handle all three in one account."),
            ("rep", "Multi-site is included in the business plan."),
        ],
        [1],
        [],
    ),
    (
        "en-currencies",
        [
            ("rep", "Where are most of your customers?"),
            ("customer", "UK and Ireland, some in France."),
            ("customer", "So we need invoices in pounds and euros."),
            ("rep", "Do you need anything else on the billing side?"),
            ("customer", "No, that's the main thing."),
        ],
        [2],
        [3],
    ),
    (
        "en-hubspot-asr",
        [
            ("rep", "okay so where do your leads live right now"),
            ("customer", "uh hubspot mostly"),
            ("customer", "yeah so we need it to sync with hubspot both ways"),
            ("rep", "so you need a two way hubspot sync okay"),
        ],
        [2],
        [3],
    ),
    (
        "en-auditors",
        [
            ("rep", "Who else would use the system?"),
            ("customer", "Our auditors need read-only access once a year."),
            ("rep", "We have an auditor role for that."),
            ("customer", "Do you need anything else from me before the demo?"),
        ],
        [1],
        [3],
    ),
    (
        "en-deadline",
        [
            ("rep", "When would you want to go live?"),
            (
                "customer",
                "It has to be running before the first of May, that's when our season starts.",
            ),
            ("rep", "So you'd need to be live by May first."),
            ("customer", "Exactly."),
        ],
        [1],
        [2],
    ),
    (
        "en-past",
        [
            ("rep", "How are the tablets holding up?"),
            ("customer", "We needed new tablets last year and we bought them, so that's fine."),
            ("customer", "What we need now is a way to lock them to your app only."),
            ("rep", "That's kiosk mode, it's in the device settings."),
        ],
        [2],
        [1],
    ),
]

PROBES_DE: list[Probe] = [
    (
        "de-lexware",
        [
            ("rep", "Wie kommen die Rechnungen heute in die Buchhaltung?"),
            ("customer", "Per E-Mail, und dann tippt die Kollegin sie ab."),
            ("customer", "Wir brauchen einen direkten Export nach Lexware."),
            ("rep", "Sie brauchen also einen Export nach Lexware, richtig?"),
        ],
        [2],
        [3],
    ),
    (
        "de-mandanten",
        [
            ("rep", "Arbeiten Sie für mehrere Firmen?"),
            ("customer", "Für vier, alle aus einer Gruppe."),
            ("customer", "Das System muss die Mandanten sauber trennen können."),
            ("rep", "Das geht, jeder Mandant bekommt seinen eigenen Bereich."),
        ],
        [2],
        [],
    ),
    (
        "de-schulung",
        [
            ("rep", "Was ist Ihnen bei der Einführung wichtig?"),
            ("customer", "Uns ist wichtig, dass die Monteure ohne Schulung damit klarkommen."),
            ("rep", "Die App ist so gebaut, dass man sie in fünf Minuten versteht."),
            ("customer", "Oh, wir müssen zum Ende kommen, um halb kommt mein nächster Kunde."),
        ],
        [1],
        [3],
    ),
    (
        "de-zwei-faktor",
        [
            ("rep", "Gibt es Vorgaben von Ihrer IT?"),
            ("customer", "Ja, wir brauchen eine Anmeldung mit zwei Faktoren."),
            (
                "rep",
                "Also Zwei-Faktor-Anmeldung für alle Benutzer, habe ich das richtig verstanden?",
            ),
            ("customer", "Genau."),
        ],
        [1],
        [2],
    ),
    (
        "de-xrechnung",
        [
            ("rep", "Wer sind Ihre größten Kunden?"),
            ("customer", "Vor allem Behörden und Landkreise."),
            ("customer", "Die Rechnungen müssen deshalb als XRechnung rausgehen."),
            ("rep", "XRechnung ist bei uns Standard."),
        ],
        [2],
        [],
    ),
    (
        "de-tablet-asr",
        [
            ("rep", "und wie schreiben die mechaniker die arbeitszeit auf"),
            ("customer", "auf zettel und die liegen dann irgendwo in der werkstatt"),
            ("customer", "also wir brauchen das auf den tablets in der werkstatt"),
            ("rep", "okay also sie brauchen die zeiterfassung am tablet"),
        ],
        [2],
        [3],
    ),
    (
        "de-postfinance",
        [
            ("rep", "Wie zahlen Ihre Kunden?"),
            ("customer", "Mit Einzahlungsschein oder E-Banking, fast alle über PostFinance."),
            ("customer", "Es muss also mit PostFinance funktionieren."),
            ("rep", "Brauchen Sie sonst noch etwas von mir?"),
        ],
        [2],
        [],
    ),
    (
        "de-saison",
        [
            ("rep", "Bis wann müsste das laufen?"),
            ("customer", "Es muss bis Ende März laufen, dann fängt bei uns die Saison an."),
            ("rep", "Ende März ist machbar, wenn wir im Jänner starten."),
        ],
        [1],
        [],
    ),
    (
        "de-sms-du",
        [
            ("rep", "Und wie erfahren deine Kunden, wann die Änderung am Anzug fertig ist?"),
            ("customer", "Gar nicht, die kommen einfach vorbei und fragen."),
            ("customer", "Wir brauchen, dass die Kunden den Status per SMS kriegen."),
            ("rep", "Du brauchst also SMS an die Kunden, okay."),
            ("customer", "Brauchst du noch was von mir?"),
        ],
        [2],
        [3, 4],
    ),
    (
        "de-archiv",
        [
            ("rep", "Wie lange heben Sie die Unterlagen auf?"),
            ("customer", "Letztes Jahr haben wir ein neues Archiv gebraucht und auch gekauft."),
            ("customer", "Die Dokumente müssen zehn Jahre revisionssicher archiviert werden."),
            ("rep", "Das leistet unser Archivmodul."),
        ],
        [2],
        [1],
    ),
]

PROBES = PROBES_EN + PROBES_DE


@pytest.fixture(scope="module")
def probe_results() -> tuple[list[str], list[str], int]:
    """(needs missed, near misses shown as needs, needs in the probe), each as 'call:turn'."""
    for _, turns, needs, _ in PROBES:
        assert all(turns[i][0] == "customer" for i in needs)
    return probe_outcome("customer_need", PROBES, CALL_DATE)


def test_short_direct_needs_are_found(probe_results: tuple[list[str], list[str], int]) -> None:
    """At least 70 % of the short, direct needs come out as customer needs on the customer's
    own turn."""
    missed, _, total = probe_results
    found = total - len(missed)
    assert found >= 0.7 * total, f"{found} of {total} needs found; missed {missed}"


def test_near_misses_are_not_needs(probe_results: tuple[list[str], list[str], int]) -> None:
    """The rep restating a need, "we need to wrap up", "do you need anything else from me" and
    a need met last year are not customer needs."""
    _, wrong, _ = probe_results
    assert not wrong, wrong
