"""CTranslate2 Whisper weights -> an openai-whisper checkpoint, so both engines share one model.

A CTranslate2 ``model.bin`` is a flat list of named tensors (format version 6)::

    uint32 version | string spec name | uint32 revision | uint32 n
    n x (string name | uint8 rank | rank x uint32 dim | uint8 dtype | uint32 nbytes | bytes)
    uint32 n_aliases | n_aliases x (string alias | string target)

where a string is ``uint16 length`` (including a trailing NUL) and the bytes. The converter that
wrote it fused attention projections (self-attention ``[q; k; v]``, cross-attention ``[k; v]``),
may have quantized weights (int8 with a per-row ``weight_scale``, or float16), and names layers
by position. This module undoes all three and writes ``{"dims", "model_state_dict"}`` as
``whisper.load_model(path)`` expects, plus the model's word-alignment heads.
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path

import numpy as np

from assistant.errors import ModelError

_DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
_SUPPORTED_VERSIONS = (5, 6)


def read_ct2_variables(model_bin: Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 ``model.bin`` as a numpy array (aliases resolved)."""
    buf = memoryview(model_bin.read_bytes())
    pos = 0

    def unpack(fmt: str) -> int:
        nonlocal pos
        (value,) = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return int(value)

    def string() -> str:
        nonlocal pos
        length = unpack("<H")
        text = bytes(buf[pos : pos + length - 1]).decode("utf-8")
        pos += length
        return text

    version = unpack("<I")
    if version not in _SUPPORTED_VERSIONS:
        raise ModelError(
            f"{model_bin}: CTranslate2 model format version {version} is not supported "
            f"(expected {', '.join(map(str, _SUPPORTED_VERSIONS))}); re-convert the model with "
            "a current ctranslate2"
        )
    spec = string()
    if spec != "WhisperSpec":
        raise ModelError(f"{model_bin} holds a {spec}, not a Whisper model")
    unpack("<I")  # spec revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(unpack("<I")):
        name = string()
        shape = tuple(unpack("<I") for _ in range(unpack("<B")))
        dtype = _DTYPES[unpack("<B")]
        nbytes = unpack("<I")
        raw = buf[pos : pos + nbytes]
        pos += nbytes
        if dtype == "bfloat16":
            words = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            array = words.view(np.float32)
        else:
            array = np.frombuffer(raw, dtype=dtype)
        variables[name] = array.reshape(shape)
    for _ in range(unpack("<I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return variables


def _float(variables: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A weight as float32, dequantized when the model stores it as int8/int16."""
    value = variables[name]
    scale = variables.get(f"{name}_scale")
    if value.dtype in (np.int8, np.int16) and scale is not None:
        flat = value.reshape(value.shape[0], -1).astype(np.float32)
        if scale.ndim == 0:  # int16: one scale for the whole tensor
            flat /= scale.astype(np.float32)
        else:
            flat /= scale.astype(np.float32)[:, None]
        return flat.reshape(value.shape)
    return value.astype(np.float32)


def _count_layers(variables: dict[str, np.ndarray], prefix: str) -> int:
    layers = {k.split("/")[1] for k in variables if re.match(rf"{prefix}/layer_\d+/", k)}
    return len(layers)


def convert_state_dict(
    variables: dict[str, np.ndarray],
) -> tuple[dict[str, int], dict[str, np.ndarray]]:
    """Map CTranslate2 Whisper variables to openai-whisper's ``dims`` and state dict."""
    f = lambda name: _float(variables, name)  # noqa: E731
    state: dict[str, np.ndarray] = {}

    def linear(src: str, dst: str) -> None:
        state[f"{dst}.weight"] = f(f"{src}/weight")
        state[f"{dst}.bias"] = f(f"{src}/bias")

    def norm(src: str, dst: str) -> None:
        state[f"{dst}.weight"] = f(f"{src}/gamma")
        state[f"{dst}.bias"] = f(f"{src}/beta")

    def self_attention(src: str, dst: str) -> None:
        weight, bias = f(f"{src}/linear_0/weight"), f(f"{src}/linear_0/bias")
        for part, w, b in zip(
            ("query", "key", "value"), np.split(weight, 3), np.split(bias, 3), strict=True
        ):
            state[f"{dst}.{part}.weight"] = w
            if part != "key":  # Whisper's key projection has no bias (fused in as zeros)
                state[f"{dst}.{part}.bias"] = b
        linear(f"{src}/linear_1", f"{dst}.out")

    def cross_attention(src: str, dst: str) -> None:
        linear(f"{src}/linear_0", f"{dst}.query")
        weight, bias = f(f"{src}/linear_1/weight"), f(f"{src}/linear_1/bias")
        w_key, w_value = np.split(weight, 2)
        state[f"{dst}.key.weight"] = w_key
        state[f"{dst}.value.weight"] = w_value
        state[f"{dst}.value.bias"] = np.split(bias, 2)[1]
        linear(f"{src}/linear_2", f"{dst}.out")

    n_audio_layer = _count_layers(variables, "encoder")
    n_text_layer = _count_layers(variables, "decoder")
    for conv in ("conv1", "conv2"):
        linear(f"encoder/{conv}", f"encoder.{conv}")
    state["encoder.positional_embedding"] = f("encoder/position_encodings/encodings")
    for i in range(n_audio_layer):
        src, dst = f"encoder/layer_{i}", f"encoder.blocks.{i}"
        norm(f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        self_attention(f"{src}/self_attention", f"{dst}.attn")
        norm(f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")
        linear(f"{src}/ffn/linear_0", f"{dst}.mlp.0")
        linear(f"{src}/ffn/linear_1", f"{dst}.mlp.2")
    norm("encoder/layer_norm", "encoder.ln_post")

    state["decoder.token_embedding.weight"] = f("decoder/embeddings/weight")
    state["decoder.positional_embedding"] = f("decoder/position_encodings/encodings")
    for i in range(n_text_layer):
        src, dst = f"decoder/layer_{i}", f"decoder.blocks.{i}"
        norm(f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
        self_attention(f"{src}/self_attention", f"{dst}.attn")
        norm(f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
        cross_attention(f"{src}/attention", f"{dst}.cross_attn")
        norm(f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")
        linear(f"{src}/ffn/linear_0", f"{dst}.mlp.0")
        linear(f"{src}/ffn/linear_1", f"{dst}.mlp.2")
    norm("decoder/layer_norm", "decoder.ln")

    conv1 = state["encoder.conv1.weight"]
    embedding = state["decoder.token_embedding.weight"]
    dims = {
        "n_mels": int(conv1.shape[1]),
        "n_audio_ctx": int(state["encoder.positional_embedding"].shape[0]),
        "n_audio_state": int(conv1.shape[0]),
        "n_audio_head": int(variables["encoder/num_heads"]),
        "n_audio_layer": n_audio_layer,
        "n_vocab": int(embedding.shape[0]),
        "n_text_ctx": int(state["decoder.positional_embedding"].shape[0]),
        "n_text_state": int(embedding.shape[1]),
        "n_text_head": int(variables["decoder/num_heads"]),
        "n_text_layer": n_text_layer,
    }
    return dims, state


def convert_ct2_to_openai(model_dir: Path, target: Path) -> Path:
    """Write the openai-whisper checkpoint for the CTranslate2 model in ``model_dir``.

    The file is written atomically, so concurrent workers never read half a checkpoint.
    """
    import torch

    model_bin = model_dir / "model.bin"
    if not model_bin.is_file():
        raise ModelError(f"{model_dir} is not a CTranslate2 Whisper model (no model.bin in it)")
    try:
        dims, state = convert_state_dict(read_ct2_variables(model_bin))
    except (KeyError, ValueError, struct.error) as exc:
        raise ModelError(
            f"{model_bin}: cannot convert to an openai-whisper checkpoint ({exc}); use the "
            "faster-whisper engine or give an openai-whisper .pt file"
        ) from exc
    heads: list[list[int]] = []
    config = model_dir / "config.json"
    if config.is_file():
        heads = json.loads(config.read_text(encoding="utf-8")).get("alignment_heads") or []
    checkpoint = {
        "dims": dims,
        "model_state_dict": {
            k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()
        },
        "alignment_heads": [[int(layer), int(head)] for layer, head in heads],
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    torch.save(checkpoint, tmp)
    os.replace(tmp, target)
    return target
