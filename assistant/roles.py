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
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from assistant.diarize import Diarization, DiarizeOptions, Turn
from assistant.profiles import VoiceProfile, match_profiles, slug
from assistant.report import ROLE_CONFIDENCE_THRESHOLD, Role, RoleSource, Segment, Speaker

# What a seller says: the offering, its condition, the price they ask and what they will give.
_SELLER = (
    r"\bour (?:product|platform|solution|software|tool|service|offering|pricing|plans?|"
    r"customers|clients|team can|onboarding|support team)\b",
    r"\bwe (?:offer|provide|support|integrate|can set (?:you|that) up|have a (?:plan|package))\b",
    r"\blet me (?:show|walk you through|share my screen)\b",
    r"\bi(?:'ll| will) send (?:you|over)\b",
    r"\b(?:a|the) (?:demo|trial|proposal|quote)\b",
    r"\bi(?:'m| am) (?:asking|selling|offering)\b",
    r"\b(?:i|we) (?:can|could|would|will)(?: also| even)? (?:include|throw in|knock|drop|lower|"
    r"give you|offer you|let (?:it|them) go)\b",
    r"\b(?:i|we) (?:can(?:'t|not)|couldn't|won't) (?:go|do|take|let it go)(?: any)? "
    r"(?:lower|less|below|that low|for that)\b",
    r"\b(?:the )?lowest (?:i|we) (?:can|could|would|will)\b",
    r"\b(?:great|good|excellent|perfect|fantastic|mint|new|working) (?:condition|shape|order)\b",
    r"\b(?:brand new|barely used|never (?:been )?used|well (?:maintained|cared for|kept))\b",
    r"\bi(?:'ve| have)? (?:bought|used|had) (?:it|them|this)\b",
    r"\bunser(?:e|en|em|er)? (?:produkt|plattform|lösung|software|angebot|service|kunden|team|"
    r"preis)\b",
    r"\bwir bieten\b",
    r"\bbei uns (?:können|bekommen|gibt es)\b",
    r"\bich (?:zeige|schicke|sende|gebe|mache) (?:ihnen|dir)\b",
    r"\b(?:eine|die) (?:demo|testphase)\b",
    r"\b(?:ich|wir) (?:kann|können|könnte|könnten) (?:ihnen|dir|euch)\b",
    r"\b(?:ich|wir) (?:verkaufe|verkaufen)\b",
    r"\b(?:guten|gutem|sehr guten|sehr gutem|einwandfreien|einwandfreiem|top) zustand\b",
    r"\b(?:neuwertig|wie neu|kaum benutzt|festpreis|mein letzter preis|mein letztes angebot)\b",
)
# What a buyer says: what they need, that they are interested, and pushing back on the price.
_BUYER = (
    r"\bwe (?:need|are looking for|'re looking for|currently use|use|have been using|tried)\b",
    r"\bwe're (?:looking for|using|currently)\b",
    r"\bour (?:budget|current (?:system|tool|provider|vendor)|boss|manager|procurement)\b",
    r"\bi (?:need|am looking for|'m looking for)\b",
    r"\bi(?:'m| am)(?: very| really| definitely| still| quite)? interested\b",
    r"\b(?:too (?:much|expensive|high|steep|pricey)|a bit much)\b",
    r"\b(?:over|out of|above|beyond|outside) (?:my|our) (?:budget|price range|range|means)\b",
    r"\b(?:my|our) (?:budget|price range|max(?:imum)?)\b",
    r"\b(?:can't|cannot|couldn't) afford\b",
    r"\bi (?:can|could|would|will)(?: only)? (?:pay|afford|offer(?! you))\b",
    r"\b(?:willing|able) to pay\b",
    r"\b(?:can|could|would|will) you (?:go|come|do|take|accept|consider|lower|drop|knock|"
    r"be willing)\b",
    r"\b(?:the )?lowest you\b",
    r"\b(?:still available|still for sale|negotiable)\b",
    r"\bwir (?:brauchen|benötigen|suchen|nutzen|verwenden|haben aktuell)\b",
    r"\bich (?:brauche|benötige|suche|interessiere mich)\b",
    r"\bunser(?:e|en)? (?:budget|chef|einkauf|aktuelles? (?:system|tool))\b",
    r"\b(?:zu teuer|zu viel|zu hoch|über unserem budget|mein budget)\b",
    r"\b(?:können|könnten|kannst|könntest) (?:sie|du) (?:da |noch |beim preis |mit dem preis )?"
    r"(?:runter|entgegen|nachlassen|etwas nachlassen)\b",
    r"\b(?:verhandelbar|noch zu haben|noch verfügbar)\b",
)
_SELLER_RE = [re.compile(p, re.IGNORECASE) for p in _SELLER]
_BUYER_RE = [re.compile(p, re.IGNORECASE) for p in _BUYER]
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_YOU = re.compile(
    r"\b(?:you|your|yours|sie|ihr|ihre|ihren|ihrem|ihnen|du|dein|deine|deinen|dir|dich)\b", re.I
)
_WE = re.compile(r"\b(?:we|our|us|wir|unser|unsere|unseren|uns)\b", re.I)
_SELF = re.compile(r"\b(?:i|my|me|ich|mein|meine|mir|mich)\b", re.I)

