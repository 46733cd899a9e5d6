"""Benchmark speaker diarization on conversations built from real voices, tuned on one half
and reported on the other.

Conversations are made of real recordings of different people in tests/data (LibriSpeech
speakers 251 and 3536, JFK, FLEURS English and German speakers, the two channels of
stereo_diarization.wav), cut at pauses into turns and laid end to end with short gaps, so who
spoke when is known. Reference speech inside each turn is found from the clip's own energy (not
from the VAD the diarizer uses). What makes them hard:

  same gender   most pairs are two men (median pitch 100-160 Hz); one pair is two women
  backchannels  1-2 s turns of the other party, some laid over the speaker's turn
  overlap       some turns start 0.3 s before the previous one ends
  noise bursts  0.2 s bursts of noise between turns (a door, a cough: not a speaker)
  one voice     a recording of one person (the answer must be one speaker)
  two languages a German rep with an English customer
  two-channel   every two-party conversation also as a call recorder writes it: one party per
                channel, the other party's voice bleeding in at -20 dB
  degraded      every mono conversation also as 8 kHz mu-law, Opus 16 kbit/s, MP3 32 kbit/s and
                with noise 20 dB down (scripts/degrade.py)
  synthetic     espeak-ng voices as a stress case, when espeak-ng is installed: a man and a woman
                (English, German), and two men of the same synthesizer and pitch who differ
                only in accent (English)

The conversations are split in two halves with different pairs of voices: "dev" picks each
clustering method's settings (lowest mean DER on the dev mono conversations), "test" reports
them. Both methods are run: "ahc" (average linkage cut at a cosine distance) and "spectral"
(pruned affinity graph, eigengap count, k-means); the product's default is the one printed as
"default".

Columns:
  DER        diarization error rate (pyannote.metrics, 0.25 s collar, overlap scored) with the
             number of speakers estimated; "DER N" with the number given (--speakers N)
  spk        speakers found / true
  role acc   share of reference utterances (0.5 s or more) whose role is right with the rep's
             voice profile enrolled from speech that is NOT in the conversation
  ovl/miss   of the utterances whose role was wrong (miss), those lying mostly inside the other
             party's speech (ovl): a backchannel over a turn goes to the louder turn
  learned    the same with the rep's voice learned instead: the speaker a person confirmed as
             the rep in an earlier call (that held-out speech with another voice, diarized); a
             call where only one speaker was found teaches nothing, as in the product: those
             conversations have no learned value; "of" says how many had one
  false      speakers matched to profiles of people who are not in the call / profiles tried
  lost       two-channel only, with ASR: share of a party's utterances that had words on their
             own channel and have none after crosstalk removal (nothing may be lost)

A last line per half: for the utterances laid over another voice's turn (the backchannels that
role acc counts as "ovl"), how near the voice encoder puts the mix there to the utterance's own
voice and to the voice under it; while it is nearer the voice under it, a diarizer that gives
each moment one nearest voice cannot give the backchannel to its speaker (that needs an
overlapped-speech detector).

Writes everything as JSON (--out). Run, for example:

    python scripts/bench_diarize.py --no-asr
    python scripts/bench_diarize.py --model base --threads 2   # adds words lost on two channels
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from degrade import CONDITIONS, degrade  # noqa: E402

from assistant.media import SAMPLE_RATE, load_audio  # noqa: E402

DATA = ROOT / "tests" / "data"

# Voices: clips of one person each. A voice's "enroll" clips are never in a conversation; a rep
# without them is enrolled from their longest piece, which is then left out of the conversation.
VOICES: dict[str, dict[str, list[str]]] = {
    "libri251": {
        "clips": ["testing_routine.wav", "another_engineer.wav"],
        "enroll": ["i_tell_you.wav"],
    },
    "libri3536": {"clips": ["another_door.wav"], "enroll": []},
    "jfk": {"clips": ["jfk.flac"], "enroll": []},
    "fleurs_en_a": {"clips": ["fleurs-en-000.ogg"], "enroll": []},
    "fleurs_en_b": {"clips": ["fleurs-en-001.ogg"], "enroll": []},
    "fleurs_en_c": {
        "clips": ["fleurs-en-002.ogg", "fleurs-en-003.ogg"],
        "enroll": ["fleurs-en-004.ogg"],
    },
    "fleurs_de_a": {"clips": ["fleurs-de-000.ogg"], "enroll": []},
    "fleurs_de_b": {"clips": ["fleurs-de-004.ogg"], "enroll": ["fleurs-de-001.ogg"]},
    "fleurs_de_c": {"clips": ["fleurs-de-002.ogg"], "enroll": []},
    "fleurs_de_d": {"clips": ["fleurs-de-003.ogg"], "enroll": []},
    "stereo_left": {"clips": ["stereo_diarization.wav#0"], "enroll": []},
    "stereo_right": {"clips": ["stereo_diarization.wav#1"], "enroll": []},
}
# Synthetic voices (espeak-ng voice, language of the FLEURS texts they read). espeak-ng 1.51
# ignores a variant after "en-gb" ("en-gb+f3" reads at the same 101 Hz as "en-us"), so the woman
# is "en-us+f3" (205 Hz); "en-gb" is kept as a second man: the same synthesizer and pitch as
# "en-us", only the accent differs.
SYNTHETIC = {
    "tts_en_m": ("en-us", "en"),
    "tts_en_f": ("en-us+f3", "en"),
    "tts_en_m2": ("en-gb", "en"),
    "tts_de_m": ("de", "de"),
    "tts_de_f": ("de+f2", "de"),
}


@dataclass(frozen=True)
class Conversation:
    name: str
    half: str  # "dev": settings are chosen on it; "test": reported
    rep: str
    customers: tuple[str, ...]
    overlap_s: float = 0.0  # >0: every third turn starts this much before the previous ends
    customer_opens: bool = False
    backchannels: bool = False
    noise_bursts: bool = False
    synthetic: bool = False

    @property
    def voices(self) -> tuple[str, ...]:
        return (self.rep, *self.customers)


C = Conversation
CONVERSATIONS = (
    C("en-mm-bc", "dev", "fleurs_en_a", ("libri251",), backchannels=True),
    C("en-fm-noise", "dev", "fleurs_en_c", ("jfk",), customer_opens=True, noise_bursts=True),
    C("de-mm-overlap", "dev", "fleurs_de_a", ("fleurs_de_c",), overlap_s=0.3),
    C(
        "de-2-bc-noise",
        "dev",
        "fleurs_de_b",
        ("fleurs_de_d",),
        backchannels=True,
        noise_bursts=True,
    ),
    C("en-3", "dev", "libri251", ("jfk", "fleurs_en_b")),
    C("en-3-short", "dev", "fleurs_en_c", ("stereo_left", "stereo_right"), customer_opens=True),
    C("de-3-overlap", "dev", "fleurs_de_d", ("fleurs_de_a", "fleurs_de_b"), overlap_s=0.3),
    C("de-en-mixed", "dev", "fleurs_de_c", ("fleurs_en_b",)),
    C("en-solo", "dev", "fleurs_en_c", ()),
    C("en-mm-bc", "test", "fleurs_en_b", ("fleurs_en_a",), backchannels=True),
    C("en-mm-noise", "test", "libri251", ("jfk",), noise_bursts=True),
    C("de-mm-overlap", "test", "fleurs_de_c", ("fleurs_de_d",), overlap_s=0.3, customer_opens=True),
    C(
        "de-2-bc-noise",
        "test",
        "fleurs_de_b",
        ("fleurs_de_a",),
        backchannels=True,
        noise_bursts=True,
    ),
    C("en-ff", "test", "fleurs_en_c", ("libri3536",)),
    C("en-3-overlap", "test", "fleurs_en_b", ("jfk", "fleurs_en_c"), overlap_s=0.3),
    C("de-3-noise", "test", "fleurs_de_a", ("fleurs_de_c", "fleurs_de_b"), noise_bursts=True),
    C("de-en-mixed", "test", "fleurs_de_b", ("fleurs_en_a",), customer_opens=True),
    C("de-solo", "test", "fleurs_de_a", ()),
    C("tts-en-mf", "stress", "tts_en_m", ("tts_en_f",), synthetic=True),
    C("tts-de-mf", "stress", "tts_de_m", ("tts_de_f",), synthetic=True),
    C("tts-en-mm", "stress", "tts_en_m", ("tts_en_m2",), synthetic=True),
)
del C

# Settings each method is tried with on the dev half (the product's defaults are among them).
GRID: dict[str, list[dict[str, float]]] = {
    "ahc": [{"threshold": t} for t in (0.25, 0.3, 0.35, 0.4, 0.45)],
    "spectral": [
        {"prune_share": p, "same_voice": v}
        for p in (0.1, 0.2)
        for v in (0.75, 0.78, 0.8, 0.82, 0.85, 0.9)
    ],
}


def load_clip(name: str) -> np.ndarray:
    file, _, channel = name.partition("#")
    audio = load_audio(DATA / file)
    if channel:
        return np.ascontiguousarray(audio.samples[int(channel)])
    return np.ascontiguousarray(audio.mono)


def speech_mask(clip: np.ndarray, frame_s: float = 0.02) -> np.ndarray:
    """Reference speech per 20 ms frame from the clip's energy (independent of the VAD)."""
    hop = int(frame_s * SAMPLE_RATE)
    n = len(clip) // hop
    frames = clip[: n * hop].reshape(n, hop).astype(np.float64)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)
    threshold = max(np.percentile(level, 95) - 30, np.percentile(level, 10) + 8)
    mask = level > threshold
    mask = _fill(mask, int(0.3 / frame_s), value=False)  # short pauses are still the turn
    return _fill(mask, int(0.1 / frame_s), value=True)  # clicks are not speech


