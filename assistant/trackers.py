"""Keyword trackers: named lists of terms (competitors, pricing, legal...) found in a call, with
counts per role and the moments they were said.

A tracker file is JSON, either ``{"name": ["term", ...], ...}`` or
``[{"name": "...", "terms": ["...", ...]}, ...]``. Terms match whole words, case-insensitively,
with any whitespace between the words of a phrase; a trailing ``*`` matches any ending
(``Preis*`` finds "Preiserhöhung"), which German compounds need.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from assistant.errors import OptionError
from assistant.report import Segment

ROLES = ("rep", "customer", "unknown")


@dataclass(frozen=True)
class Tracker:
    name: str
    terms: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise OptionError("a tracker needs a name")
        if not self.terms or any(not t.strip(" *") for t in self.terms):
            raise OptionError(f"tracker {self.name!r} needs a list of non-empty terms")

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        parts = []
        for term in sorted(self.terms, key=len, reverse=True):
            stem = term.strip()
            wildcard = stem.endswith("*")
            words = [re.escape(w) for w in stem.rstrip("*").split()]
            body = r"\s+".join(words)
            parts.append(rf"(?<!\w){body}" + (r"\w*" if wildcard else r"(?!\w)"))
        return re.compile("|".join(parts), re.IGNORECASE)


DEFAULT_TRACKERS: tuple[Tracker, ...] = (
    Tracker(
        "competitors",
        (
            "Salesforce",
            "HubSpot",
            "Pipedrive",
            "Zoho",
            "Microsoft Dynamics",
            "SAP",
            "Oracle",
            "competitor*",
            "other vendor*",
            "another vendor",
            "alternative*",
            "Wettbewerb*",
            "Konkurrenz*",
            "Mitbewerber*",
            "anderen Anbieter*",
            "anderer Anbieter",
            "Alternative*",
        ),
    ),
    Tracker(
        "pricing",
        (
            "price*",
            "pricing",
            "cost*",
            "discount*",
            "budget*",
            "expensive",
            "license fee*",
            "per seat",
            "per user",
            "invoice*",
            "Preis*",
            "Kosten*",
            "Rabatt*",
            "teuer*",
            "Lizenz*",
            "Angebot*",
            "quote",
            "Euro",
            "dollars",
        ),
    ),
    Tracker(
        "legal",
        (
            "contract*",
            "legal",
            "lawyer*",
            "terms and conditions",
            "NDA",
            "DPA",
            "GDPR",
            "liability",
            "procurement",
            "Vertrag*",
            "Rechtsabteilung",
            "DSGVO",
            "AVV",
            "Datenschutz*",
            "Haftung*",
            "Einkauf",
            "AGB",
        ),
    ),
    Tracker(
        "security",
        (
            "security",
            "SSO",
            "single sign-on",
            "SOC 2",
            "ISO 27001",
            "encryption",
            "penetration test*",
            "pen test*",
            "on-prem*",
            "Sicherheit*",
            "Verschlüsselung",
            "Penetrationstest*",
            "Rechenzentrum",
            "Hosting",
        ),
    ),
    Tracker(
        "timeline",
        (
            "deadline*",
            "go-live",
            "go live",
            "rollout",
            "timeline*",
            "next quarter",
            "end of the quarter",
            "this year",
            "Frist*",
            "Zeitplan*",
            "Einführung*",
            "Quartal*",
            "bis Ende",
        ),
    ),
)


def parse_trackers(raw: object, where: str = "trackers") -> tuple[Tracker, ...]:
    """Trackers from decoded JSON (see the module docstring for the two shapes)."""
    entries: list[tuple[object, object]]
    if isinstance(raw, dict):
        entries = list(raw.items())
    elif isinstance(raw, list):
        entries = []
        for entry in raw:
            if not isinstance(entry, dict) or "name" not in entry or "terms" not in entry:
                raise OptionError(f"{where}: each tracker needs a 'name' and a 'terms' list")
            entries.append((entry["name"], entry["terms"]))
    else:
        raise OptionError(
            f'{where}: expected {{"tracker name": ["term", ...]}} or a list of '
            '{"name": ..., "terms": [...]}'
        )
    trackers = []
    for name, terms in entries:
        if not isinstance(name, str) or not isinstance(terms, list):
            raise OptionError(f"{where}: tracker {name!r} needs a list of terms")
        if not all(isinstance(t, str) for t in terms):
            raise OptionError(f"{where}: the terms of tracker {name!r} must be strings")
        trackers.append(Tracker(name.strip(), tuple(t.strip() for t in terms)))
    if not trackers:
        raise OptionError(f"{where}: no trackers defined")
    return tuple(trackers)


def load_trackers(path: Path) -> tuple[Tracker, ...]:
    """Trackers from a JSON file; a clear ``OptionError`` when it cannot be used."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise OptionError(f"{path}: no such tracker file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise OptionError(f"{path}: cannot read the tracker file") from exc
    except json.JSONDecodeError as exc:
        raise OptionError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    return parse_trackers(raw, str(path))


def match_trackers(
    segments: Sequence[Segment], trackers: Sequence[Tracker]
) -> list[dict[str, object]]:
    """Per tracker: how often its terms were said, by whom (role), and each moment."""
    results: list[dict[str, object]] = []
    for tracker in trackers:
        by_role = dict.fromkeys(ROLES, 0)
        by_term: dict[str, int] = {}
        moments = []
        for seg in segments:
            for match in tracker.pattern.finditer(seg.text):
                said = match.group(0)
                role = seg.role or "unknown"
                by_role[role] += 1
                key = said.lower()
                by_term[key] = by_term.get(key, 0) + 1
                moments.append(
                    {
                        "segment_id": seg.id,
                        "start_s": seg.start_s,
                        "end_s": seg.end_s,
                        "speaker": seg.speaker,
                        "role": seg.role,
                        "term": said,
                        "text": seg.text,
                    }
                )
        results.append(
            {
                "name": tracker.name,
                "terms": list(tracker.terms),
                "count": len(moments),
                "by_role": by_role,
                "by_term": dict(sorted(by_term.items(), key=lambda kv: (-kv[1], kv[0]))),
                "moments": moments,
            }
        )
    return results
