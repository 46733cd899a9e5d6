"""Receiving a recording: multipart parsed as it streams in, written to disk in chunks with its
sha256 computed on the way, cut off at the size limit, then checked as media
(``assistant.media.check``, as a batch's files are).

Nothing is trusted from the client: not the filename (kept for display only, and refused if it
holds a path), not the content type, not the extension. Whatever fails leaves no file behind.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool

from assistant.media import MediaInfo, MediaOptions, check

FILE_FIELD = "file"
TEXT_FIELDS = ("title", "customer", "call_date", "language", "rep")
MAX_FIELD_BYTES = 1000
MAX_PARTS = 16


class UploadError(Exception):
    """A request that cannot be an upload; ``status`` is its HTTP code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    path: Path
    filename: str
    sha256: str
    size_bytes: int
    fields: dict[str, str] = field(default_factory=dict)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def check_filename(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise UploadError(422, "The file part needs a filename")
    if "/" in name or "\\" in name or name in (".", "..") or "\x00" in name:
        raise UploadError(422, f"The filename {raw!r} holds a path; send only the file's name")
    if any(ord(c) < 32 for c in name) or len(name.encode()) > 255:
        raise UploadError(422, "The filename has control characters or is over 255 bytes")
    return name


def remove_stale_uploads(tmp_dir: Path, older_than_s: float = 6 * 3600) -> int:
    """Delete partial uploads a crash left behind (none is in flight for hours)."""
    if not tmp_dir.is_dir():
        return 0
    cutoff = time.time() - older_than_s
    removed = 0
    for path in tmp_dir.glob(".upload-*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def _cannot_store(exc: OSError) -> UploadError:
    """A full or unwritable upload folder: the server's problem, not the recording's."""
    return UploadError(507, f"The server cannot store the upload ({exc.strerror}); try again later")


class _Receiver:
    """Callbacks for ``MultipartParser``: one file part to disk, a few small text fields."""

    def __init__(self, tmp_dir: Path, max_bytes: int) -> None:
        self.tmp_dir = tmp_dir
        self.max_bytes = max_bytes
        self.fields: dict[str, str] = {}
        self.parts = 0
        self.filename: str | None = None
        self.path: Path | None = None
        self.size = 0
        self.digest = hashlib.sha256()
        self._file: IO[bytes] | None = None
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._value = bytearray()
        self._is_file = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise UploadError(422, f"Too many form fields (at most {MAX_PARTS})")
        self._headers = {}
        self._name = None
        self._value = bytearray()
        self._is_file = False

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = b""
        self._header_value = b""

    def headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in params:
            raise UploadError(400, "Each multipart part needs Content-Disposition: form-data; name")
        self._name = params[b"name"].decode("utf-8", "replace")
        if self._name == FILE_FIELD:
            if self._file is not None or self.filename is not None:
                raise UploadError(422, "Send one recording per upload")
            self.filename = check_filename(params.get(b"filename", b"").decode("utf-8", "replace"))
            self._is_file = True
            try:
                fd, name = tempfile.mkstemp(prefix=".upload-", dir=self.tmp_dir)
            except OSError as exc:
                raise _cannot_store(exc) from exc
            self.path = Path(name)
            self._file = os.fdopen(fd, "wb")
        elif self._name not in TEXT_FIELDS:
            raise UploadError(
                422,
                f"Unknown form field {self._name!r}; expected: {FILE_FIELD}, "
                + ", ".join(TEXT_FIELDS),
            )
        elif self._name in self.fields:
            raise UploadError(422, f"The form field {self._name!r} is given twice")

    def part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._is_file and self._file is not None:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise UploadError(
                    413,
                    f"The recording is larger than the limit of {self.max_bytes / 1e6:.0f} MB "
                    "(ASSISTANT_MAX_UPLOAD_BYTES)",
                )
            self.digest.update(chunk)
            try:
                self._file.write(chunk)
            except OSError as exc:
                raise _cannot_store(exc) from exc
        else:
            self._value += chunk
            if len(self._value) > MAX_FIELD_BYTES:
                raise UploadError(422, f"The form field {self._name!r} is too long")

    def part_end(self) -> None:
        if self._is_file and self._file is not None:
            self._file.close()
            self._is_file = False
        elif self._name is not None:
            try:
                self.fields[self._name] = self._value.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise UploadError(422, f"The form field {self._name!r} is not UTF-8") from None

    def cleanup(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


async def receive(request: Request, tmp_dir: Path, max_bytes: int) -> Upload:
    """Stream a ``multipart/form-data`` body to a temporary file in ``tmp_dir``."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data":
        raise UploadError(415, "Upload the recording as multipart/form-data with a 'file' part")
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise UploadError(400, "The multipart body has no boundary")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise UploadError(400, "Content-Length is not a number")
        if int(declared) > max_bytes + 64 * 1024:
            raise UploadError(
                413,
                f"The upload is larger than the limit of {max_bytes / 1e6:.0f} MB "
                "(ASSISTANT_MAX_UPLOAD_BYTES)",
            )
    try:
        tmp_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UploadError(
            507, f"The server cannot store uploads ({exc.strerror}); tell its operator"
        ) from exc
    receiver = _Receiver(tmp_dir, max_bytes)
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    try:
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
        parser.finalize()
        if receiver._file is not None and not receiver._file.closed:
            raise UploadError(400, "The multipart body ends in the middle of the file")
    except UploadError:
        receiver.cleanup()
        raise
    except Exception as exc:
        receiver.cleanup()
        raise UploadError(
            400, f"The multipart body cannot be parsed ({type(exc).__name__})"
        ) from exc
    if receiver.path is None or receiver.filename is None:
        receiver.cleanup()
        raise UploadError(422, "The upload has no 'file' part with the recording")
    return Upload(
        path=receiver.path,
        filename=receiver.filename,
        sha256=receiver.digest.hexdigest(),
        size_bytes=receiver.size,
        fields=receiver.fields,
    )


async def check_media_async(path: Path, filename: str, options: MediaOptions) -> MediaInfo:
    """``assistant.media.check`` off the event loop, naming the file as it was uploaded."""
    return await run_in_threadpool(check, path, options, filename)
