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
    │   ├── TranscriptFormatError  a .vtt/.srt/.jsonl transcript that cannot be parsed
    │   └── OptionError            an option value that is not allowed (unknown engine, language...)
    └── ModelError                 a model cannot be found or loaded

Only ``api/`` maps these to HTTP status codes and only the CLI maps them to exit codes.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base of every error this library raises on purpose."""

    retryable = False


class InputError(AssistantError):
    """The input is wrong; the same input will fail again."""


class MediaError(InputError):
    """A recording cannot be used."""


class NotMediaError(MediaError):
    pass


class NoAudioStreamError(MediaError):
    pass


class EmptyAudioError(MediaError):
    pass


class TooLongError(MediaError):
    pass


class TruncatedMediaError(MediaError):
    pass


class TranscriptFormatError(InputError):
    pass


class OptionError(InputError):
    pass


class ModelError(AssistantError):
    """A model cannot be found or loaded."""