def _fill(mask: np.ndarray, max_len: int, value: bool) -> np.ndarray:
    """Runs of ``value`` shorter than max_len (inside the mask) flip to ``not value``."""
    mask = mask.copy()
    i = 0
    while i < len(mask):
        if mask[i] == value:
            j = i
            while j < len(mask) and mask[j] == value:
                j += 1
            if j - i < max_len and i > 0 and j < len(mask):
                mask[i:j] = not value
            i = j
        else:
            i += 1
    return mask


def pieces(clip: np.ndarray, max_piece_s: float = 4.5) -> list[np.ndarray]:
    """Cut a long clip into turns at its longest pause near the middle (recursively)."""
    if len(clip) / SAMPLE_RATE <= max_piece_s:
        return [clip]
    mask = speech_mask(clip)
    n = len(mask)
    lo, hi = int(n * 0.3), int(n * 0.7)
    best, best_len, i = None, 0, lo
    while i < hi:
        if not mask[i]:
            j = i
            while j < n and not mask[j]:
                j += 1
            if j - i > best_len:
                best, best_len = (i + j) // 2, j - i
            i = j
        else:
            i += 1
    if best is None:
        hop = int(0.02 * SAMPLE_RATE)
        frames = clip[: n * hop].reshape(n, hop)
        best = lo + int(np.argmin(np.mean(frames[lo:hi] ** 2, axis=1)))
    cut = best * int(0.02 * SAMPLE_RATE)
    return pieces(clip[:cut], max_piece_s) + pieces(clip[cut:], max_piece_s)