FEATURES = (
    "opener",
    "seller phrases",
    "buyer phrases",
    "questions about the other",
    "questions about the thing",
    "you per 10 words",
    "we per 10 words",
    "I per 10 words",
    "share of words",
)
# In the order of FEATURES; see the module docstring.
_WEIGHTS = (0.5, 1.8, -3.4, 1.6, 0.0, 4.7, -4.1, -1.3, 0.0)


def _hits(patterns: list[re.Pattern[str]], text: str) -> int:
    return sum(len(p.findall(text)) for p in patterns)


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text) if s.strip()]


def _is_question(sentence: str) -> bool:
    return sentence.rstrip().endswith("?")


def _raw_features(own: list[str], opener: bool, questions: int, words_total: int) -> list[float]:
    text = " ".join(own)
    words = max(1, len(text.split()))
    utterances = max(1, len(own))
    sentences = [s for t in own for s in _sentences(t)]
    asked = [s for s in sentences if _is_question(s) and not _hits(_BUYER_RE, s)]
    about_other = sum(1 for s in asked if _YOU.search(s))
    # A seller's phrase asked as a question ("is it in good condition?") is a buyer's question.
    seller = sum(_hits(_SELLER_RE, s) for s in sentences if not _is_question(s))
    return [
        1.0 if opener else 0.0,
        seller / utterances,
        _hits(_BUYER_RE, text) / utterances,
        about_other / max(1, questions),
        (len(asked) - about_other) / max(1, questions),
        len(_YOU.findall(text)) / words * 10,
        len(_WE.findall(text)) / words * 10,
        len(_SELF.findall(text)) / words * 10,
        len(text.split()) / max(1, words_total),
    ]


def _question_count(text: str) -> int:
    return sum(1 for s in _sentences(text) if _is_question(s))


def role_features(segments: Sequence[Segment], speakers: Sequence[str]) -> dict[str, list[float]]:
    """{speaker: FEATURES of what they said, each minus the mean of the other speakers}."""
    opener = next(
        (s.speaker for s in segments if s.speaker in speakers and len(s.text.split()) >= 3), None
    )
    said = {sp: [s.text for s in segments if s.speaker == sp] for sp in speakers}
    questions = sum(_question_count(t) for texts in said.values() for t in texts)
    words_total = sum(len(t.split()) for texts in said.values() for t in texts)
    raw = {sp: _raw_features(said[sp], sp == opener, questions, words_total) for sp in speakers}
    relative = {}
    for sp in speakers:
        others = [raw[o] for o in speakers if o != sp] or [[0.0] * len(FEATURES)]
        relative[sp] = [
            mine - sum(other[i] for other in others) / len(others) for i, mine in enumerate(raw[sp])
        ]
    return relative


