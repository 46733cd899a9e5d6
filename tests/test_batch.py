from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.batch import find_recordings
from assistant.cli import app

runner = CliRunner()


@pytest.fixture
def folder(tmp_path: Path, data: Path) -> Path:
    root = tmp_path / "recordings"
    (root / "week2").mkdir(parents=True)
    shutil.copy(data / "jfk.flac", root / "jfk.flac")
    shutil.copy(data / "i_tell_you.wav", root / "week2" / "i_tell_you.wav")
    (root / "broken.mp3").write_text("this is not audio\n" * 40)
    (root / "notes.txt").write_text("ignored: not a recording")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(data / "another_door.wav", outside / "secret.wav")
    (root / "link.wav").symlink_to(outside / "secret.wav")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    return root


def test_find_recordings_never_leaves_the_folder(folder: Path) -> None:
    names = [p.name for p in find_recordings(folder, recursive=True)]
    assert names == ["broken.mp3", "jfk.flac", "i_tell_you.wav"]
    assert [p.name for p in find_recordings(folder)] == ["broken.mp3", "jfk.flac"]


def batch(folder: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["batch", str(folder), "--recursive", "-m", "tiny.en", *extra])
    return result.exit_code, result.output


def test_batch_runs_skips_and_survives_a_bad_file(folder: Path) -> None:
    code, output = batch(folder)
    assert code == 1
    assert "1 of 3 file(s) failed" in output
    assert "not an audio or video file" in output
    outdir = folder / "reports"
    report = json.loads((outdir / "jfk.flac.json").read_text())
    assert "fellow Americans" in " ".join(s["text"] for s in report["segments"])
    nested = json.loads((outdir / "week2__i_tell_you.wav.json").read_text())
    assert "poison" in " ".join(s["text"] for s in nested["segments"]).lower()
    assert not (outdir / "link.wav.json").exists()
    index = json.loads((outdir / "index.json").read_text())
    assert {e["source"].rsplit("/", 1)[-1] for e in index.values()} == {
        "jfk.flac",
        "i_tell_you.wav",
    }

    # A re-run skips what is done (by content, even under a new name) and reports the failure.
    shutil.copy(folder / "jfk.flac", folder / "jfk-copy.flac")
    before = (outdir / "jfk.flac.json").stat().st_mtime_ns
    code, output = batch(folder)
    assert code == 1
    assert output.count("skipped") >= 3
    assert (outdir / "jfk.flac.json").stat().st_mtime_ns == before
    assert not (outdir / "jfk-copy.flac.json").exists()


def test_batch_all_good_exits_0_and_other_format_is_its_own_output(
    folder: Path, tmp_path: Path
) -> None:
    (folder / "broken.mp3").unlink()
    out = tmp_path / "out"
    code, output = batch(folder, "-o", str(out), "-f", "txt")
    assert code == 0, output
    assert (out / "jfk.flac.txt").read_text().startswith("[0:00] ")
    code, _ = batch(folder, "-o", str(out), "-f", "json")
    assert code == 0 and (out / "jfk.flac.json").is_file()


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    code, output = batch(tmp_path)
    assert code == 2 and "no recordings found" in output
