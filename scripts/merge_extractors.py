"""Merge extraction models trained with one recipe and different seeds into one model.

Each model's LoRA adapter adds ``scale * B @ A`` to the same base weights. The merged adapter
adds exactly the mean of those updates: the models' ``A`` stacked, their ``B`` side by side and
divided by the number of models (rank 16 * k, the same scale). Its heads are the mean of the
models' heads, its temperature the mean of theirs. The adapter is merged into the base weights
when the model loads, so the merged model costs what one model costs at run time; seeds that
disagree are averaged instead of one seed's luck being shipped (see MODEL_CARD.md, "Merging
seeds"). A model that is itself a merge of k seeds (its config.json lists them under
``merged``) counts as k models: the shipped four-seed model merged with two new seeds weighs
each of the six seeds alike.

Then the merged model is calibrated as ``calibrate_extractor.py`` does, on the validation split
(the written validation calls and the AMI validation meetings), leaving out the data files that
every model was trained without (they stay unseen for the evaluation).

    python scripts/merge_extractors.py --out /tmp/merged /tmp/swa13 /tmp/swa14 /tmp/swa15

The models must share their base encoder, labels, input length and adapter layout and scale
(alpha / rank; the ranks may differ); ``--out``
must not hold a model yet. ``--skip-calibration`` keeps the first model's calibration (a quick
look only: the merged model's confidences are not those of any one model).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from calibrate_extractor import calibrate  # noqa: E402
from train_extractor import AMI, check_data, concat_lora, with_rank  # noqa: E402

from assistant.errors import AssistantError  # noqa: E402
from assistant.extract.classifier import Classifier, check_artifact  # noqa: E402

ADAPTER = "adapter"
WEIGHTS = "adapter_model.safetensors"
# What must be equal for the models' weights to mean the same thing.
SAME_CONFIG = ("base", "labels", "categories", "input_format", "max_length", "int8", "method")
SAME_ADAPTER = ("target_modules", "layers_to_transform", "use_rslora", "scale")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("models", type=Path, nargs="+", help="trained models' folders (two or more)")
    p.add_argument("--out", type=Path, required=True, help="folder for the merged model")
    p.add_argument("--ami", type=Path, default=AMI, help="AMI dialogue acts [%(default)s]")
    p.add_argument("--skip-calibration", action="store_true", help="keep the first calibration")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return p.parse_args(argv)


def seeds(config: dict[str, Any]) -> int:
    """How many seeds' models a model's weights are the mean of."""
    return len(config.get("merged") or []) or 1


def merge_adapters(
    adapters: list[dict[str, Any]], weights: list[int] | None = None
) -> dict[str, Any]:
    """One LoRA state dict whose update ``B @ A`` is the mean of the adapters' updates, each
    counted ``weights[i]`` times (default: once)."""
    weights = weights or [1] * len(adapters)
    scaled = [
        {n: v * w if "lora_B" in n else v for n, v in a.items()}
        for a, w in zip(adapters, weights, strict=True)
    ]
    return concat_lora(scaled, divisor=sum(weights))


def read_models(folders: list[Path], out: Path) -> list[dict[str, Any]]:
    """Each model's config.json and adapter_config.json, checked to merge; ``ValueError`` or
    ``AssistantError`` naming what does not fit."""
    if len(folders) < 2:
        raise ValueError("name two or more models to merge")
    if len({f.resolve() for f in folders}) < len(folders):
        raise ValueError("a model is named twice")
    if out.resolve() in {f.resolve() for f in folders}:
        raise ValueError("--out is one of the models; choose a new folder")
    if (out / "config.json").exists():
        raise ValueError(f"{out} already holds a model; choose a new folder")
    models = []
    for folder in folders:
        config = check_artifact(folder)
        adapter_config = folder / ADAPTER / "adapter_config.json"
        if config.get("method", "lora") != "lora" or not adapter_config.is_file():
            raise ValueError(f"{folder} has no LoRA adapter; only LoRA models merge")
        try:
            adapter = json.loads(adapter_config.read_text("utf-8"))
            adapter["scale"] = adapter["lora_alpha"] / adapter["r"]
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ZeroDivisionError) as exc:
            raise ValueError(f"{adapter_config} is not a readable LoRA config: {exc}") from exc
        models.append({"folder": folder, "config": config, "adapter": adapter})
    first = models[0]
    for model in models[1:]:
        for part, keys in (("config", SAME_CONFIG), ("adapter", SAME_ADAPTER)):
            for key in keys:
                mine, theirs = model[part].get(key), first[part].get(key)
                if key == "target_modules":  # a set, written in any order
                    mine, theirs = sorted(mine or []), sorted(theirs or [])
                if mine != theirs:
                    raise ValueError(
                        f"{model['folder']} and {first['folder']} differ in {key} "
                        f"({mine!r} against {theirs!r})"
                    )
    return models


def unseen_files(models: list[dict[str, Any]]) -> list[str]:
    """The data files every model was trained without."""
    configs = [m["config"] for m in models]
    first = configs[0].get("holdout", [])
    return [f for f in first if all(f in c.get("holdout", []) for c in configs)]


def write_merged(models: list[dict[str, Any]], out: Path, unseen: list[str]) -> int:
    """Write the merged model into ``out``; ``unseen``: the files no model trained on. Returns
    how many seeds it holds."""
    import torch
    from safetensors.torch import load_file, save_file

    configs = [m["config"] for m in models]
    weights = [seeds(c) for c in configs]
    k = sum(weights)
    adapters = [load_file(str(m["folder"] / ADAPTER / WEIGHTS)) for m in models]
    heads = [load_file(str(m["folder"] / "heads.safetensors")) for m in models]
    (out / ADAPTER).mkdir(parents=True, exist_ok=True)
    merged = merge_adapters(adapters, weights)
    save_file(merged, str(out / ADAPTER / WEIGHTS), metadata={"format": "pt"})
    rank = sum(m["adapter"]["r"] for m in models)
    adapter = with_rank(models[0]["adapter"], rank)
    adapter.pop("scale")
    (out / ADAPTER / "adapter_config.json").write_text(
        json.dumps(adapter, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    mean_heads = {
        n: torch.stack([h[n] * w for h, w in zip(heads, weights, strict=True)]).sum(0) / k
        for n in heads[0]
    }
    save_file(mean_heads, str(out / "heads.safetensors"))

    config = dict(configs[0])
    config.pop("seed", None)
    temperature = sum(
        float(c.get("temperature", 1.0)) * w for c, w in zip(configs, weights, strict=True)
    )
    config["temperature"] = round(temperature / k, 6)
    config["holdout"] = unseen
    config["merged"] = [
        entry
        for c in configs
        for entry in c.get("merged")
        or [
            {
                "seed": c.get("seed"),
                "holdout": c.get("holdout", []),
                "average_last": c.get("average_last"),
            }
        ]
    ]
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    # Each model's own training numbers (validation, test split) stay readable beside the merge.
    trained = [m["folder"] / "metrics.json" for m in models]
    read = [json.loads(f.read_text("utf-8")) if f.is_file() else {} for f in trained]
    metrics = {
        "merged": [
            entry
            for c, m in zip(configs, read, strict=True)
            for entry in m.get("merged") or [{"seed": c.get("seed"), **m}]
        ],
        "temperature": config["temperature"],
        "holdout": unseen,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return k


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        models = read_models(args.models, args.out)
        unseen = unseen_files(models)
        if not args.skip_calibration:
            check_data(unseen, args.ami)
    except (AssistantError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    k = write_merged(models, args.out, unseen)
    print(
        f"merged {len(models)} models ({k} seeds) into "
        f"{args.out} (files none trained on: {unseen or 'none'})"
    )
    if args.skip_calibration:
        print("calibration: the first model's, kept (--skip-calibration)")
        return 0
    calibrate(Classifier(args.out, float32=True), unseen, args.ami)
    return 0


if __name__ == "__main__":
    sys.exit(main())
