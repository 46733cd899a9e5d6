"""Build step: the extractor's run-time files go into the wheel as package data.

``models/extractor/`` stays the one source of truth (DESIGN.md: models/ is data, never an
importable package). When a wheel is built, whatever that folder holds then, except the training
``data/``, is copied to ``assistant/bundled/extractor/`` in the build, where
``assistant.extract.classifier.default_model_dir`` finds it after a ``pip install`` without a
checkout. Editable installs read ``models/extractor/`` in place. Everything else is in
pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
EXTRACTOR = ROOT / "models" / "extractor"
BUNDLED = Path("assistant") / "bundled" / "extractor"
NOT_SHIPPED = ("data", ".*", "__pycache__")


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        if not (EXTRACTOR / "config.json").is_file():
            raise SystemExit(f"{EXTRACTOR} holds no extraction model (config.json) to ship")
        target = Path(self.build_lib) / BUNDLED
        shutil.rmtree(target, ignore_errors=True)  # files removed from models/ stay removed
        shutil.copytree(EXTRACTOR, target, ignore=shutil.ignore_patterns(*NOT_SHIPPED))


setup(cmdclass={"build_py": BuildPy})