def annotation(turns):
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for i, (start, end, who) in enumerate(turns):
        ann[Segment(start, end), i] = who
    return ann


def _under_others(reference, start: float, end: float, voice: str) -> list[tuple[float, str]]:
    """(seconds, voice) of each piece of another voice's reference speech inside [start, end)."""
    return [
        (min(end, e) - max(start, s), v)
        for s, e, v in reference
        if v != voice and min(end, e) > max(start, s)
    ]


def role_accuracy(reference, hypothesis_roles, rep_voice: str, step_s: float = 0.01):
    """(utterances, time, misses, overlapped misses): share of reference utterances of 0.5 s or
    more whose role (the role given to most of the utterance; none given is wrong) is right,
    share of all reference speech time whose role is right, how many such utterances were wrong,
    and how many of those lie mostly inside another voice's speech (a backchannel over a turn:
    one speaker at a time cannot give it to anyone but the louder turn). Shorter bursts are
    scored by DER, not here."""
    right_time = total_time = right_utterances = utterances = overlapped = 0
    for start, end, voice in reference:
        truth = "rep" if voice == rep_voice else "customer"
        votes = {"rep": 0, "customer": 0, None: 0}
        for t in np.arange(start, end, step_s):
            role = next((r for s, e, r in hypothesis_roles if s <= t < e), None)
            votes[role] += 1
        total_time += sum(votes.values())
        right_time += votes[truth]
        if end - start >= 0.5:
            utterances += 1
            right = max(votes, key=lambda r: votes[r]) == truth
            right_utterances += right
            covered = sum(d for d, _ in _under_others(reference, start, end, voice))
            overlapped += not right and covered > (end - start) / 2
    return (
        right_utterances / max(1, utterances),
        right_time / max(1, total_time),
        utterances - right_utterances,
        overlapped,
    )


Piece = tuple[np.ndarray, np.ndarray]  # a turn's audio, and its reference speech per 20 ms


