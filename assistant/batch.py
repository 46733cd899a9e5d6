"""Run a folder of recordings: one model load, skip what is done, one failure never stops it."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant import PIPELINE_VERSION
from assistant.errors import AssistantError
from assistant.formats import render
from assistant.media import MEDIA_EXTENSIONS, sha256_file
from assistant.report import CallReport

INDEX_NAME = "index.json"
# Under the usual limit of 255 bytes, with room for the temporary name a report is written to.
MAX_NAME_BYTES = 200


@dataclass(frozen=True)
class BatchResult:
    path: Path
    status: str  # done | skipped | failed
    duration_s: float | None = None
    seconds: float = 0.0
    error: str | None = None
    output: Path | None = None


def find_recordings(root: Path, recursive: bool = False, exclude: Path | None = None) -> list[Path]:
    """Recordings under ``root`` by extension, sorted. Symlinks leading out of ``root`` are
    ignored, and so is ``exclude`` (the output folder). A symlink loop with a recording's name
    is listed like any recording, so the batch reports it as one failed file."""
    root = root.resolve()
    excluded = exclude.resolve() if exclude else None

    def walk(folder: Path) -> Iterator[Path]:
        for entry in sorted(folder.iterdir()):
            try:
                real = entry.resolve()
            except (OSError, RuntimeError):  # a symlink loop (RuntimeError before Python 3.13)
                if entry.suffix.lower() in MEDIA_EXTENSIONS:
                    yield entry
                continue
            if not real.is_relative_to(root) or (excluded and real.is_relative_to(excluded)):
                continue
            if entry.is_dir():
                if recursive and not entry.is_symlink():
                    yield from walk(entry)
            elif entry.is_file() and entry.suffix.lower() in MEDIA_EXTENSIONS:
                yield entry

    return list(walk(root))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class BatchIndex:
    """``OUTDIR/index.json``: which sha256 was done by which pipeline version, and where."""

    def __init__(self, outdir: Path) -> None:
        self.path = outdir / INDEX_NAME
        self.entries: dict[str, dict[str, str]] = {}
        if self.path.is_file():
            try:
                self.entries = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                self.entries = {}  # a damaged index only costs a re-run

    def done(self, sha256: str, fmt: str) -> Path | None:
        entry = self.entries.get(sha256)
        if not entry or entry.get("pipeline_version") != PIPELINE_VERSION:
            return None
        output = self.path.parent / entry.get(fmt, "")
        return output if output.is_file() and entry.get(fmt) else None

    def record(self, sha256: str, fmt: str, source: Path, output: Path) -> None:
        entry = self.entries.setdefault(sha256, {})
        if entry.get("pipeline_version") != PIPELINE_VERSION:
            entry.clear()
        entry.update(pipeline_version=PIPELINE_VERSION, source=str(source), **{fmt: output.name})
        _write_atomic(self.path, json.dumps(self.entries, indent=2, sort_keys=True))


def output_name(root: Path, path: Path, fmt: str) -> str:
    """The report's file name: the path under ``root`` with ``__`` for each ``/``
    (``week2/call.m4a`` -> ``week2__call.m4a.json``), named for the entry, not a symlink's target.

    That name could also stand for another path when a part holds ``__`` or starts or ends
    with ``_`` (``sub/a.m4a`` and ``sub__a.m4a``); such a name, or one too long for a file
    name, starts with ``_`` and a hash of the path instead. A plain name never starts with
    ``_``, so the two kinds never meet, and two paths never share a report."""
    relative = (path.parent.resolve() / path.name).relative_to(root.resolve())
    joined = "__".join(relative.parts)
    plain = f"{joined}.{fmt}"
    ambiguous = any("__" in p or p.startswith("_") or p.endswith("_") for p in relative.parts)
    if not ambiguous and len(os.fsencode(plain)) <= MAX_NAME_BYTES:
        return plain
    digest = hashlib.sha256(os.fsencode(relative.as_posix())).hexdigest()[:16]
    room = MAX_NAME_BYTES - len(f"_{digest}_.{fmt}")
    readable = os.fsencode(joined)[:room].decode("utf-8", "ignore")
    return f"_{digest}_{readable}.{fmt}"


def run_batch(
    analyse: Callable[[Path], CallReport],
    root: Path,
    files: list[Path],
    outdir: Path,
    fmt: str = "json",
    on_result: Callable[[BatchResult], None] | None = None,
) -> list[BatchResult]:
    outdir.mkdir(parents=True, exist_ok=True)
    index = BatchIndex(outdir)
    results = []
    for path in files:
        started = time.perf_counter()
        try:
            sha256 = sha256_file(path)
            if existing := index.done(sha256, fmt):
                result = BatchResult(path, "skipped", output=existing)
            else:
                report = analyse(path)
                output = outdir / output_name(root, path, fmt)
                _write_atomic(output, render(report, fmt))
                index.record(sha256, fmt, path, output)
                result = BatchResult(
                    path,
                    "done",
                    duration_s=report.source.duration_s,
                    seconds=time.perf_counter() - started,
                    output=output,
                )
        except AssistantError as exc:
            result = BatchResult(
                path, "failed", seconds=time.perf_counter() - started, error=str(exc)
            )
        except OSError as exc:  # unreadable, a symlink loop, or the report cannot be written
            error = f"{path.name}: {exc.strerror or exc}"
            result = BatchResult(path, "failed", seconds=time.perf_counter() - started, error=error)
        except Exception as exc:  # one bad file must never stop the batch
            error = f"unexpected {type(exc).__name__}: {exc}"
            result = BatchResult(path, "failed", seconds=time.perf_counter() - started, error=error)
        results.append(result)
        if on_result:
            on_result(result)
    return results
