"""One exception tree for the whole library.

::

    AssistantError                 anything the user can act on
    ├── InputError                 the input is wrong; retrying will not help
    │   ├── MediaError             a recording cannot be used
    │   │   ├── NotMediaError      not an audio/video container at all
    │   │   ├── NoAudioStreamError a container without an audio stream
    │   │   ├── EmptyAudioError    zero-length or too short to hold speech
    │   │   ├── TooLongError       longer than the configured limit
    │   │   └── TruncatedMediaError decodes to far less than the container declares
    │   ├── TranscriptFormatError  a .vtt/.srt/.jsonl/.json transcript that cannot be parsed
    │   └── OptionError            an option value that is not allowed (unknown engine, language...)
    └── ModelError                 a model cannot be found or loaded

Only ``api/`` maps these to HTTP status codes and only the CLI maps them to exit codes.

Each class has a ``kind``: a short name that stays the same when messages change. A failed job
stores the kind of its error (``failure_kind``), so ``api/`` can say in plain words what went
wrong without reading the message. Failures that are no error of this tree have kinds of their
own: ``UNEXPECTED`` (any other exception) and ``WORKER_LOST`` (the worker stopped during the job
too often).
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error this library raises on purpose."""

    kind = "error"
    retryable = False


class InputError(AssistantError):
    """The input is wrong; the same input will fail again."""

    kind = "input"


class MediaError(InputError):
    """A recording cannot be used."""

    kind = "media"


class NotMediaError(MediaError):
    kind = "not_media"


class NoAudioStreamError(MediaError):
    kind = "no_audio_stream"


class EmptyAudioError(MediaError):
    kind = "empty_audio"


class TooLongError(MediaError):
    kind = "too_long"


class TruncatedMediaError(MediaError):
    kind = "truncated_media"


class TranscriptFormatError(InputError):
    kind = "transcript_format"


class OptionError(InputError):
    kind = "option"


class ModelError(AssistantError):
    """A model cannot be found or loaded."""

    kind = "model"


UNEXPECTED = "unexpected"
WORKER_LOST = "worker_lost"


def failure_kind(exc: BaseException) -> str:
    """The kind a job stores for a failure with ``exc``."""
    return exc.kind if isinstance(exc, AssistantError) else UNEXPECTED
