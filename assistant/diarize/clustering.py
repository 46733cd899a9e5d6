"""Voice windows grouped into speakers: average linkage, or spectral clustering."""

from __future__ import annotations

import numpy as np

from assistant.diarize.types import DiarizeOptions
from assistant.diarize.voices import normed

# The defaults of the functions below are the stage's (one source of truth: DiarizeOptions).
_DEFAULTS = DiarizeOptions()


def cluster(
    embeddings: np.ndarray,
    speakers: int | None = None,
    threshold: float = _DEFAULTS.threshold,
    max_speakers: int = _DEFAULTS.max_speakers,
) -> np.ndarray:
    """Cluster labels 0..k-1 for L2-normed ``embeddings``: average linkage on cosine distance."""
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=int)
    if n == 1 or speakers == 1:
        return np.zeros(n, dtype=int)
    tree = linkage(embeddings.astype(np.float64), method="average", metric="cosine")
    if speakers is not None:
        labels = fcluster(tree, t=min(speakers, n), criterion="maxclust")
    else:
        labels = fcluster(tree, t=threshold, criterion="distance")
        if labels.max() > max_speakers:
            labels = fcluster(tree, t=max_speakers, criterion="maxclust")
    return np.asarray(labels, dtype=int) - 1


def spectral_cluster(
    embeddings: np.ndarray,
    speakers: int | None = None,
    max_speakers: int = _DEFAULTS.max_speakers,
    prune_share: float = _DEFAULTS.prune_share,
    same_voice: float = _DEFAULTS.same_voice,
) -> np.ndarray:
    """Cluster labels 0..k-1 for L2-normed ``embeddings`` by spectral clustering.

    Each window keeps edges to its ``prune_share`` most similar windows (so a noise burst's few
    windows cannot bridge two voices); the number of voices is the largest gap between the
    smallest eigenvalues of the graph's normalised Laplacian, at least two, since a call has
    two parties; two voices whose centroids are more alike than ``same_voice`` are then merged,
    so a recording of one person still comes out as one.
    """
    from scipy.cluster.vq import kmeans2

    n = len(embeddings)
    if n < 4 or speakers == 1:
        return np.zeros(n, dtype=int)
    similarity = np.clip(embeddings @ embeddings.T, 0.0, None).astype(np.float64)
    keep = max(2, int(np.ceil(prune_share * n)))
    cut = -np.partition(-similarity, keep - 1, axis=1)[:, keep - 1 : keep]
    affinity = np.where(similarity >= cut, similarity, 0.0)
    affinity = (affinity + affinity.T) / 2
    np.fill_diagonal(affinity, 0.0)
    scale = 1.0 / np.sqrt(affinity.sum(axis=1) + 1e-9)
    laplacian = np.eye(n) - scale[:, None] * affinity * scale[None, :]
    values, vectors = np.linalg.eigh(laplacian)
    most = min(max_speakers, n - 1)
    gaps = np.diff(values[: most + 1])
    k = 2 + int(np.argmax(gaps[1:])) if most >= 2 else 1
    if speakers is not None:
        # k-means straight into ``speakers`` groups can split along something else than the
        # voice (the language, the loudness); the graph's own groups merged down do not.
        k = max(k, min(speakers, n))
    points = vectors[:, :k] / (np.linalg.norm(vectors[:, :k], axis=1, keepdims=True) + 1e-9)
    best, labels = np.inf, np.zeros(n, dtype=int)
    for seed in range(5):
        centres, found = kmeans2(points, k, minit="++", seed=seed)
        inertia = float(np.sum((points - centres[found]) ** 2))
        if inertia < best:
            best, labels = inertia, found
    labels = np.unique(labels, return_inverse=True)[1]
    if speakers is None:
        return _merge_alike(embeddings, labels, same_voice)
    return _merge_alike(embeddings, labels, -np.inf, down_to=speakers)


def _merge_alike(
    embeddings: np.ndarray, labels: np.ndarray, same_voice: float, down_to: int = 1
) -> np.ndarray:
    """Merge the two most alike clusters while their centroids' similarity is ``same_voice``
    or more, and there are more than ``down_to``."""
    labels = labels.copy()
    while len(np.unique(labels)) > down_to:
        ids = np.unique(labels)
        means = centroids(embeddings, labels)
        similarity = means @ means.T
        np.fill_diagonal(similarity, -np.inf)
        a, b = np.unravel_index(int(np.argmax(similarity)), similarity.shape)
        if similarity[a, b] < same_voice:
            break
        labels[labels == ids[b]] = ids[a]
    return np.unique(labels, return_inverse=True)[1]


def split_by_pitch(embeddings: np.ndarray, pitch: np.ndarray, min_gap: float) -> np.ndarray:
    """Labels for windows found to be one voice: two groups when the voices' own two-way split
    (average linkage) gives groups whose median pitches (semitones, NaN: unvoiced) lie
    ``min_gap`` or more apart, else one. The encoder can place a man's and a woman's voice
    close together; one person's windows do not split into two pitch levels."""
    from scipy.cluster.hierarchy import fcluster, linkage

    one = np.zeros(len(embeddings), dtype=int)
    if len(embeddings) < 4:
        return one
    tree = linkage(embeddings.astype(np.float64), method="average", metric="cosine")
    two = np.asarray(fcluster(tree, t=2, criterion="maxclust"), dtype=int) - 1
    medians = []
    for k in (0, 1):
        voiced = pitch[(two == k) & ~np.isnan(pitch)]
        if len(voiced) < 2:
            return one
        medians.append(float(np.median(voiced)))
    return two if abs(medians[0] - medians[1]) >= min_gap else one


def centroids(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.stack([normed(embeddings[labels == k].mean(axis=0)) for k in np.unique(labels)])


def fold_small(
    embeddings: np.ndarray, labels: np.ndarray, weights_s: np.ndarray, min_speaker_s: float
) -> np.ndarray:
    """Fold clusters with little speech into their nearest neighbour (noise, coughs, laughs)."""
    labels = labels.copy()
    while True:
        ids = np.unique(labels)
        if len(ids) < 2:
            return labels
        amount = np.array([weights_s[labels == k].sum() for k in ids])
        smallest = int(np.argmin(amount))
        if amount[smallest] >= min_speaker_s:
            return labels
        means = centroids(embeddings, labels)
        similarity = means @ means[smallest]
        similarity[smallest] = -np.inf
        labels[labels == ids[smallest]] = ids[int(np.argmax(similarity))]
