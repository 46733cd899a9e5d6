"""The default engine: faster-whisper (CTranslate2), int8 on CPU.

The runner hands over speech in blocks of at most 24 s, cut in pauses. Blocks are independent,
so they are encoded and decoded side by side, one per model worker (a small-batch decoder
cannot keep two cores busy). The encoder output of a block whose language was detected is kept,
so decoding it does not run the encoder again.

Within a block this does what Whisper's own loop does: where Whisper leaves its window unfinished
(it expects the rest in a next window), the rest is decoded in another round, and so is speech
it skipped at the end; a window that loops or is decoded with very low confidence is decoded
again, sampling at rising temperatures.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from math import ceil, exp
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError
from assistant.media import SAMPLE_RATE
from assistant.transcribe.guards import Decoded, GuardOptions, compression_ratio
from assistant.transcribe.types import TranscribeOptions
from assistant.transcribe.weights import is_english_only, resolve_ct2_model

# Model workers: copies of the model that decode blocks side by side. Each may use all of the
# cores it is given, so a lone block (a short call) still encodes at full speed; on 2 cores two
# such workers beat both one worker with 2 threads and two with 1 thread each.
WORKERS = 2
# Encoder outputs kept for decoding after language detection: a window's blocks (3 MB each for
# `base`, 8 MB for the large models).
ENCODED_KEPT = 24
FALLBACK_TEMPERATURES = (0.2, 0.4, 0.6, 0.8, 1.0)
FALLBACK_CANDIDATES = 5
# The fallback samples. CTranslate2 seeds each of its threads once, at its first sample, so the
# seed is set before the model is loaded: a fresh process gives the same transcript of the
# same recording; later samples in the same process continue each thread's random stream.
FALLBACK_SEED = 7
# Speech left after the last piece Whisper wrote for a block (more than the VAD's padding and a
# breath) is decoded in another round, up to this many rounds.
CONTINUE_AFTER_S = 2.0
MAX_ROUNDS = 4
# Whisper's: punctuation that joins the word after it, or before it, in word timestamps.
PREPEND_PUNCTUATIONS = "\"'“¿([{-"
APPEND_PUNCTUATIONS = "\"'.。,，!！?？:：”)]}、"


# A decoding of one window: tokens, text, average log-probability, no-speech probability.
Hypothesis = tuple[list[int], str, float, float]


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class FasterWhisperBackend:
    name = "faster-whisper"

    def __init__(self, model: str, compute_type: str, cpu_threads: int, cache_dir: Path) -> None:
        from faster_whisper import WhisperModel

        self.model_name = model
        self.compute_type = compute_type
        cores = cpu_threads or available_cores()
        workers = min(cores, WORKERS)
        location = resolve_ct2_model(model, cache_dir)
        import ctranslate2

        ctranslate2.set_random_seed(FALLBACK_SEED)
        try:
            self._model = WhisperModel(
                location,
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cores,
                num_workers=workers,
                download_root=str(cache_dir / "whisper"),
            )
        except Exception as exc:  # the library raises anything from OSError to HF errors
            raise ModelError(
                f"cannot load Whisper model {model!r}: {exc}. Use a bundled model "
                "(base, tiny.en), a local CTranslate2 model directory, or a model name with "
                "network access"
            ) from exc
        self.multilingual = bool(self._model.model.is_multilingual) and not is_english_only(model)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="whisper")
        self._encoded: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._guards = GuardOptions()

    def detect_languages(self, blocks: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        def detect(block: np.ndarray) -> tuple[str, float]:
            ((token, probability), *_) = self._model.model.detect_language(self._encode(block))[0]
            return token[2:-2], float(probability)  # "<|de|>"

        return list(self._pool.map(detect, blocks))

    def decode(
        self, blocks: Sequence[np.ndarray], language: str, task: str, options: TranscribeOptions
    ) -> list[Decoded]:
        from faster_whisper.tokenizer import Tokenizer

        tokenizer = Tokenizer(
            self._model.hf_tokenizer,
            self._model.model.is_multilingual,
            task=task,
            language=language,
        )
        prompt = self._model.get_prompt(
            tokenizer,
            previous_tokens=[],
            # The vocabulary goes into the prompt of every block.
            hotwords=", ".join(options.vocabulary) or None,
        )
        beam = options.beam_for(language)
        words = options.word_timestamps and task == "transcribe"

        def decode_block(block: np.ndarray) -> list[Decoded]:
            return self._decode_block(block, tokenizer, prompt, beam, words)

        out: list[Decoded] = []
        offset_s = 0.0
        for block, pieces in zip(blocks, self._pool.map(decode_block, blocks), strict=True):
            out += [_shifted(p, offset_s) for p in pieces]
            offset_s += len(block) / SAMPLE_RATE
        return out

    def _encode(self, audio: np.ndarray) -> Any:
        """The encoder output of ``audio`` (at most 30 s), kept from before where it can be."""
        import ctranslate2
        from faster_whisper.audio import pad_or_trim

        key = hashlib.blake2b(audio.tobytes(), digest_size=16).digest()
        with self._lock:
            encoded = self._encoded.get(key)
        if encoded is None:
            # The last frame only covers the padding the extractor adds (Whisper drops it too).
            features = pad_or_trim(self._model.feature_extractor(audio)[..., :-1])
            encoded = np.array(self._model.encode(features))
            with self._lock:
                self._encoded[key] = encoded
                while len(self._encoded) > ENCODED_KEPT:
                    self._encoded.popitem(last=False)
        return ctranslate2.StorageView.from_array(encoded)

    def _decode_block(
        self, block: np.ndarray, tokenizer: Any, prompt: list[int], beam: int, words: bool
    ) -> list[Decoded]:
        out: list[Decoded] = []
        done_s = 0.0
        for _ in range(MAX_ROUNDS):
            rest = block[int(done_s * SAMPLE_RATE) :]
            pieces, resume_s = self._decode_once(rest, tokenizer, prompt, beam, words)
            out += [_shifted(p, done_s) for p in pieces]
            if resume_s is None:
                # Whisper said it was done, yet sometimes stops well before the end.
                written_s = pieces[-1].end_s if pieces else 0.0
                left_s = len(rest) / SAMPLE_RATE - written_s
                resume_s = written_s if left_s > CONTINUE_AFTER_S else 0.0
            if resume_s <= 0:
                break
            done_s += resume_s
        return out

    def _decode_once(
        self, audio: np.ndarray, tokenizer: Any, prompt: list[int], beam: int, words: bool
    ) -> tuple[list[Decoded], float | None]:
        """The pieces decoded from one Whisper window, and where to resume when Whisper left
        the window unfinished (None: it wrote it to its end)."""
        from faster_whisper.transcribe import get_suppressed_tokens

        encoded = self._encode(audio)
        generate = dict(
            max_length=self._model.max_length,
            suppress_blank=True,
            suppress_tokens=get_suppressed_tokens(tokenizer, [-1]),
            return_scores=True,
            return_no_speech_prob=True,
        )
        (result,) = self._model.model.generate(encoded, [prompt], beam_size=beam, **generate)
        (best,) = _hypotheses(result, tokenizer)
        if self._needs_fallback(*best[1:]):
            tried = [best]
            for temperature in FALLBACK_TEMPERATURES:
                (retry,) = self._model.model.generate(
                    encoded,
                    [prompt],
                    beam_size=1,
                    num_hypotheses=FALLBACK_CANDIDATES,
                    sampling_topk=0,
                    sampling_temperature=temperature,
                    **generate,
                )
                sampled = _hypotheses(retry, tokenizer)
                tried += sampled
                passed = [h for h in sampled if not self._needs_fallback(*h[1:])]
                if passed:
                    tried = passed
                    break
            best = _least_bad(tried, self._guards.max_compression_ratio)
        tokens, _, avg_logprob, no_speech_prob = best
        duration_s = len(audio) / SAMPLE_RATE
        pieces, resume_s = _split(tokens, tokenizer, duration_s, self._model.time_precision)
        if words and pieces:
            try:
                self._model.add_word_timestamps(
                    [pieces],
                    tokenizer,
                    encoded,
                    [int(ceil(duration_s) * self._model.frames_per_second)],
                    PREPEND_PUNCTUATIONS,
                    APPEND_PUNCTUATIONS,
                    0.0,
                )
            except IndexError:
                # faster-whisper's aligner can return no alignment for a window (seen on
                # synthetic voices) and then fails on its own arrays; it fails before it changes
                # the pieces. Their words are spread over them by length instead of failing
                # the call.
                for piece in pieces:
                    piece["words"] = _even_words(piece, tokenizer, exp(avg_logprob))
        decoded = [
            Decoded(
                start_s=p["start"],
                end_s=p["end"],
                text=tokenizer.decode(p["tokens"]),
                words=[
                    (w["start"], w["end"], w["word"], w["probability"]) for w in p.get("words", [])
                ],
                avg_logprob=avg_logprob,
                no_speech_prob=no_speech_prob,
            )
            for p in pieces
        ]
        return decoded, resume_s

    def _needs_fallback(self, text: str, avg_logprob: float, no_speech_prob: float) -> bool:
        g = self._guards
        if no_speech_prob > g.no_speech_prob and avg_logprob < g.min_avg_logprob:
            return False  # nothing is said here; the guards drop whatever was written
        return compression_ratio(text) > g.max_compression_ratio or avg_logprob < g.min_avg_logprob


def _least_bad(tried: list[Hypothesis], max_compression_ratio: float) -> Hypothesis:
    """The most confident decoding that does not loop (of all when none passed the guards),
    else the most confident. Sampled at a high temperature, a loop can be more confident than
    every honest reading of the window."""
    flowing = [t for t in tried if compression_ratio(t[1]) <= max_compression_ratio]
    return max(flowing or tried, key=lambda t: t[2])


def _even_words(piece: dict[str, Any], tokenizer: Any, probability: float) -> list[dict]:
    """A piece's words with times spread over the piece by their length in characters."""
    split, _ = tokenizer.split_to_word_tokens([t for t in piece["tokens"] if t < tokenizer.eot])
    words: list[str] = []
    for word in split:
        if words and word.strip() and not any(c.isalnum() for c in word):
            words[-1] += word.strip()  # punctuation stays with its word, as Whisper's aligner does
        elif word.strip():
            words.append(word)
    span = piece["end"] - piece["start"]
    total = sum(len(w) for w in words) or 1
    out, start = [], piece["start"]
    for word in words:
        end = start + span * len(word) / total
        out.append({"word": word, "start": start, "end": end, "probability": probability})
        start = end
    return out


