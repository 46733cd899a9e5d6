"""Who is the rep and who is the customer.

Decided in this order, first that applies:

1. **Channel**: a two-party stereo recording with ``rep_channel`` set: that channel is the rep
   (confidence 1.0).
2. **Voice profile**: a speaker whose voice matches an enrolled rep (``assistant.profiles``) is
   that rep, named after them; everyone else is a customer, unless a second rep matches. The
   confidence is the cosine similarity. An imported transcript whose speaker is called like an
   enrolled rep counts the same way (``role_source="transcript"``).
3. **Heuristic** (no channel mapping, no profile match), over what each speaker said. Each
   speaker gets a score, the weighted sum of these features, each taken relative to the mean of
   the other speakers:

   ============================================================ =======
   feature                                                       weight
   ============================================================ =======
   opened the call (first speaker with at least three words)       +0.5
   phrases about the offering per utterance ("our product",        +1.8
   "we offer", "let me show you", "unsere Lösung", "wir bieten")
   phrases of a buyer per utterance ("we need", "our budget",      -3.4
   "too expensive", "wir brauchen", "zu teuer")
   share of the call's questions asked                             +1.6
   "you/your/Sie/Ihr..." per 10 words (reps talk about the buyer)  +4.7
   "we/our/wir/unser..." per 10 words (buyers talk about their     -4.1
   company; a rep's "we offer" is counted above)
   "I/my/ich/mein..." per 10 words                                 -1.3
   ============================================================ =======

   The highest score is the rep, the others customers; the confidence is the logistic of the
   margin between the best and the second-best score (the opener alone: 0.73; a lone speaker:
   the rep, 0.5). The text weights are a logistic regression fitted on the project's written
   English sales calls ``models/extractor/data/calls_en_a.jsonl`` (each call also cut to start
   with the customer); the opener weight is set by hand, because in those calls the rep always
   opens. On the calls it was not fitted on it finds the rep in 96% of ``calls_en_b`` and 100%
   of ``calls_de`` (89% and 95% when the customer speaks first); ``scripts/bench_diarize.py``
   prints these numbers. They are written calls, not recordings: expect less on real ones, where
   the voice profile is the way to be sure.

A person can override any role later (``role_source="manual"``).
"""

from __future__ import annotations

import math
import re
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


_YOU = re.compile(r"\b(?:you|your|yours|sie|ihr|ihre|ihren|ihrem|ihnen|du|dein|deine)\b", re.I)
_WE = re.compile(r"\b(?:we|our|us|wir|unser|unsere|unseren|uns)\b", re.I)
_SELF = re.compile(r"\b(?:i|my|me|ich|mein|meine|mir|mich)\b", re.I)
# opener, offering, buyer, question share, you, we, I: see the module docstring.
_WEIGHTS = (0.5, 1.8, -3.4, 1.6, 4.7, -4.1, -1.3)


def _features(
    segments: Sequence[Segment], speaker: str, opener: str | None, questions: int
) -> list[float]:
    own = [s.text for s in segments if s.speaker == speaker]
    text = " ".join(own)
    words = max(1, len(text.split()))
    utterances = max(1, len(own))
    return [
        1.0 if speaker == opener else 0.0,
        sum(_hits(_PRODUCT_RE, t) for t in own) / utterances,
        sum(_hits(_CUSTOMER_RE, t) for t in own) / utterances,
        len(_QUESTION.findall(text)) / max(1, questions),
        len(_YOU.findall(text)) / words * 10,
        len(_WE.findall(text)) / words * 10,
        len(_SELF.findall(text)) / words * 10,
    ]


def heuristic_roles(
    segments: Sequence[Segment], speakers: Sequence[str]
) -> dict[str, tuple[Role, float]]:
    """{speaker: (role, confidence)} from the words alone; see the module docstring."""
    if not speakers:
        return {}
    if len(speakers) == 1:
        return {speakers[0]: ("rep", 0.5)}
    opener = next(
        (s.speaker for s in segments if s.speaker in speakers and len(s.text.split()) >= 3), None
    )
    questions = sum(len(_QUESTION.findall(s.text)) for s in segments if s.speaker in speakers)
    features = {s: _features(segments, s, opener, questions) for s in speakers}
    score = {}
    for speaker in speakers:
        others = [features[o] for o in speakers if o != speaker]
        relative = [
            mine - sum(other[i] for other in others) / len(others)
            for i, mine in enumerate(features[speaker])
        ]
        score[speaker] = sum(w * x for w, x in zip(_WEIGHTS, relative, strict=True))
    order = list(speakers)
    ranked = sorted(order, key=lambda s: (-score[s], s != opener, order.index(s)))
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
