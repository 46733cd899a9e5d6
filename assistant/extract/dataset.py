"""Labelled calls for training and evaluation: JSONL, one utterance a line, grouped by call.

A row carries ``call_id``, ``turn``, ``text``, ``label`` and optionally ``lang``, ``speaker``,
``role``, ``category``, ``owner``, ``due_text`` (see ``models/extractor/DATA_CARD.md``). A
transcript JSONL as ``assistant analyze`` reads it, with a ``label`` per line, is one call.
Splits are made per call, from a hash of its id, so train and test never share a call and a call
stays in its split when more data is added.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import InputError

LABELS = ("action_item", "customer_need", "objection", "none")
CATEGORIES = ("price", "timing", "competitor", "authority", "need", "trust", "other")
SPLITS = ("train", "val", "test")
# Percent of calls per split, by hash bucket: [0, 65) train, [65, 78) val, [78, 100) test.
_VAL_FROM, _TEST_FROM = 65, 78


@dataclass(frozen=True)
class Row:
    text: str
    label: str
    speaker: str | None = None
    role: str | None = None
    category: str | None = None
    owner: str | None = None
    due_text: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    # A neighbour kept only so its labelled neighbour has real context; never scored.
    context_only: bool = False


@dataclass
class Call:
    call_id: str
    lang: str
    source: str
    group: str = ""  # calls of one group (excerpts of one meeting) share a split
    rows: list[Row] = field(default_factory=list)

    @property
    def split(self) -> str:
        return split_of(self.group or self.call_id)

    @property
    def scored(self) -> list[Row]:
        return [row for row in self.rows if not row.context_only]


def split_of(call_id: str) -> str:
    bucket = int(hashlib.sha1(call_id.encode("utf-8")).hexdigest(), 16) % 100
    if bucket >= _TEST_FROM:
        return "test"
    return "val" if bucket >= _VAL_FROM else "train"


def _row(raw: dict[str, object], where: str) -> Row:
    text, label = raw.get("text"), raw.get("label", "none")
    if not isinstance(text, str) or label not in LABELS:
        raise InputError(f"{where}: needs a 'text' string and a 'label' in {', '.join(LABELS)}")
    category = raw.get("category")
    if label == "objection" and category not in CATEGORIES:
        category = "other"
    role = raw.get("role")

    def opt(key: str) -> str | None:
        value = raw.get(key)
        return str(value) if value not in (None, "") else None

    def num(key: str) -> float | None:
        value = raw.get(key)
        return float(value) if isinstance(value, int | float) else None

    return Row(
        text=text.strip(),
        label=str(label),
        speaker=opt("speaker"),
        role=role if role in ("rep", "customer") else None,
        category=str(category) if label == "objection" else None,
        owner=opt("owner"),
        due_text=opt("due_text"),
        start_s=num("start_s"),
        end_s=num("end_s"),
        context_only=bool(raw.get("context_only", False)),
    )


def read_calls(paths: Iterable[Path]) -> list[Call]:
    """Every call in the given JSONL files, utterances in turn order."""
    calls: dict[str, Call] = {}
    turns: dict[str, list[tuple[float, Row]]] = {}
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from exc
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}: not valid JSON ({exc.msg})") from exc
            if not isinstance(raw, dict):
                raise InputError(f"{where}: each line must be a JSON object")
            call_id = str(raw.get("call_id") or path.stem)
            if call_id not in calls:
                calls[call_id] = Call(
                    call_id=call_id,
                    lang=str(raw.get("lang") or "en"),
                    source=str(raw.get("source") or path.stem),
                    group=str(raw.get("group") or ""),
                )
                turns[call_id] = []
            order = raw.get("turn", raw.get("start_s", number))
            key = float(order) if isinstance(order, int | float) else float(number)
            turns[call_id].append((key, _row(raw, where)))
    for call_id, call in calls.items():
        call.rows = [row for _, row in sorted(turns[call_id], key=lambda pair: pair[0])]
    return list(calls.values())


def label_counts(calls: Iterable[Call]) -> dict[str, int]:
    counts = dict.fromkeys(LABELS, 0)
    for call in calls:
        for row in call.scored:
            counts[row.label] += 1
    return counts


# Meeting utterances linked to the summary's actions that read as a task or commitment. Linked
# fragments without one ("and the marketing expert,") say nothing on their own: in training they
# are neither item nor non-item; in evaluation every linked utterance is a gold action item.
_AMI_ACTION_CUE = re.compile(
    r"\b(will|'ll|gonna|going to|have to|has to|need to|needs to|should|must|want you|like you"
    r" to|can you|could you|let's|let us|next|send|e-?mail|before|don't forget|look at|looking at"
    r"|work on|working on|bring|prepare|think about|thinking about|get back|find out|check)\b",
    re.IGNORECASE,
)


def read_ami_meetings(path: Path, for_training: bool = False) -> list[Call]:
    """Whole AMI meetings (``shared/data/meetings/ami_dialogue_acts_train.jsonl.gz``), one call
    per meeting, every utterance in time order, at their true prior: ``action_item`` for the
    utterances the annotators linked to the summary's actions, ``none`` for the rest. Roles are
    unknown (a design meeting has no rep). Split by meeting, like the calls.

    ``for_training``: linked utterances without a task cue become context only (not scored).
    """
    meetings: dict[str, list[dict[str, Any]]] = {}
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                raw = json.loads(line)
                if raw.get("start") is None or not str(raw.get("text") or "").strip():
                    continue
                meetings.setdefault(str(raw["meeting_id"]), []).append(raw)
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the AMI meetings ({exc})") from exc
    calls = []
    for meeting, raws in sorted(meetings.items()):
        raws.sort(key=lambda r: (r["start"], r.get("end") or r["start"]))
        rows = []
        for r in raws:
            linked = "actions" in (r.get("linked_summary_sections") or [])
            text = str(r["text"]).strip()
            rows.append(
                Row(
                    text=text,
                    label="action_item" if linked else "none",
                    speaker=str(r["speaker"]),
                    start_s=float(r["start"]),
                    end_s=float(r.get("end") or r["start"]),
                    context_only=for_training and linked and not _AMI_ACTION_CUE.search(text),
                )
            )
        calls.append(Call(f"ami-{meeting}", "en", "ami", f"ami-{meeting}", rows))
    return calls
