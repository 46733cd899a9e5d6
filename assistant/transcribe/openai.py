"""The reference engine: openai-whisper (PyTorch).

It runs the same weights as faster-whisper: the bundled CTranslate2 models are converted once
into openai-whisper's checkpoint format (``convert.py``). A user's own ``.pt`` checkpoint works
too. On CPU it computes in float32.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from assistant.errors import ModelError
from assistant.transcribe.guards import Decoded
from assistant.transcribe.types import TranscribeOptions
from assistant.transcribe.weights import is_english_only, resolve_openai_checkpoint


def _alignment_dump(heads: list[list[int]], n_layer: int, n_head: int) -> bytes:
    """openai-whisper's encoding of word-alignment heads: a gzipped, base85 boolean mask."""
    mask = np.zeros((n_layer, n_head), dtype=bool)
    for layer, head in heads:
        mask[layer, head] = True
    return base64.b85encode(gzip.compress(mask.tobytes()))


class OpenAIWhisperBackend:
    name = "openai-whisper"

    def __init__(self, model: str, compute_type: str, cpu_threads: int, cache_dir: Path) -> None:
        import torch
        import whisper

        self.model_name = model
        checkpoint = resolve_openai_checkpoint(model, cache_dir)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self._fp16 = device == "cuda" and compute_type in ("float16", "int8_float16")
        self.compute_type = "float16" if self._fp16 else "float32"
        if cpu_threads > 0:
            torch.set_num_threads(cpu_threads)
        try:
            self._model = whisper.load_model(
                checkpoint, device=device, download_root=str(cache_dir / "whisper")
            )
        except Exception as exc:  # RuntimeError for unknown names, pickle/IO errors for files
            raise ModelError(
                f"cannot load openai-whisper model {model!r}: {exc}. Use a bundled model "
                "(base, tiny.en), a CTranslate2 model folder, an openai-whisper .pt checkpoint, "
                "or a model name with network access"
            ) from exc
        if Path(checkpoint).is_file():
            heads = torch.load(checkpoint, map_location="cpu", weights_only=True).get(
                "alignment_heads"
            )
            if heads:
                dims = self._model.dims
                self._model.set_alignment_heads(
                    _alignment_dump(heads, dims.n_text_layer, dims.n_text_head)
                )
        self.multilingual = bool(self._model.is_multilingual) and not is_english_only(model)

    def detect_languages(self, blocks: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        return [self._detect_language(block) for block in blocks]

    def _detect_language(self, audio: np.ndarray) -> tuple[str, float]:
        import torch
        import whisper

        with torch.no_grad():
            mel = whisper.log_mel_spectrogram(
                whisper.pad_or_trim(torch.from_numpy(np.ascontiguousarray(audio))),
                self._model.dims.n_mels,
            ).to(self._model.device)
            _, probs = self._model.detect_language(mel)
        language = max(probs, key=probs.get)
        return language, float(probs[language])

    def decode(
        self, blocks: Sequence[np.ndarray], language: str, task: str, options: TranscribeOptions
    ) -> list[Decoded]:
        import torch

        # openai-whisper's own loop decodes the run in 30 s windows, seeking by timestamps.
        audio = np.concatenate(blocks)

        extra: dict[str, object] = {}
        if (beam := options.beam_for(language)) > 1:
            extra["beam_size"] = beam
        vocabulary = ", ".join(options.vocabulary)
        with torch.no_grad():
            result = self._model.transcribe(
                torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)),
                language=language,
                task=task,
                fp16=self._fp16,
                verbose=None,
                condition_on_previous_text=False,
                word_timestamps=options.word_timestamps and task == "transcribe",
                # The vocabulary is the prompt of every 30 s window, not only the first.
                initial_prompt=vocabulary or None,
                carry_initial_prompt=bool(vocabulary),
                **extra,
            )
        return [
            Decoded(
                start_s=float(s["start"]),
                end_s=float(s["end"]),
                text=str(s["text"]),
                words=[
                    (float(w["start"]), float(w["end"]), str(w["word"]), float(w["probability"]))
                    for w in s.get("words") or []
                ],
                avg_logprob=float(s["avg_logprob"]),
                no_speech_prob=float(s["no_speech_prob"]),
            )
            for s in result["segments"]
        ]
