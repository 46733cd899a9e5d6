"""Speaker turns of a mono recording, from the voices alone."""

from __future__ import annotations

import numpy as np

from assistant.diarize import clustering, voices
from assistant.diarize.assign import runs
from assistant.diarize.types import (
    FRAME_S,
    WINDOW_S,
    Diarization,
    DiarizeOptions,
    Turn,
    speaker_label,
)


def _frame_turns(
    regions: list[tuple[float, float]],
    starts: np.ndarray,
    embeddings: np.ndarray,
    centroids: np.ndarray,
    min_turn_s: float,
) -> list[tuple[float, float, int]]:
    """Label every FRAME_S of speech with the centroid its covering windows resemble most."""
    scores = embeddings @ centroids.T  # (windows, speakers)
    centres = starts + WINDOW_S / 2
    turns: list[tuple[float, float, int]] = []
    for start, end in regions:
        n = max(1, int(np.ceil((end - start) / FRAME_S)))
        times = start + (np.arange(n) + 0.5) * FRAME_S
        labels = np.empty(n, dtype=int)
        # Window starts are sorted: the windows covering t start in [t - WINDOW_S, t].
        firsts = np.searchsorted(starts, times - WINDOW_S, side="left")
        lasts = np.searchsorted(starts, times, side="right")
        for i, t in enumerate(times):
            if lasts[i] > firsts[i]:
                labels[i] = int(np.argmax(scores[firsts[i] : lasts[i]].mean(axis=0)))
            else:
                labels[i] = int(np.argmax(scores[int(np.argmin(np.abs(centres - t)))]))
        labels = _smooth(labels, max(1, round(min_turn_s / FRAME_S)))
        run_start = 0
        for i in range(1, n + 1):
            if i == n or labels[i] != labels[run_start]:
                t0 = start + run_start * FRAME_S
                t1 = min(end, start + i * FRAME_S)
                turns.append((round(t0, 3), round(t1, 3), int(labels[run_start])))
                run_start = i
    return turns


def _smooth(labels: np.ndarray, min_frames: int) -> np.ndarray:
    """Runs shorter than ``min_frames`` take the label of their longer neighbour."""
    labels = labels.copy()
    changed = True
    while changed:
        changed = False
        spans = runs(labels)
        if len(spans) < 2:
            break
        for index, (first, last) in enumerate(spans):
            if last - first >= min_frames:
                continue
            before = spans[index - 1] if index > 0 else None
            after = spans[index + 1] if index + 1 < len(spans) else None
            longer = max((r for r in (before, after) if r is not None), key=lambda r: r[1] - r[0])
            labels[first:last] = labels[longer[0]]
            changed = True
            break
    return labels


def diarize_mono(audio: np.ndarray, options: DiarizeOptions | None = None) -> Diarization:
    """Speaker turns of a mono recording (16 kHz float32), found from the voices alone."""
    options = options or DiarizeOptions()
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    regions = voices.speech_regions(audio)
    starts, embeddings = voices.embed_windows(audio, regions, options.hop_s)
    if len(embeddings) == 0:
        return Diarization(turns=[], method="embedding")
    pick = np.arange(len(embeddings))
    most = (
        options.max_spectral_windows
        if options.method == "spectral"
        else options.max_cluster_windows
    )
    if len(pick) > most:
        pick = np.linspace(0, len(embeddings) - 1, most).astype(int)
    if options.method == "spectral":
        labels = clustering.spectral_cluster(
            embeddings[pick],
            options.speakers,
            options.max_speakers,
            options.prune_share,
            options.same_voice,
        )
    else:
        labels = clustering.cluster(
            embeddings[pick], options.speakers, options.threshold, options.max_speakers
        )
    if options.speakers is None and labels.max() == 0 and options.pitch_gap_st is not None:
        pitch = voices.window_pitch(audio, starts[pick])
        labels = clustering.split_by_pitch(embeddings[pick], pitch, options.pitch_gap_st)
    if options.speakers is None:
        weight_s = np.full(len(pick), options.hop_s * len(embeddings) / len(pick))
        speech_s = sum(end - start for start, end in regions)
        least_s = max(options.min_speaker_s, options.min_speaker_share * speech_s)
        labels = clustering.fold_small(embeddings[pick], labels, weight_s, least_s)
    centroids = clustering.centroids(embeddings[pick], labels)
    raw = _frame_turns(regions, starts, embeddings, centroids, options.min_turn_s)
    # Name speakers in order of first appearance; keep only speakers that still hold speech.
    order: dict[int, int] = {}
    for _, _, k in raw:
        order.setdefault(k, len(order))
    turns = [Turn(s, e, speaker_label(order[k])) for s, e, k in raw]
    embeddings_by_speaker = {speaker_label(order[k]): centroids[k] for k in order}
    return Diarization(turns=_join(turns), embeddings=embeddings_by_speaker, method="embedding")


def _join(turns: list[Turn], gap_s: float = 1e-6) -> list[Turn]:
    joined: list[Turn] = []
    for turn in turns:
        if (
            joined
            and joined[-1].speaker == turn.speaker
            and turn.start_s - joined[-1].end_s <= gap_s
        ):
            joined[-1] = Turn(joined[-1].start_s, turn.end_s, turn.speaker)
        else:
            joined.append(turn)
    return joined
