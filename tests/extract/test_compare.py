"""Comparing two extraction models: a paired bootstrap over calls, and the script around it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from assistant.extract.scoring import paired_bootstrap, score

ROOT = Path(__file__).resolve().parents[2]
LABELS = ["action_item", "customer_need", "none"]


def noisy(gold: list[str], right: float, rng: np.random.Generator) -> list[str]:
    return [g if rng.random() < right else "none" for g in gold]


def test_the_difference_is_the_macro_f1_difference_and_lies_in_its_interval() -> None:
    rng = np.random.default_rng(3)
    gold = list(rng.choice(LABELS, 2000))
    calls = [i // 20 for i in range(2000)]
    first, second = noisy(gold, 0.7, rng), noisy(gold, 0.9, rng)
    diff, low, high = paired_bootstrap(gold, first, second, calls, LABELS)
    expected = score(gold, second, [1.0] * 2000, LABELS).macro_f1
    expected -= score(gold, first, [1.0] * 2000, LABELS).macro_f1
    assert diff == pytest.approx(expected)
    assert 0 < low < diff < high
    assert paired_bootstrap(gold, first, first, calls, LABELS) == (0.0, 0.0, 0.0)


def test_a_few_utterances_on_a_few_calls_cannot_be_told_apart() -> None:
    """Two models that differ on two utterances of a five-call set: the interval holds 0."""
    rng = np.random.default_rng(4)
    gold = list(rng.choice(LABELS, 150))
    calls = [i // 30 for i in range(150)]
    first = list(gold)
    second = list(gold)
    wrong = [i for i, g in enumerate(gold) if g == "action_item"][:2]
    for i in wrong:
        second[i] = "none"
    diff, low, high = paired_bootstrap(gold, first, second, calls, LABELS)
    assert diff < 0 and low < 0 <= high


def test_the_call_is_the_unit_so_one_call_holding_the_gain_gives_a_wide_interval() -> None:
    """The same gain spread over forty calls is sure; held by one call of forty, it is not."""
    gold = ["action_item", "none"] * 800
    first = ["none"] * 1600
    spread = [g if i % 2 == 0 and i % 40 < 20 else "none" for i, g in enumerate(gold)]
    one_call = [g if i < 800 else "none" for i, g in enumerate(gold)]
    calls_spread = [i // 40 for i in range(1600)]
    calls_one = [0 if i < 800 else 1 + i // 40 for i in range(1600)]
    _, low_spread, _ = paired_bootstrap(gold, first, spread, calls_spread, ["action_item"])
    _, low_one, _ = paired_bootstrap(gold, first, one_call, calls_one, ["action_item"])
    assert low_spread > 0.3
    assert low_one == 0.0


def test_the_bar_is_judged_condition_by_condition() -> None:
    """The second model clears the bar only when every condition holds; each can fail alone."""
    from scripts.compare_extractors import verdict

    def row(name: str, first: float, second: float, low: float, high: float) -> dict:
        difference = second - first
        return {"row": name, "first": first, "second": second, "difference": difference,
                "low": low, "high": high}  # fmt: skip

    own = row("own split, en", 0.92, 0.93, -0.01, 0.03)
    ami = row("AMI held-out meetings, true prior", 0.33, 0.32, -0.06, 0.05)
    calls = row("cross-style, calls_en_f never trained on", 0.73, 0.78, 0.01, 0.09)
    assert [holds for _, holds in verdict([own, ami, calls])] == [True, True, True]

    sure_fall = row("own split, en, calls_en_c", 0.89, 0.84, -0.09, -0.01)
    assert [holds for _, holds in verdict([own, sure_fall, ami, calls])] == [False, True, True]
    # Only the rows nobody here wrote count in the mean: the own split's gain does not.
    big_own = row("own split, en", 0.80, 0.95, 0.05, 0.2)
    assert [holds for _, holds in verdict([big_own, ami])] == [True, False, True]
    fallen = row("AMI held-out meetings, true prior", 0.33, 0.30, -0.08, 0.02)
    assert [holds for _, holds in verdict([own, fallen, calls])] == [True, True, False]


def run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_two_models_are_compared_row_by_row_and_bad_files_are_named(tmp_path: Path) -> None:
    """The English model against the German one on three English calls never trained on."""
    rows = (ROOT / "models/extractor/data/held_out/calls_en_f.jsonl").read_text().splitlines()
    ids = sorted({json.loads(r)["call_id"] for r in rows})[:3]
    data = tmp_path / "calls.jsonl"
    data.write_text("\n".join(r for r in rows if json.loads(r)["call_id"] in ids) + "\n")
    english, german = tmp_path / "en.json", tmp_path / "de.json"
    assert run("eval_extractor.py", "--data", str(data), "--json", str(english)).returncode == 0
    model = str(ROOT / "models/extractor/de")
    args = ["--model-dir", model, "--data", str(data), "--json", str(german)]
    assert run("eval_extractor.py", *args).returncode == 0

    out = tmp_path / "compare.json"
    done = run("compare_extractors.py", str(english), str(german), "--json", str(out))
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(out.read_text())
    values = [json.loads(p.read_text())["rows"]["given data"]["value"] for p in (english, german)]
    assert row["calls"] == 3
    assert [row["first"], row["second"]] == pytest.approx(values, abs=1e-4)
    assert row["difference"] == pytest.approx(values[1] - values[0], abs=1e-3)
    assert row["low"] <= row["difference"] <= row["high"]
    judged = run("compare_extractors.py", str(english), str(german), "--bar")
    mean = f"mean difference over the 1 rows nobody here wrote: {row['difference']:+.4f}"
    assert judged.returncode == 0 and mean in judged.stdout, judged.stdout
    same = run("compare_extractors.py", str(english), str(english), "--json", str(out))
    assert same.returncode == 0
    assert json.loads(out.read_text())[0]["low"] == json.loads(out.read_text())[0]["high"] == 0

    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({"rows": {}}))
    other = json.loads(german.read_text())
    other["predictions"]["given data"]["gold"][0] = "objection"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(other))
    short = json.loads(german.read_text())
    short["predictions"]["given data"]["chosen"].pop()
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps(short))
    for files, message in (
        ([str(english), str(cut)], "cut.json: row 'given data' lacks labels, call, gold, chosen"),
        ([str(tmp_path / "none.json"), str(english)], "none.json: no such file"),
        ([str(bare), str(english)], "bare.json: no predictions in it"),
        ([str(english), str(changed)], "scored on different data"),
    ):
        done = run("compare_extractors.py", *files)
        assert done.returncode == 2 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