def voice_pieces(voice: str) -> tuple[list[Piece], np.ndarray | None]:
    """A voice's turns and its enrolment audio (None: none held out).

    Each clip is levelled like a call by its speech (not by its silences) and its reference
    speech found over the whole clip before it is cut, so a piece that holds only a pause stays
    a quiet pause and is dropped."""
    if voice in SYNTHETIC:
        clips, enroll = synthetic_clips(voice), []
    else:
        clips = [load_clip(c) for c in VOICES[voice]["clips"]]
        enroll = [load_clip(c) for c in VOICES[voice]["enroll"]]
    frame = int(0.02 * SAMPLE_RATE)
    parts: list[Piece] = []
    for clip in clips:
        mask = speech_mask(clip)
        speech = clip[: len(mask) * frame].reshape(len(mask), frame)[mask]
        clip = (clip / (np.sqrt(np.mean(speech**2)) + 1e-9) * 0.05).astype(np.float32)
        offset = 0
        for piece in pieces(clip):
            first = offset // frame
            offset += len(piece)
            part_mask = mask[first : first + len(piece) // frame]
            if part_mask.sum() * 0.02 >= 0.5:
                parts.append((piece, part_mask))
    if not enroll and len(parts) > 2:
        enroll = [parts.pop(int(np.argmax([len(p) for p, _ in parts])))[0]]
    return parts, np.concatenate(enroll) if enroll else None


def synthetic_clips(voice: str) -> list[np.ndarray]:
    """The FLEURS texts of the voice's language, read by espeak-ng."""
    name, language = SYNTHETIC[voice]
    clips = []
    with tempfile.TemporaryDirectory() as folder:
        for i, text in enumerate(sorted(DATA.glob(f"fleurs-{language}-*.txt"))[:3]):
            wav = Path(folder) / f"{i}.wav"
            subprocess.run(
                ["espeak-ng", "-v", name, "-s", "160", "-w", str(wav), text.read_text()],
                check=True,
                capture_output=True,
            )
            clips.append(np.ascontiguousarray(load_audio(wav).mono))
    return clips


def short_cut(piece: Piece, rng: np.random.Generator) -> tuple[Piece, Piece]:
    """A 1-2 s backchannel from the start of ``piece`` (cut at its quietest 20 ms), and the rest."""
    audio, mask = piece
    frame = int(0.02 * SAMPLE_RATE)
    lo, hi = int(1.0 / 0.02), int(rng.uniform(1.4, 2.0) / 0.02)
    energy = [float(np.mean(audio[i * frame : (i + 1) * frame] ** 2)) for i in range(lo, hi)]
    cut = lo + int(np.argmin(energy))
    return (audio[: cut * frame], mask[:cut]), (audio[cut * frame :], mask[cut:])


@dataclass
class Built:
    tracks: dict[str, np.ndarray]  # voice -> its speech alone, all the same length
    noise: np.ndarray
    reference: list[tuple[float, float, str]]  # (start_s, end_s, voice)
    placed: list[tuple[float, float, str]] = field(default_factory=list)  # whole turns

    @property
    def mono(self) -> np.ndarray:
        return (sum(self.tracks.values()) + self.noise).astype(np.float32)

    def stereo(self, rep: str, bleed_db: float = 20.0) -> np.ndarray:
        """Rep on the left, the customer on the right, each bleeding into the other's line."""
        bleed = 10 ** (-bleed_db / 20)
        customer = sum(t for v, t in self.tracks.items() if v != rep)
        left = self.tracks[rep] + bleed * (customer + self.noise)
        right = customer + self.noise + bleed * self.tracks[rep]
        return np.stack([left, right]).astype(np.float32)


def build(conv: Conversation, seed: int = 0) -> Built:
    """Lay the voices' turns out as a conversation; reference speech from each turn's energy."""
    rng = np.random.default_rng(seed)
    queues = {v: voice_pieces(v)[0] for v in conv.voices}
    placed: list[tuple[int, Piece, str]] = []
    bursts: list[int] = []
    cursor, turn, next_customer = 0, 0, 0
    last: str | None = None
    while any(queues.values()):
        if last is None:
            voice = conv.customers[0] if conv.customer_opens else conv.rep
        elif last != conv.rep and queues[conv.rep]:
            voice = conv.rep
        else:
            waiting = [c for c in conv.customers if queues[c]] or [conv.rep]
            voice = waiting[next_customer % len(waiting)]
            next_customer += 1
        if not queues[voice]:
            voice = next(v for v in conv.voices if queues[v])
        piece = queues[voice].pop(0)
        gap = int(rng.uniform(0.2, 0.8) * SAMPLE_RATE)
        if conv.overlap_s and turn % 3 == 2:
            gap = -int(conv.overlap_s * SAMPLE_RATE)
        start = max(0, cursor + gap) if placed else 0
        placed.append((start, piece, voice))
        cursor = max(cursor, start + len(piece[0]))
        other = (conv.customers[:1] or (None,))[0] if voice == conv.rep else conv.rep
        if (
            conv.backchannels
            and other is not None
            and turn % 2 == 0
            and queues[other]
            and len(queues[other][0][0]) > 3 * SAMPLE_RATE
        ):
            short, queues[other][0] = short_cut(queues[other][0], rng)
            if turn % 4 == 0:  # over the speaker's turn
                placed.append((start + len(piece[0]) // 2, short, other))
            else:  # a short turn of its own
                at = cursor + int(rng.uniform(0.2, 0.5) * SAMPLE_RATE)
                placed.append((at, short, other))
                cursor = at + len(short[0])
        if conv.noise_bursts and turn % 3 == 1:
            bursts.append(cursor + int(0.15 * SAMPLE_RATE))
            cursor += int(0.5 * SAMPLE_RATE)
        last = voice
        turn += 1
    pad = int(0.5 * SAMPLE_RATE)
    total = max(s + len(a) for s, (a, _), _ in placed) + 2 * pad
    tracks = {v: np.zeros(total, np.float32) for v in conv.voices}
    reference: list[tuple[float, float, str]] = []
    frame = int(0.02 * SAMPLE_RATE)
    for start, (piece, mask), voice in placed:
        tracks[voice][pad + start : pad + start + len(piece)] += piece
        j = 0
        while j < len(mask):
            if mask[j]:
                k = j
                while k < len(mask) and mask[k]:
                    k += 1
                t0, t1 = (pad + start + j * frame), (pad + start + k * frame)
                reference.append((t0 / SAMPLE_RATE, t1 / SAMPLE_RATE, voice))
                j = k
            else:
                j += 1
    noise = np.zeros(total, np.float32)
    for at in bursts:
        n = int(0.2 * SAMPLE_RATE)
        noise[pad + at : pad + at + n] = rng.normal(0, 0.05, n).astype(np.float32)
    turns = [
        ((pad + s) / SAMPLE_RATE, (pad + s + len(a)) / SAMPLE_RATE, v) for s, (a, _), v in placed
    ]
    return Built(tracks, noise, sorted(reference), sorted(turns))


def memoize_embeddings() -> None:
    """Embed each audio once: the methods and settings below only re-cluster the same windows."""
    from assistant.diarize import voices

    cache: dict[tuple[str, str], object] = {}

    def key(audio: np.ndarray) -> str:
        return hashlib.sha1(np.ascontiguousarray(audio).tobytes()).hexdigest()

    def wrap(name: str):
        original = getattr(voices, name)

        def cached(audio, *args, **kwargs):
            k = (name, key(audio) + repr(args) + repr(sorted(kwargs.items())))
            if k not in cache:
                cache[k] = original(audio, *args, **kwargs)
            return cache[k]

        setattr(voices, name, cached)

    wrap("speech_regions")
    wrap("embed_windows")


def der(reference, turns) -> dict[str, float]:
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=0.25, skip_overlap=False)
    detail = metric(annotation(reference), annotation(turns), detailed=True)
    total = detail["total"] or 1.0
    return {
        "der": round(detail["diarization error rate"], 4),
        "confusion": round(detail["confusion"] / total, 4),
        "missed": round(detail["missed detection"] / total, 4),
        "false_alarm": round(detail["false alarm"] / total, 4),
    }


def mono_run(audio: np.ndarray, reference, options) -> dict:
    from assistant import diarize

    found = diarize.diarize_mono(audio, options)
    turns = [(t.start_s, t.end_s, t.speaker) for t in found.turns]
    return {**der(reference, turns), "speakers_found": len(found.speakers), "diarization": found}


def choose(conversations, built, options) -> tuple[dict[str, dict], list[dict]]:
    """Each method's settings with the lowest mean DER (then the lowest worst DER) over the dev
    half's mono conversations, clean and degraded alike: calls come in all these ways."""
    dev = [c for c in conversations if c.half == "dev"]
    audio = [
        (degrade(built[c].mono, k, seed=1), built[c].reference) for c in dev for k in CONDITIONS
    ]
    chosen: dict[str, dict] = {}
    tried = []
    for method, grid in GRID.items():
        scored = []
        for setting in grid:
            o = replace(options, method=method, **setting)
            ders = [mono_run(a, reference, o)["der"] for a, reference in audio]
            scored.append((float(np.mean(ders)), float(np.max(ders)), setting))
            tried.append({"method": method, **setting, "dev_der": round(scored[-1][0], 4)})
            tried[-1]["dev_der_worst"] = round(scored[-1][1], 4)
        chosen[method] = min(scored, key=lambda x: (round(x[0], 4), x[1]))[2]
    return chosen, tried


def learned_voice(conv: Conversation, enroll: np.ndarray, options) -> np.ndarray | None:
    """The rep's voice as the product learns it (``profiles.learn``): from an earlier call where
    a person confirmed which speaker the rep is. That call is the rep's held-out speech and a
    voice not in this conversation, diarized like any call; the learned voice is the centroid of
    the speaker found where the rep talked, not a clean enrolment."""
    from assistant import diarize

    other = next(v for v in VOICES if v not in conv.voices and not v.startswith("stereo"))
    partner = np.concatenate([load_clip(c) for c in VOICES[other]["clips"]])
    gap = np.zeros(int(0.6 * SAMPLE_RATE), np.float32)
    earlier = np.concatenate([partner[: 8 * SAMPLE_RATE], gap, enroll]).astype(np.float32)
    found = diarize.diarize_mono(earlier, options)
    if len(found.speakers) < 2:  # the product learns nothing from a call of one speaker
        return None
    rep_from = (len(partner[: 8 * SAMPLE_RATE]) + len(gap)) / SAMPLE_RATE
    talk: dict[str, float] = {}
    for t in found.turns:
        talk[t.speaker] = talk.get(t.speaker, 0.0) + max(0.0, t.end_s - max(t.start_s, rep_from))
    if not talk or max(talk.values()) <= 0:
        return None
    return found.embeddings.get(max(talk, key=talk.__getitem__))


def overlapped_voices(built: Built) -> list[dict[str, float]]:
    """What the voice encoder hears where one voice is laid over another: for each reference
    utterance of 0.5 s or more lying mostly inside another voice's speech (a backchannel over a
    turn), the mean cosine similarity of the mix's windows covering it to the utterance's own
    voice and to the voice under it (each the embedding of that voice's whole track alone). A
    diarizer that labels windows by their nearest voice gives the utterance to the louder turn
    whenever the second number is the larger."""
    from assistant import diarize
    from assistant.diarize import voices

    mono = built.mono
    alone = {v: diarize.embed_speech(track) for v, track in built.tracks.items()}
    out = []
    for start, end, voice in built.reference:
        under = _under_others(built.reference, start, end, voice)
        if end - start < 0.5 or sum(d for d, _ in under) <= (end - start) / 2:
            continue
        other = max(under)[1]
        _, windows = voices.embed_windows(mono, [(start, end)], diarize.DiarizeOptions().hop_s)
        own, beneath = alone[voice], alone[other]
        if len(windows) == 0 or own is None or beneath is None:
            continue
        out.append(
            {
                "start_s": round(start, 2),
                "to_own_voice": round(float((windows @ own).mean()), 3),
                "to_voice_under": round(float((windows @ beneath).mean()), 3),
            }
        )
    return out


def role_accuracy_known_rep(conv, diarization, reference, options):
    """Role accuracy with the rep's voice known from speech not in the conversation, enrolled
    (a clean recording of them) and learned (an earlier call's speaker a person confirmed);
    false matches of enrolled profiles of people not in it."""
    from assistant import diarize
    from assistant.diarize import profiles, roles
    from assistant.diarize.profiles import VoiceProfile

    enroll = voice_pieces(conv.rep)[1]
    if enroll is None or not conv.customers:
        return None, None, None, None
    vector = diarize.embed_speech(enroll)
    if vector is None:
        return None, None, None, None
    accuracy: dict[str, float | None] = {}
    misses = ""
    for how, voice in (("enrolled", vector), ("learned", learned_voice(conv, enroll, options))):
        if voice is None:  # nothing learned: no voice evidence (counted apart)
            accuracy[how] = None
            continue
        speakers = roles.assign_roles(
            [], diarization, [VoiceProfile.new("Rep", voice, 1.0)], options
        )
        hyp = [(t.start_s, t.end_s, speakers[t.speaker].role) for t in diarization.turns]
        right, _, wrong, overlapped = role_accuracy(reference, hyp, conv.rep)
        accuracy[how] = right
        if how == "enrolled":
            misses = f"{overlapped}/{wrong}"
    strangers = []
    for voice in VOICES:
        if voice not in conv.voices:
            audio = np.concatenate([load_clip(c) for c in VOICES[voice]["clips"]])
            embedding = diarize.embed_speech(audio)
            assert embedding is not None
            strangers.append(VoiceProfile.new(voice, embedding, len(audio) / SAMPLE_RATE))
    false = profiles.match_profiles(diarization.embeddings, strangers)
    return accuracy["enrolled"], accuracy["learned"], f"{len(false)}/{len(strangers)}", misses


def words_lost(built: Built, conv: Conversation, stereo, transcriber, options) -> float | None:
    """Share of a party's utterances with words on their own channel alone and none after the
    two channels are merged and crosstalk is removed."""
    from assistant import diarize
    from assistant.transcribe import TranscribeOptions

    language = "de" if conv.rep.startswith(("fleurs_de", "tts_de")) else None
    per_channel = [
        transcriber.transcribe(diarize.channel(stereo, i), TranscribeOptions(language=language))
        for i in range(2)
    ]
    merged = diarize.merge_channels(per_channel[0].segments, per_channel[1].segments)
    kept, _ = diarize.find_speakers(stereo, merged, options)
    owner = {conv.rep: diarize.speaker_label(0)}
    owner.update({c: diarize.speaker_label(1) for c in conv.customers})
    had = lost = 0
    for start, end, voice in built.placed:
        index = 0 if voice == conv.rep else 1

        def words(segments, speaker, lo=start, hi=end):
            return [
                w
                for s in segments
                for w in s.words
                if w.speaker == speaker and w.start_s < hi and w.end_s > lo
            ]

        alone = [
            w
            for s in per_channel[index].segments
            for w in s.words
            if w.start_s < end and w.end_s > start
        ]
        if alone:
            had += 1
            lost += not words(kept, owner[voice])
    return round(lost / had, 4) if had else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        epilog="Prints tables and writes JSON; see the module docstring for the columns.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", default="base", help="Whisper model for words lost")
    parser.add_argument(
        "--no-asr", action="store_true", help="skip transcription (no 'lost' column)"
    )
    parser.add_argument("--out", type=Path, default=Path("bench-diarize.json"), help="JSON output")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch and Whisper")
    args = parser.parse_args(argv)

    import torch

    from assistant import diarize

    torch.set_num_threads(args.threads)
    options = diarize.DiarizeOptions()
    memoize_embeddings()
    conversations = [c for c in CONVERSATIONS if not c.synthetic or shutil.which("espeak-ng")]
    if len(conversations) < len(CONVERSATIONS):
        print("espeak-ng is not installed: no synthetic voices", file=sys.stderr)
    built = {c: build(c) for c in conversations}

    transcriber = None
    if not args.no_asr:
        from assistant.settings import get_settings
        from assistant.transcribe import get_transcriber

        cache = get_settings().cache_dir
        transcriber = get_transcriber("faster-whisper", args.model, "int8", args.threads, cache)

    chosen, tried = choose(conversations, built, options)
    default = options.method
    rows = []
    t0 = time.perf_counter()
    audio_s = 0.0
    for conv in conversations:
        b = built[conv]
        for kind, condition in [("mono", "clean"), *[("mono", c) for c in CONDITIONS[1:]]]:
            if condition != "clean" and conv.synthetic:
                continue
            audio = degrade(b.mono, condition, seed=1)
            row = {"half": conv.half, "conversation": conv.name, "kind": kind}
            row |= {"condition": condition, "speakers_true": len(conv.voices)}
            row["duration_s"] = round(len(audio) / SAMPLE_RATE, 1)
            for method in GRID:
                o = replace(options, method=method, **chosen[method])
                result = mono_run(audio, b.reference, o)
                audio_s += len(audio) / SAMPLE_RATE
                row[method] = {k: v for k, v in result.items() if k != "diarization"}
                if condition == "clean":
                    given = replace(o, speakers=len(conv.voices))
                    row[method]["der_speakers_given"] = mono_run(audio, b.reference, given)["der"]
                if method == default and condition == "clean":
                    acc, learned, false, misses = role_accuracy_known_rep(
                        conv, result["diarization"], b.reference, o
                    )
                    row["role_accuracy_enrolled"] = acc
                    row["role_accuracy_learned"] = learned
                    row["false_profile_matches"] = false
                    row["role_misses_overlapped"] = misses
                    row["overlapped_voices"] = overlapped_voices(b)
                    row["der_speakers_given"] = row[method]["der_speakers_given"]
            rows.append(row)
        if len(conv.voices) == 2 and not conv.synthetic:
            stereo = b.stereo(conv.rep)
            found = diarize.find_speakers(stereo, [], options)[1]
            turns = [(t.start_s, t.end_s, t.speaker) for t in found.turns]
            result = der(b.reference, turns) | {"speakers_found": len(found.speakers)}
            row = {"half": conv.half, "conversation": conv.name, "kind": "two-channel"}
            row |= {"condition": "clean", "speakers_true": 2, "stereo": result}
            row["duration_s"] = round(stereo.shape[1] / SAMPLE_RATE, 1)
            row["words_lost"] = (
                None if transcriber is None else words_lost(b, conv, stereo, transcriber, options)
            )
            rows.append(row)
    elapsed = time.perf_counter() - t0
    summary = summarise(rows, default)
    print_tables(rows, summary, chosen, tried, default)
    result = {
        "default_method": default,
        "chosen": chosen,
        "grid": tried,
        "rows": rows,
        "summary": summary,
        "options": options.as_dict(),
        "cluster_s_per_audio_min": round(elapsed / (audio_s / 60), 3),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def summarise(rows: list[dict], default: str) -> list[dict]:
    """Mean DER per half, kind and condition, for each method; share of right speaker counts."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["half"], r["kind"], r["condition"]), []).append(r)
    out = []
    for (half, kind, condition), members in groups.items():
        entry: dict = {"half": half, "kind": kind, "condition": condition, "n": len(members)}
        for method in [*GRID] if kind == "mono" else ["stereo"]:
            ders = [m[method]["der"] for m in members]
            entry[f"der_{method}"] = round(float(np.mean(ders)), 4)
            entry[f"der_{method}_worst"] = round(float(np.max(ders)), 4)
            entry[f"count_right_{method}"] = round(
                float(
                    np.mean([m[method]["speakers_found"] == m["speakers_true"] for m in members])
                ),
                4,
            )
        keys = ("der_speakers_given", "role_accuracy_enrolled", "role_accuracy_learned")
        for key in (*keys, "words_lost"):
            values = [m[key] for m in members if m.get(key) is not None]
            entry[key] = round(float(np.mean(values)), 4) if values else None
        known = [m for m in members if m.get("role_accuracy_enrolled") is not None]
        misses = [tuple(map(int, m["role_misses_overlapped"].split("/"))) for m in known]
        entry["role_misses_overlapped"] = (
            f"{sum(o for o, _ in misses)}/{sum(w for _, w in misses)}" if misses else None
        )
        entry["learned_of"] = (
            f"{sum(m.get('role_accuracy_learned') is not None for m in known)}/{len(known)}"
        )
        out.append(entry)
    return out


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def _header(line: str) -> None:
    print(line)
    print("-" * len(line))


def print_tables(rows, summary, chosen, tried, default) -> None:
    print(
        "Settings chosen on the dev half (mean DER of its mono conversations, clean and degraded):"
    )
    for method, setting in chosen.items():
        mark = " (default)" if method == default else ""
        dev = next(
            t["dev_der"]
            for t in tried
            if t["method"] == method and all(t[k] == v for k, v in setting.items())
        )
        print(f"  {method:9} {setting}  dev DER {dev:.1%}{mark}")
    print("  all tried:", ", ".join(f"{t['method']} {t['dev_der']:.1%}" for t in tried))
    print()
    head = f"{'half':6} {'conversation':16} {'kind':11} {'cond':9} {'dur s':>6}"
    head += f" {'spk ahc':>8} {'DER ahc':>8} {'spk spec':>8} {'DER spec':>8} {'DER N':>6}"
    head += f" {'role acc':>8} {'ovl/miss':>8} {'learned':>8} {'false':>6} {'lost':>6}"
    _header(head)
    for r in rows:
        if r["condition"] != "clean":
            continue
        line = f"{r['half']:6} {r['conversation']:16} {r['kind']:11} {r['condition']:9}"
        line += f" {r['duration_s']:>6.1f}"
        if r["kind"] == "mono":
            for method in GRID:
                found = f"{r[method]['speakers_found']}/{r['speakers_true']}"
                line += f" {found:>8} {_pct(r[method]['der']):>8}"
            line += f" {_pct(r.get('der_speakers_given')):>6}"
            false = r.get("false_profile_matches") or ""
            line += f" {_pct(r.get('role_accuracy_enrolled')):>8}"
            line += f" {r.get('role_misses_overlapped') or '':>8}"
            line += f" {_pct(r.get('role_accuracy_learned')):>8} {false:>6}"
        else:
            s = r["stereo"]
            found = f"{s['speakers_found']}/{r['speakers_true']}"
            line += (
                f" {found:>8} {_pct(s['der']):>8}" + " " * 60 + f" {_pct(r.get('words_lost')):>6}"
            )
        print(line)
    print()
    head = f"{'half':6} {'kind':11} {'condition':9} {'n':>3} {'DER ahc':>8} {'worst':>6}"
    head += f" {'DER spec':>8} {'worst':>6} {'count ahc':>9} {'count spec':>10}"
    head += f" {'DER N':>6} {'role acc':>8} {'ovl/miss':>8} {'learned':>8} {'of':>5} {'lost':>6}"
    _header(head)
    for s in summary:
        line = f"{s['half']:6} {s['kind']:11} {s['condition']:9} {s['n']:>3}"
        if s["kind"] == "mono":
            line += f" {_pct(s['der_ahc']):>8} {_pct(s['der_ahc_worst']):>6}"
            line += f" {_pct(s['der_spectral']):>8} {_pct(s['der_spectral_worst']):>6}"
            line += f" {_pct(s['count_right_ahc']):>9} {_pct(s['count_right_spectral']):>10}"
        else:
            line += f" {_pct(s['der_stereo']):>8} {_pct(s['der_stereo_worst']):>6}"
            line += " " * 16 + f" {_pct(s['count_right_stereo']):>9} {'':>10}"
        line += f" {_pct(s['der_speakers_given']):>6} {_pct(s['role_accuracy_enrolled']):>8}"
        line += f" {s['role_misses_overlapped'] or '':>8}"
        line += f" {_pct(s['role_accuracy_learned']):>8}"
        line += f" {s['learned_of'] if s['role_accuracy_enrolled'] is not None else '':>5}"
        line += f" {_pct(s['words_lost']):>6}"
        print(line)
    print()
    print(
        "Utterances laid over another voice (mono, clean): the mix's windows at them, to each voice"
    )
    for half in dict.fromkeys(r["half"] for r in rows):
        found = [o for r in rows if r["half"] == half for o in r.get("overlapped_voices", [])]
        if found:
            own = np.mean([o["to_own_voice"] for o in found])
            under = np.mean([o["to_voice_under"] for o in found])
            heard = sum(o["to_own_voice"] > o["to_voice_under"] for o in found)
            print(
                f"  {half:6} n {len(found)}: to its own voice {own:.3f}, to the voice under it"
                f" {under:.3f}; nearer its own voice in {heard} of {len(found)}"
            )


if __name__ == "__main__":
    raise SystemExit(main())