def _hypotheses(result: Any, tokenizer: Any) -> list[Hypothesis]:
    """A generation result's hypotheses: tokens, text, average log-probability (as Whisper
    computes it) and no-speech probability; beam search gives the best one only."""
    out = []
    for tokens, score in zip(result.sequences_ids, result.scores, strict=True):
        avg_logprob = score * len(tokens) / (len(tokens) + 1)
        text = tokenizer.decode([t for t in tokens if t < tokenizer.eot])
        out.append((list(tokens), text, float(avg_logprob), float(result.no_speech_prob)))
    return out


def _split(
    tokens: list[int], tokenizer: Any, duration_s: float, precision: float
) -> tuple[list[dict[str, Any]], float | None]:
    """Whisper's output ``<|0.00|> text<|2.40|><|2.40|> text<|5.00|>`` as timed pieces, and
    where to resume: Whisper's own rule is that output ending in two timestamps (a next piece
    begun) or in text left the window unfinished from the last timestamp on."""
    pieces: list[dict[str, Any]] = []
    start, text, last = 0.0, [], None
    for token in tokens:
        if token < tokenizer.timestamp_begin:
            text.append(token)
            continue
        last = min((token - tokenizer.timestamp_begin) * precision, duration_s)
        if text:
            pieces.append({"seek": 0, "start": start, "end": last, "tokens": text})
            text = []
        start = last
    if last is None:  # no timestamps at all: the window is one piece
        whole = {"seek": 0, "start": 0.0, "end": duration_s, "tokens": text}
        return ([whole] if text else []), None
    finished = len(tokens) >= 2 and tokens[-2] < tokenizer.timestamp_begin <= tokens[-1]
    return pieces, None if finished else last


def _shifted(d: Decoded, offset_s: float) -> Decoded:
    return Decoded(
        start_s=d.start_s + offset_s,
        end_s=d.end_s + offset_s,
        text=d.text,
        words=[(s + offset_s, e + offset_s, w, p) for s, e, w, p in d.words],
        avg_logprob=d.avg_logprob,
        no_speech_prob=d.no_speech_prob,
    )
