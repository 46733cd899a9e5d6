"""What a person reads when a job failed: words chosen by the failure's kind (``Job.error_kind``,
the ``kind`` of the error in ``assistant.errors``), never guessed from its message.

A kind without words of its own (a wrong option, a file over the limits, a failure stored
before kinds were) shows the message itself, which says what was wrong and what to do.
"""

from __future__ import annotations

from assistant.errors import (
    UNEXPECTED,
    EmptyAudioError,
    ModelError,
    NoAudioStreamError,
    TruncatedMediaError,
)

SERVER_PROBLEM = (
    "The analysis stopped because of a problem on the server, not with your recording. "
    "Try again; if it fails again, tell your admin."
)
DAMAGED = (
    "The recording looks incomplete or damaged. Export it again from your meeting tool and "
    "upload the complete file."
)
NO_SPEECH = "The recording has no speech we could use. Check it plays, then upload it again."
NO_MODELS = (
    "The analysis models are not available on the server. Tell your admin; retry once they "
    "are installed."
)
NO_REASON = "The analysis stopped without saying why."

FAILURE_TEXTS = {
    UNEXPECTED: SERVER_PROBLEM,
    TruncatedMediaError.kind: DAMAGED,
    EmptyAudioError.kind: NO_SPEECH,
    NoAudioStreamError.kind: NO_SPEECH,
    ModelError.kind: NO_MODELS,
}


def failure_text(kind: str | None, message: str | None) -> tuple[str, str]:
    """What a rep reads about a failure of ``kind``, and the technical detail (empty when the
    message itself is what they read)."""
    detail = (message or "").strip()
    if not detail:
        return NO_REASON, ""
    words = FAILURE_TEXTS.get(kind or "")
    return (words, detail) if words else (detail, "")
