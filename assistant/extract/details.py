"""Item details that follow from the words: who owns an action item, when it is due, and a clean
one-line statement of the item. Rules over the quote, English and German; no model.

Due dates are resolved against the call's date. Relative spans read as deadlines: "next week"
is the Friday of next week, "end of the month" its last day, "bis Mittwoch" the next Wednesday
after the call. Explicit dates ("March 3rd", "am 15. Mai") go through ``dateparser``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

# --- owner -------------------------------------------------------------------------------

_REQUEST = re.compile(
    r"\b(can you|could you|would you|will you|would you mind|can your|could your|you'll|you will"
    r"|you need to|you have to|you guys|if you could|you'd need to|you should|please"
    r"|können sie|könnten sie|würden sie|werden sie|kannst du|könntest du|würdest du"
    r"|sie müssten|müssten sie|schicken sie|senden sie|bitte)\b",
    re.IGNORECASE,
)
_SELF = re.compile(
    r"\b(i'll|i will|i'm going to|i am going to|i'm gonna|let me|i can|i'd|i shall|we'll|we will"
    r"|we're going to|we're gonna|we can|let us|i'm sending|i'm putting|i'll have"
    r"|ich|wir|mach ich|machen wir)\b",
    re.IGNORECASE,
)
_TITLE = r"(?:Mr\.?|Mrs\.?|Ms\.?|Dr\.?|Herr|Frau)\s+"
_NAME = r"[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)?"
_NAMED_VERB = (
    r"(?:will|'ll|is going to|is gonna|can|could|should|needs to|has to|must|wird|kann"
    r"|soll|sollte|muss|schickt|sendet|prüft|klärt|kümmert|meldet|schaut|bringt|ruft|holt)\b"
)
_NAMED = re.compile(rf"(?<![\w-])((?:{_TITLE})?{_NAME})(?:'ll|,?\s+{_NAMED_VERB})")
# A name said just before the request, as the person asked: "Lena, could you ...".
_ADDRESSED = re.compile(rf"(?<![\w-])((?:{_TITLE})?{_NAME}),\s*$")
# Capitalized words that are not people (sentence starts, pronouns, German nouns and articles).
_NOT_NAMES = frozenset(
    """
    i we you he she it they that this there what who which so and but or then well okay ok yeah
    yes no also maybe sure right great perfect good fine our your my their the a an one everyone
    someone somebody nobody legal procurement finance it's that's team everybody ich wir sie er
    es das der die den dem des ein eine einer einen unser unsere ihr ihre mein meine man dann
    also ja nein gut genau okay und aber oder wer was das dies diese dieser jemand team einkauf
    vertrieb geschäftsführung rechtsabteilung thanks thank sounds absolutely definitely cool
    alright danke prima super klar perfekt natürlich gerne sehr honestly actually basically
    frankly seriously obviously look listen hey hi hello oh anyway sorry please now ideally
    hopefully finally first übrigens ehrlich eigentlich hallo schau moment
    """.split()  # noqa: SIM905
)
_ARTICLES = frozenset(
    """
    the a an our your my their this that his her der die das den dem des ein eine einer einen
    unser unsere unserer ihr ihre mein meine dieser diese dieses jeder
    """.split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Party:
    speaker: str | None
    role: str | None

    @property
    def label(self) -> str | None:
        return self.speaker or self.role


def _named_owner(text: str, known: set[str]) -> str | None:
    for match in _NAMED.finditer(text):
        name = match.group(1)
        bare = re.sub(_TITLE, "", name)
        if bare.lower() in _NOT_NAMES or bare.lower() in _WEEKDAYS or bare.lower() in _MONTHS:
            continue
        before = text[: match.start()].rstrip()
        # German nouns are capitalized: "Der Vertrag wird" is no person; "Markus wird" may be.
        article = re.search(r"(\b\w+)$", before)
        if article and article.group(1).lower() in _ARTICLES and name not in known:
            continue
        return name
    return None


def resolve_owner(
    text: str, speaker: Party, other: Party | None, known_names: set[str] | None = None
) -> str | None:
    """Who will do it: a named person ("Markus will check the calendar"), the person a request
    is addressed to by a name the call knows ("Lena, could you ..."), the other party for a
    request ("can you loop in your CFO"), else the speaker ("I'll send the quote"). People are
    named where the transcript knows their names, otherwise given by role."""
    known = known_names or set()
    named = _named_owner(text, known)
    if named and named != speaker.speaker:
        return named
    request = _REQUEST.search(text)
    own = _SELF.search(text)
    if request and (own is None or request.start() < own.start()):
        # "Max, you'll build the first version": the person addressed, not whoever spoke last;
        # only a name the call knows ("Honestly, could you ..." addresses nobody).
        addressed = _ADDRESSED.search(text[: request.start()])
        if addressed and addressed.group(1) in known and addressed.group(1) != speaker.speaker:
            return addressed.group(1)
        if other is not None and other.label:
            return other.label
        if speaker.role in ("rep", "customer"):
            return "customer" if speaker.role == "rep" else "rep"
        return None
    return speaker.label


# --- due dates ---------------------------------------------------------------------------

_WEEKDAYS = {
    **{d: i for i, d in enumerate(calendar.day_name[:])},
    "montag": 0,
    "dienstag": 1,
    "mittwoch": 2,
    "donnerstag": 3,
    "freitag": 4,
    "samstag": 5,
    "sonntag": 6,
}
_WEEKDAYS = {k.lower(): v for k, v in _WEEKDAYS.items()}
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update(
    {
        "januar": 1,
        "jänner": 1,
        "februar": 2,
        "märz": 3,
        "mai": 5,
        "juni": 6,
        "juli": 7,
        "oktober": 10,
        "dezember": 12,
        "sept": 9,
        "jan": 1,
        "feb": 2,
        "aug": 8,
        "oct": 10,
        "nov": 11,
        "dec": 12,
    }
)
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "a couple of": 2,
    "a few": 3,
    "couple of": 2,
    "few": 3,
    "einem": 1,
    "einer": 1,
    "zwei": 2,
    "drei": 3,
    "vier": 4,
    "fünf": 5,
    "sechs": 6,
    "ein paar": 3,
    "paar": 3,
}
_ORDINAL = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}

_WD = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_MO = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NUM = "|".join(sorted(_NUMBERS, key=len, reverse=True)) + r"|\d+"
_PERIOD_EN = r"(day|week|month|quarter|year)"
_PREP = (
    r"(?:by|before|until|till|no later than|on|for|at|bis|am|zum|bis zum|bis spätestens"
    r"|spätestens|vor)"
)

# Longest phrases first; each pattern names what it resolves as.
_DUE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in [
        (
            "relative_day",
            r"\b(?:by |until )?(?:the )?(?:end of (?:the )?day|eod|cob|close of business) "
            r"(tomorrow|today|morgen|heute)\b",
        ),
        ("week_of_month", rf"\b(?:in |by )?the (first|second|third|fourth|last) week of ({_MO})\b"),
        ("iso_date", r"\b\d{4}-\d{2}-\d{2}\b"),
        ("numeric_date", r"\b(?:bis |am |zum |bis zum )?\d{1,2}\.\d{1,2}\.(?:\d{2,4})?"),
        ("calendar_week", r"\b(?:in |bis )?(?:KW|kw|calendar week|kalenderwoche)\s?(\d{1,2})\b"),
        (
            "explicit",
            rf"\b(?:{_PREP} )?(?:the )?\d{{1,2}}(?:st|nd|rd|th|\.)? (?:of )?(?:{_MO})\b"
            rf"|\b(?:{_PREP} )?(?:{_MO}) \d{{1,2}}(?:st|nd|rd|th)?\b",
        ),
        (
            "end_of_period",
            rf"\b(?:by |before |until |bis |zum )?(?:the )?(?:end of|ende) (?:the |this |next |der "
            rf"|dieser |diese |des |nächster |nächsten |kommender )?"
            rf"({_PERIOD_EN}|woche|monats?|quartals?|jahres|jahr|{_MO})\b",
        ),
        (
            "end_of_period",
            r"\b(?:by |bis |zum )?(monatsende|quartalsende|jahresende|wochenende|eod|eow|"
            r"end of day|close of business|cob|feierabend)\b",
        ),
        (
            "start_of_period",
            rf"\b(?:early|beginning of|start of|anfang|am anfang der) (?:the )?(?:next |nächster "
            rf"|nächsten |kommender )?(week|month|woche|monats?|{_MO})\b",
        ),
        ("mid_month", rf"\b(?:mid|mid-|mitte) ?({_MO})\b"),
        (
            "mid_week",
            r"\b(?:bis )?(?:mid|mitte) ?(?:-|of )?(?:the )?(next|nächster|nächsten|kommender"
            r"|this|dieser|der) (?:week|woche)\b",
        ),
        (
            "week_after_next",
            r"\b(?:bis )?(?:übernächste|übernächsten|the week after next)"
            r"(?: woche)?\b",
        ),
        (
            "day_of_month",
            r"\b(?:by|before|on|until|no later than|bis zum|am|zum) the "
            r"(\d{1,2})(?:st|nd|rd|th)\b|\b(?:by|before|on|until) the (first|second|third|"
            r"fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|"
            r"fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|"
            r"twenty-first|twenty-second|twenty-third|twenty-fourth|twenty-fifth|thirtieth)\b",
        ),
        (
            "in_n",
            rf"\b(?:in|within|innerhalb von|in den nächsten|in the next|within the next)"
            rf" ({_NUM}) ({_PERIOD_EN}s?|tagen?"
            rf"|wochen?|monaten?|business days|werktagen)\b",
        ),
        (
            "next_period",
            rf"\b(?:next|nächste|nächsten|kommende|kommenden) ({_PERIOD_EN}|woche"
            rf"|monat|quartal|jahr)\b",
        ),
        (
            "this_period",
            r"\b(?:this|later this|diese|dieser|noch diese|im laufe der) (week|month|"
            r"quarter|woche|monat)\b",
        ),
        (
            "weekday",
            rf"\b(?:{_PREP} |this |next |coming |nächsten |kommenden |diesen )?(?:the )?"
            rf"({_WD})(?: morning| afternoon| evening| eod| früh| vormittag| nachmittag"
            rf"| abend)?\b",
        ),
        (
            "relative_day",
            r"\b(?:by |until |bis |till )?(the day after tomorrow|day after tomorrow|"
            r"tomorrow|today|tonight|later today|this afternoon|this morning|this evening|"
            r"right now|right away|übermorgen|morgen früh|morgen|heute noch|heute|gleich"
            r" nachher|nachher|sofort)\b",
        ),
        ("month", rf"\b(?:in|im|by|bis|until|bis zum|for|für) ({_MO})\b"),
    ]
]


@dataclass(frozen=True)
class Due:
    text: str
    date: date | None


def _end_of_month(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _friday(day: date) -> date:
    return day + timedelta(days=4 - day.weekday())


def _month_ahead(base: date, month: int) -> int:
    """The year in which ``month`` next comes (this year when it is now or later)."""
    return base.year if month >= base.month else base.year + 1


def _unit(word: str) -> str:
    w = word.lower()
    if w.startswith(("day", "tag", "business", "werk")):
        return "day"
    if w.startswith(("week", "woche")):
        return "week"
    if w.startswith(("month", "monat")):
        return "month"
    if w.startswith(("quarter", "quartal")):
        return "quarter"
    return "year"


def _end_of(unit: str, base: date, ahead: int = 0) -> date:
    if unit == "day":
        return base + timedelta(days=ahead)
    if unit == "week":
        friday = _friday(base) + timedelta(weeks=ahead)
        return friday if friday >= base else friday + timedelta(weeks=1)
    if unit == "month":
        moved = _add_months(base.replace(day=1), ahead)
        return _end_of_month(moved.year, moved.month)
    if unit == "quarter":
        last_month = ((base.month - 1) // 3 + 1) * 3
        moved = _add_months(date(base.year, last_month, 1), 3 * ahead)
        return _end_of_month(moved.year, moved.month)
    return date(base.year + ahead, 12, 31)


@lru_cache(maxsize=256)
def _dateparser(text: str, base: date) -> date | None:
    from datetime import datetime

    import dateparser

    parsed = dateparser.parse(
        text,
        languages=["en", "de"],
        settings={
            "RELATIVE_BASE": datetime(base.year, base.month, base.day),
            "PREFER_DATES_FROM": "future",
            "PREFER_DAY_OF_MONTH": "first",
            "RETURN_AS_TIMEZONE_AWARE": False,
        },
    )
    return parsed.date() if parsed else None


_LEAD = re.compile(rf"^(?:{_PREP}|the|this|next|coming|nächsten|kommenden|diesen)\s+", re.I)


def _resolve(kind: str, match: re.Match[str], base: date) -> date | None:
    text = match.group(0).lower()
    if kind == "relative_day":
        word = match.group(1).lower()
        if "übermorgen" in word or "after tomorrow" in word:
            return base + timedelta(days=2)
        if "morgen" in word or "tomorrow" in word:
            return base + timedelta(days=1)
        return base
    if kind == "mid_week":
        ahead = 0 if match.group(1).lower() in ("this", "dieser", "der") else 1
        monday = base - timedelta(days=base.weekday()) + timedelta(weeks=ahead)
        return monday + timedelta(days=2)
    if kind == "week_after_next":
        return _end_of("week", base, 2)
    if kind == "day_of_month":
        words = [
            "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
            "ninth", "tenth", "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth",
            "sixteenth", "seventeenth", "eighteenth", "nineteenth", "twentieth",
            "twenty-first", "twenty-second", "twenty-third", "twenty-fourth", "twenty-fifth",
        ]  # fmt: skip
        if match.group(1):
            day = int(match.group(1))
        elif match.group(2).lower() == "thirtieth":
            day = 30
        else:
            day = words.index(match.group(2).lower()) + 1
        for months_ahead in range(3):
            first = _add_months(base.replace(day=1), months_ahead)
            if day <= calendar.monthrange(first.year, first.month)[1]:
                candidate = first.replace(day=day)
                if candidate >= base:
                    return candidate
        return None
    if kind == "weekday":
        target = _WEEKDAYS[match.group(1).lower()]
        ahead = (target - base.weekday()) % 7 or 7
        if re.search(r"\bnext\b", text) and ahead < 3:
            ahead += 7  # "next Tuesday" said on a Sunday means the week after
        return base + timedelta(days=ahead)
    if kind == "this_period":
        return _end_of(_unit(match.group(1)), base)
    if kind == "next_period":
        return _end_of(_unit(match.group(1)), base, 1)
    if kind == "in_n":
        n = _NUMBERS.get(match.group(1).lower())
        count = n if n is not None else int(match.group(1))
        unit = _unit(match.group(2))
        if unit == "day":
            return base + timedelta(days=count)
        if unit == "week":
            return base + timedelta(weeks=count)
        if unit == "month":
            return _add_months(base, count)
        return _add_months(base, 3 * count if unit == "quarter" else 12 * count)
    if kind == "end_of_period":
        word = match.group(1).lower()
        if word in ("eod", "end of day", "close of business", "cob", "feierabend"):
            return base
        if word in _MONTHS:
            month = _MONTHS[word]
            return _end_of_month(_month_ahead(base, month), month)
        for prefix, unit in (("monat", "month"), ("quartal", "quarter"), ("jahr", "year")):
            if word.startswith(prefix):
                return _end_of(unit, base)
        if word in ("wochenende", "eow"):
            return _end_of("week", base)
        ahead = 1 if re.search(r"\b(next|nächste[rn]?|kommender)\b", text) else 0
        return _end_of(_unit(word), base, ahead)
    if kind == "start_of_period":
        word = match.group(1).lower()
        if word in _MONTHS:
            month = _MONTHS[word]
            return date(_month_ahead(base, month), month, 1)
        if word.startswith(("week", "woche")):
            return base + timedelta(days=7 - base.weekday())
        moved = _add_months(base.replace(day=1), 1)
        return moved
    if kind == "mid_month":
        month = _MONTHS[match.group(1).lower()]
        return date(_month_ahead(base, month), month, 15)
    if kind == "month":
        month = _MONTHS[match.group(1).lower()]
        return date(_month_ahead(base, month), month, 1)
    if kind == "week_of_month":
        month = _MONTHS[match.group(2).lower()]
        first = date(_month_ahead(base, month), month, 1)
        monday = first + timedelta(days=(7 - first.weekday()) % 7)
        n = _ORDINAL[match.group(1).lower()]
        if n == -1:
            last = _end_of_month(first.year, month)
            return last - timedelta(days=last.weekday())
        return monday + timedelta(weeks=n - 1)
    if kind == "numeric_date":
        numbers = re.search(r"(\d{1,2})\.(\d{1,2})\.(\d{2,4})?", text)
        if numbers is None:
            return None
        day, month = int(numbers.group(1)), int(numbers.group(2))
        year = int(numbers.group(3)) if numbers.group(3) else None
        if year is not None and year < 100:
            year += 2000
        try:
            if year is None:
                candidate = date(base.year, month, day)
                return candidate if candidate >= base else date(base.year + 1, month, day)
            return date(year, month, day)
        except ValueError:
            return None
    if kind == "calendar_week":
        week = int(match.group(1))
        year = base.year if week >= base.isocalendar().week else base.year + 1
        try:
            return date.fromisocalendar(year, week, 1)
        except ValueError:
            return None
    phrase = _LEAD.sub("", match.group(0).strip())
    phrase = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", phrase)
    return _dateparser(phrase, base)


def find_due(text: str, call_date: date) -> Due | None:
    """The first deadline said in ``text``, as said and as a date counted from ``call_date``."""
    best: tuple[int, int, str, re.Match[str]] | None = None
    for kind, pattern in _DUE_PATTERNS:
        for match in pattern.finditer(text):
            # The earliest phrase wins; at one position, the longest.
            key = (match.start(), -len(match.group(0)))
            if best is None or key < best[:2]:
                best = (key[0], key[1], kind, match)
    if best is None:
        return None
    kind, match = best[2], best[3]
    return Due(text=match.group(0).strip(" ,."), date=_resolve(kind, match, call_date))


# --- clean statement ---------------------------------------------------------------------

_FILLERS = {
    "en": r"\b(?:u+m+|u+h+|uhm|erm|hmm+|mm+|mhm|you know,?|i mean,|like,|sort of|kind of|basically"
    r"|actually,)\s*",
    "de": r"\b(?:ä+h+m*|ä+hm|ehm|öh+m?|hm+|mhm|sozusagen|sag ich mal,?|quasi)\s*",
}
_LEADING = re.compile(
    r"^(?:(?:so|okay|ok|well|yeah|yes|right|and|alright|all right|also|ja|gut|genau|na ja|naja"
    r"|und|dann|great|perfect|perfekt|super|sure|cool|good|honestly|ehrlich gesagt)\b[,.!]?\s*)+",
    re.IGNORECASE,
)
_COMMIT_START = re.compile(
    r"(?:^|[,;.]\s+|\s-\s)((?:i'll|i will|i'm going to|we'll|we will|let me|can you|could you"
    r"|would you|ich (?:werde|schicke|sende|schick|kümmere|melde|bereite|kläre|mach)|wir werden"
    r"|können sie|könnten sie|kannst du)\b.*)$",
    re.IGNORECASE,
)


def clean_statement(quote: str, kind: str) -> str:
    """One readable line: fillers, stutters and opening "so, okay" gone; an action item starts
    at its commitment ("..., I'll send the quote by Thursday" -> "I'll send the quote by
    Thursday.")."""
    text = " ".join(quote.split())
    for filler in _FILLERS.values():
        text = re.sub(filler, "", text, flags=re.IGNORECASE)
    text = re.sub(r"\b([\w']+)(?:,?\s+\1\b)+", r"\1", text, flags=re.IGNORECASE)  # "the the"
    text = re.sub(r"\s+([,.?!])", r"\1", text)
    text = re.sub(r",\s*,", ",", text)
    if kind == "action_item" and (start := _COMMIT_START.search(text)):
        text = start.group(1)
    text = _LEADING.sub("", text).strip(" ,;-")
    if not text:
        return " ".join(quote.split())
    text = text[0].upper() + text[1:]
    if text[-1] not in ".?!":
        text += "."
    return text


_I_WILL = re.compile(
    r"^(?:i'll|i will|i'm going to|i am going to|i'm gonna|i can|let me|we'll|we will"
    r"|we're going to|we're gonna|we can|let us)\s+(.+)$",
    re.IGNORECASE,
)
_YOU_WILL = re.compile(
    r"^(?:can you|could you|would you|will you|can you please|could you please|please)\s+(.+)$",
    re.IGNORECASE,
)


def action_statement(statement: str, owner: str | None) -> str:
    """An English commitment as a summary line says it: "I'll send the quote by Thursday." with
    owner Tom becomes "Tom will send the quote by Thursday."; "Can you loop in your CFO?" asked
    of Priya becomes "Priya to loop in your CFO." Other statements stay as they are."""
    if not owner:
        return statement
    body = statement.rstrip(".?! ")
    if match := _I_WILL.match(body):
        return f"{owner} will {match.group(1)}."
    if match := _YOU_WILL.match(body):
        return f"{owner} to {match.group(1)}."
    return statement
