from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assistant.batch import find_recordings, output_name
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


def test_find_recordings_lists_a_symlink_loop_instead_of_crashing(
    tmp_path: Path, data: Path
) -> None:
    root = tmp_path / "recordings"
    (root / "sub").mkdir(parents=True)
    shutil.copy(data / "fleurs-en-004.ogg", root / "dinosaurs.ogg")
    (root / "self.flac").symlink_to(root / "self.flac")
    (root / "ping.wav").symlink_to(root / "pong.wav")
    (root / "pong.wav").symlink_to(root / "ping.wav")
    (root / "loop").symlink_to(root / "loop")  # not a recording's name: left out
    (root / "sub" / "up").symlink_to(root, target_is_directory=True)
    names = [p.name for p in find_recordings(root, recursive=True)]
    assert names == ["dinosaurs.ogg", "ping.wav", "pong.wav", "self.flac"]


def test_batch_symlink_loop_is_one_failed_row(
    tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "recordings"
    root.mkdir()
    shutil.copy(data / "fleurs-en-004.ogg", root / "dinosaurs.ogg")
    (root / "self.flac").symlink_to(root / "self.flac")
    monkeypatch.chdir(tmp_path)  # a relative folder, as people type it
    result = runner.invoke(app, ["batch", "recordings", "-m", "tiny.en"])
    assert result.exit_code == 1, result.output
    assert "1 of 2 file(s) failed" in result.output
    assert "symbolic links" in result.output
    assert "Traceback" not in result.output
    report = json.loads((root / "reports" / "dinosaurs.ogg.json").read_text())
    assert "dinosaurs" in " ".join(s["text"] for s in report["segments"]).lower()


def test_report_names_never_collide(tmp_path: Path, data: Path) -> None:
    root = tmp_path / "recordings"
    (root / "sub").mkdir(parents=True)
    shutil.copy(data / "fleurs-en-004.ogg", root / "sub" / "a.ogg")
    shutil.copy(data / "fleurs-en-003.ogg", root / "sub__a.ogg")
    code, output = batch(root)
    assert code == 0, output
    reports = {
        p.name: " ".join(s["text"] for s in json.loads(p.read_text())["segments"]).lower()
        for p in (root / "reports").glob("*.json")
        if p.name != "index.json"
    }
    assert len(reports) == 2, reports
    assert sorted("dinosaurs" in text for text in reports.values()) == [False, True]
    assert sorted("cabbage" in text for text in reports.values()) == [False, True]


@pytest.mark.parametrize(
    "paths",
    [
        ["sub/a.flac", "sub__a.flac"],
        ["a_/b.flac", "a/_b.flac", "a___b.flac"],
        ["x__y/z.wav", "x/y__z.wav", "x/y/z.wav", "x__y__z.wav"],
        ["_a.flac", "a_.flac", "__/a.flac", "_/_a.flac"],
        [f"{'d' * 200}/{'e' * 200}.flac", f"{'d' * 200}/{'e' * 199}f.flac"],
    ],
)
def test_output_names_are_distinct_and_short(tmp_path: Path, paths: list[str]) -> None:
    names = [output_name(tmp_path, tmp_path / p, "json") for p in paths]
    assert len(set(names)) == len(names), names
    assert all(name.endswith(".json") and len(name.encode()) <= 255 for name in names)


def test_plain_output_names_stay_readable(tmp_path: Path) -> None:
    assert output_name(tmp_path, tmp_path / "jfk.flac", "json") == "jfk.flac.json"
    nested = output_name(tmp_path, tmp_path / "week2" / "i_tell_you.wav", "txt")
    assert nested == "week2__i_tell_you.wav.txt"


def test_enqueued_batch_of_a_relative_folder_reports_a_symlink_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "recordings"
    root.mkdir()
    (root / "self.flac").symlink_to(root / "self.flac")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["batch", "recordings", "--enqueue"])
    assert result.exit_code == 1, result.output
    assert "self.flac" in result.output and "no such file" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
