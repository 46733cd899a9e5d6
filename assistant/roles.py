"""Who is the rep and who is the customer.

Decided in this order, first that applies:

1. **Channel**: a two-party stereo recording with ``rep_channel`` set: that channel is the rep
   (confidence 1.0).
2. **Voice profile**: a speaker whose voice matches an enrolled rep (``assistant.profiles``) is
   that rep, named after them; everyone else is a customer, unless a second rep matches. The
   confidence is the cosine similarity. An imported transcript whose speaker is called like an
   enrolled rep counts the same way (``role_source="transcript"``).
3. **Heuristic** (no channel mapping, no profile match), over what each speaker said:

   - +1.0 for opening the call (the first speaker with at least three words);
   - +1.0 per phrase about the offering ("our product", "we offer", "unsere Lösung", "wir bieten",
     "let me show you", "ich schicke Ihnen" ...);
   - -1.0 per phrase of a buyer ("we need", "our budget", "too expensive", "wir brauchen",
     "zu teuer", "we currently use" ...);
   - +0.25 per question asked, up to +1.0 (reps run discovery).

   The highest score is the rep, the others customers. The confidence is the logistic of the
   margin between the best and the second-best score: opening the call and nothing else gives
   0.73; a lone speaker is the rep with confidence 0.5.

A person can override any role later (``role_source="manual"``).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from assistant.diarize import Diarization, DiarizeOptions, Turn
from assistant.profiles import VoiceProfile, match_profiles, slug
from assistant.report import Role, Segment, Speaker

_PRODUCT = (
    r"\bour (?:product|platform|solution|software|tool|service|offering|pricing|plans?|"
    r"customers|clients|team can|onboarding|support team)\b",
    r"\bwe (?:offer|provide|support|integrate|can set (?:you|that) up|have a (?:plan|package))\b",
    r"\blet me (?:show|walk you through|share my screen)\b",
    r"\bi(?:'ll| will) send (?:you|over)\b",
    r"\b(?:a|the) (?:demo|trial|proposal|quote)\b",
    r"\bunser(?:e|en|em|er)? (?:produkt|plattform|lösung|software|angebot|service|kunden|team)\b",
    r"\bwir bieten\b",
    r"\bbei uns (?:können|bekommen|gibt es)\b",
    r"\bich (?:zeige|schicke|sende) ihnen\b",
    r"\b(?:eine|die) (?:demo|testphase|angebot)\b",
)
_CUSTOMER = (
    r"\bwe (?:need|are looking for|'re looking for|currently use|use|have been using|tried)\b",
    r"\bwe're (?:looking for|using|currently)\b",
    r"\bour (?:budget|current (?:system|tool|provider|vendor)|boss|manager|procurement)\b",
    r"\b(?:too expensive|over our budget|out of our budget|not in our budget)\b",
    r"\bwir (?:brauchen|benötigen|suchen|nutzen|verwenden|haben aktuell)\b",
    r"\bunser(?:e|en)? (?:budget|chef|einkauf|aktuelles? (?:system|tool))\b",
    r"\bzu teuer\b",
)
_PRODUCT_RE = [re.compile(p, re.IGNORECASE) for p in _PRODUCT]
_CUSTOMER_RE = [re.compile(p, re.IGNORECASE) for p in _CUSTOMER]
_QUESTION = re.compile(r"\?(?=\s|$)")


def _hits(patterns: list[re.Pattern[str]], text: str) -> int:
    return sum(len(p.findall(text)) for p in patterns)


def heuristic_roles(
    segments: Sequence[Segment], speakers: Sequence[str]
) -> dict[str, tuple[Role, float]]:
    """{speaker: (role, confidence)} from the words alone; see the module docstring."""
    if not speakers:
        return {}
    if len(speakers) == 1:
        return {speakers[0]: ("rep", 0.5)}
    score: dict[str, float] = {s: 0.0 for s in speakers}
    questions: Counter[str] = Counter()
    opener = next(
        (s.speaker for s in segments if s.speaker in score and len(s.text.split()) >= 3), None
    )
    if opener is not None:
        score[opener] += 1.0
    for segment in segments:
        who = segment.speaker
        if who is None or who not in score:
            continue
        score[who] += _hits(_PRODUCT_RE, segment.text) - _hits(_CUSTOMER_RE, segment.text)
        questions[who] += len(_QUESTION.findall(segment.text))
    for speaker, count in questions.items():
        score[speaker] += min(1.0, 0.25 * count)
    ranked = sorted(speakers, key=lambda s: (-score[s], s != opener, list(speakers).index(s)))
    margin = score[ranked[0]] - score[ranked[1]]
    confidence = round(1 / (1 + math.exp(-margin)), 3)
    return {s: ("rep" if s == ranked[0] else "customer", confidence) for s in speakers}


def assign_roles(
    segments: Sequence[Segment],
    diarization: Diarization,
    profiles: Sequence[VoiceProfile],
    options: DiarizeOptions | None = None,
) -> dict[str, Speaker]:
    """{label in the segments: final ``Speaker``}; ``apply_roles`` puts them on the segments.

    An enrolled rep's ``Speaker.id`` is their name; other speakers keep their label.
    """
    options = options or DiarizeOptions()
    ids = _speaker_ids(segments, diarization)
    speakers = {
        sid: Speaker(id=sid, channel=diarization.channels.get(sid), role_source="heuristic")
        for sid in ids
    }
    matches = match_profiles(diarization.embeddings, profiles, options.profile_threshold)
    if diarization.method == "none":  # an imported transcript: speakers have names already
        by_slug = {slug(p.name): p for p in profiles}
        for sid in ids:
            if (profile := by_slug.get(slug(sid))) is not None:
                matches[sid] = (profile, 1.0)
    for sid, (profile, similarity) in matches.items():
        speakers[sid] = speakers[sid].model_copy(
            update={"name": profile.name, "profile_similarity": similarity}
        )

    if diarization.method == "stereo" and options.rep_channel is not None:
        for sid, speaker in speakers.items():
            is_rep = speaker.channel == options.rep_channel
            speakers[sid] = speaker.model_copy(
                update={
                    "role": "rep" if is_rep else "customer",
                    "role_source": "channel",
                    "role_confidence": 1.0,
                }
            )
    elif matches:
        source = "transcript" if diarization.method == "none" else "profile"
        best = max(similarity for _, similarity in matches.values())
        for sid, speaker in speakers.items():
            matched = sid in matches
            speakers[sid] = speaker.model_copy(
                update={
                    "role": "rep" if matched else "customer",
                    "role_source": source,
                    "role_confidence": matches[sid][1] if matched else best,
                }
            )
    else:
        for sid, (role, confidence) in heuristic_roles(segments, ids).items():
            speakers[sid] = speakers[sid].model_copy(
                update={"role": role, "role_source": "heuristic", "role_confidence": confidence}
            )
    taken = {sid for sid in ids if sid not in matches}
    for sid in matches:
        name = speakers[sid].name or sid
        # An enrolled rep is called by name, unless that name is another speaker's label.
        final = name if name not in taken else f"{name} ({sid})"
        taken.add(final)
        speakers[sid] = speakers[sid].model_copy(update={"id": final})
    return speakers


def apply_roles(segments: Sequence[Segment], speakers: dict[str, Speaker]) -> list[Segment]:
    """Segments and their words with final speaker ids and roles."""
    out = []
    for segment in segments:
        who = speakers.get(segment.speaker) if segment.speaker is not None else None
        words = [
            w.model_copy(update={"speaker": speakers[w.speaker].id})
            if w.speaker is not None and w.speaker in speakers
            else w
            for w in segment.words
        ]
        update: dict[str, object] = {"words": words}
        if who is not None:
            update |= {"speaker": who.id, "role": who.role}
        out.append(segment.model_copy(update=update))
    return out


def rename_turns(turns: Sequence[Turn], speakers: dict[str, Speaker]) -> list[Turn]:
    """Turns with final speaker ids (an enrolled rep's label becomes their name)."""
    return [
        replace(t, speaker=speakers[t.speaker].id) if t.speaker in speakers else t for t in turns
    ]


def _speaker_ids(segments: Sequence[Segment], diarization: Diarization) -> list[str]:
    ids = list(diarization.speakers)
    for segment in segments:
        if segment.speaker is not None and segment.speaker not in ids:
            ids.append(segment.speaker)
    return ids