def heuristic_roles(
    segments: Sequence[Segment], speakers: Sequence[str]
) -> dict[str, tuple[Role, float]]:
    """{speaker: (role, confidence)} from the words alone; see the module docstring."""
    if not speakers:
        return {}
    if len(speakers) == 1:
        return {speakers[0]: ("rep", 0.5)}
    features = role_features(segments, speakers)
    score = {s: sum(w * x for w, x in zip(_WEIGHTS, features[s], strict=True)) for s in speakers}
    opener = next(
        (s.speaker for s in segments if s.speaker in speakers and len(s.text.split()) >= 3), None
    )
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
            speakers[sid] = _with_role(speaker, "rep" if is_rep else "customer", "channel", 1.0)
    elif diarization.method == "none":
        _transcript_roles(segments, speakers, matches)
    elif matches:
        best = max(similarity for _, similarity in matches.values())
        for sid, speaker in speakers.items():
            matched = sid in matches
            role: Role = "rep" if matched else "customer"
            confidence = matches[sid][1] if matched else best
            speakers[sid] = _with_role(speaker, role, "profile", confidence)
    else:
        _heuristic(segments, speakers, list(speakers))
    taken = {sid for sid in ids if sid not in matches}
    for sid in matches:
        name = speakers[sid].name or sid
        # An enrolled rep is called by name, unless that name is another speaker's label.
        final = name if name not in taken else f"{name} ({sid})"
        taken.add(final)
        speakers[sid] = speakers[sid].model_copy(update={"id": final})
    return speakers


def _with_role(speaker: Speaker, role: Role, source: RoleSource, confidence: float) -> Speaker:
    # Only the text heuristic guesses; its speakers share one confidence, that of its rep.
    uncertain = source == "heuristic" and confidence < ROLE_CONFIDENCE_THRESHOLD
    return speaker.model_copy(
        update={
            "role": role,
            "role_source": source,
            "role_confidence": confidence,
            "role_uncertain": uncertain,
        }
    )


def _heuristic(segments: Sequence[Segment], speakers: dict[str, Speaker], among: list[str]) -> None:
    for sid, (role, confidence) in heuristic_roles(segments, among).items():
        speakers[sid] = _with_role(speakers[sid], role, "heuristic", confidence)


def _given_roles(segments: Sequence[Segment]) -> dict[str, Role]:
    """{speaker: role} that an imported transcript wrote on its turns (the most frequent one)."""
    counts: dict[str, Counter[Role]] = {}
    for segment in segments:
        if segment.speaker is not None and segment.role is not None:
            counts.setdefault(segment.speaker, Counter())[segment.role] += 1
    return {sid: count.most_common(1)[0][0] for sid, count in counts.items()}


def _transcript_roles(
    segments: Sequence[Segment],
    speakers: dict[str, Speaker],
    matches: dict[str, tuple[VoiceProfile, float]],
) -> None:
    """Roles of an imported transcript: written roles are final, a speaker named like an enrolled
    rep is the rep, and only the speakers left over are decided here."""
    given = _given_roles(segments)
    for sid in speakers:
        if sid in given:
            speakers[sid] = _with_role(speakers[sid], given[sid], "transcript", 1.0)
        elif sid in matches:
            speakers[sid] = _with_role(speakers[sid], "rep", "transcript", 1.0)
    unknown = [sid for sid, s in speakers.items() if s.role is None]
    if not unknown:
        return
    if any(s.role == "rep" for s in speakers.values()):
        # The rep is known: everyone else is a customer, as with an enrolled voice.
        for sid in unknown:
            speakers[sid] = _with_role(speakers[sid], "customer", "transcript", 1.0)
        return
    _heuristic(segments, speakers, unknown)


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
            # A role the transcript wrote on this very turn is final, even against its speaker's.
            given = segment.role if who.role_source == "transcript" else None
            update |= {"speaker": who.id, "role": given or who.role}
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
