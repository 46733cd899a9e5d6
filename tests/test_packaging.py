"""A wheel works without the checkout: built with ``pip wheel``, installed into a fresh virtual
environment, ``assistant analyze`` extracts items from a transcript in a folder outside the source
tree (the extraction model ships as package data, not its training data)."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What a build reads; copied so the build leaves nothing in the shared checkout.
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE")
PACKAGES = ("assistant", "api", "models")
CALL = [
    ("Anna", "rep", "Thanks for making the time today, Markus."),
    ("Markus", "customer", "We need a Salesforce integration, otherwise nobody will use it."),
    ("Markus", "customer", "Honestly, the price is too high for a team of our size."),
    ("Anna", "rep", "I will send you the pricing proposal by Friday."),
    ("Markus", "customer", "Good. I'll check the contract terms with our legal team next week."),
]


def run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_an_installed_wheel_extracts_items_outside_the_checkout(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, source / name)
    for name in PACKAGES:
        shutil.copytree(
            ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    dist = tmp_path / "dist"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        dist,
        source,
        cwd=tmp_path,
    )
    (wheel,) = dist.glob("sales_call_assistant-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = "assistant/bundled/extractor/"
    model = source / "models" / "extractor"
    run_time = {
        p.relative_to(model).as_posix()
        for p in model.rglob("*")
        if p.is_file() and p.relative_to(model).parts[0] != "data"
    }
    assert {n.removeprefix(shipped) for n in names if n.startswith(shipped)} == run_time
    assert {
        "config.json",
        "heads.safetensors",
        "de/config.json",
        "de/heads.safetensors",
    } <= run_time
    assert not [n for n in names if n.startswith("models/")]

    # A fresh environment that sees this one's third-party packages but not the checkout.
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
    ).strip()
    Path(purelib, "outer-environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        "-q",
        wheel,
        cwd=tmp_path,
    )

    work = tmp_path / "work"
    work.mkdir()
    transcript = work / "call.jsonl"
    transcript.write_text(
        "".join(
            json.dumps(
                {
                    "speaker": who,
                    "role": role,
                    "text": text,
                    "start_s": 4.0 * i,
                    "end_s": 4.0 * i + 3.5,
                }
            )
            + "\n"
            for i, (who, role, text) in enumerate(CALL)
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "PYTHON"))}
    env.update(ASSISTANT_DATA_DIR=str(tmp_path / "data"), HF_HUB_OFFLINE="1")
    where = run(python, "-c", "import assistant; print(assistant.__file__)", cwd=work, env=env)
    assert Path(where.strip()).is_relative_to(venv)
    report = json.loads(
        run(
            venv / "bin" / "assistant", "analyze", transcript, "--format", "json", cwd=work, env=env
        )
    )
    kinds = {item["kind"] for item in report["items"]}
    assert {"action_item", "customer_need", "objection"} & kinds, report["items"]
    assert "action_item" in kinds, report["items"]
