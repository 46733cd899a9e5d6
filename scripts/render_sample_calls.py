"""Render the sample sales calls in samples/ from their scripts, with espeak-ng.

Each script (samples/sales_call_*.txt) has one turn a line, ``rep|text`` or ``customer|text``.
The call is written as a call recorder writes it: two channels, the rep on the left and the
customer on the right, each line holding the other party's voice 30 dB down, 0.5 s between
turns, Opus in Ogg. The voices are espeak-ng's (a man for the rep, a woman for the customer), so
the samples may be shared freely; they are synthetic, which the README says where it shows them.

    apt-get install espeak-ng   # only needed to render the samples again
    python scripts/render_sample_calls.py
"""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.media import SAMPLE_RATE, load_audio  # noqa: E402

SAMPLES = ROOT / "samples"
# (language of the script's file name) -> espeak-ng voices for the rep and the customer
VOICES = {"en": ("en-us", "en-gb+f3"), "de": ("de", "de+f2")}
BLEED = 10 ** (-30 / 20)
GAP_S = 0.5


def speak(voice: str, text: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "turn.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", "165", "-w", str(wav), text],
            check=True,
            capture_output=True,
        )
        return np.ascontiguousarray(load_audio(wav).mono)


def render(script: Path) -> np.ndarray:
    """(2, n) float32 at 16 kHz: the rep on the left, the customer on the right."""
    rep_voice, customer_voice = VOICES[script.stem.rsplit("_", 1)[-1]]
    left: list[np.ndarray] = []
    right: list[np.ndarray] = []
    gap = np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)
    for number, line in enumerate(script.read_text(encoding="utf-8").splitlines(), 1):
        role, _, text = line.partition("|")
        if role not in ("rep", "customer") or not text.strip():
            raise SystemExit(f"{script.name}:{number}: expected 'rep|text' or 'customer|text'")
        voice = speak(rep_voice if role == "rep" else customer_voice, text.strip())
        own, other = (left, right) if role == "rep" else (right, left)
        own += [voice, gap]
        other += [BLEED * voice, gap]
    return np.stack([np.concatenate(left), np.concatenate(right)]).astype(np.float32)


def write_opus(samples: np.ndarray, path: Path) -> None:
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=48_000, layout="stereo")
        stream.bit_rate = 32_000
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=48_000)
        for resampled in resampler.resample(frame) + resampler.resample(None):
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    path.write_bytes(buffer.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    if shutil.which("espeak-ng") is None:
        print("error: espeak-ng is not installed (apt-get install espeak-ng)", file=sys.stderr)
        return 2
    for script in sorted(SAMPLES.glob("sales_call_*.txt")):
        out = script.with_suffix(".ogg")
        samples = render(script)
        write_opus(samples, out)
        print(f"{out.relative_to(ROOT)}: {samples.shape[1] / SAMPLE_RATE:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
