"""Downloads: the ``Content-Disposition`` header of a file the browser saves."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

# Letters that Unicode does not decompose into an ASCII letter plus accents.
_LETTERS = str.maketrans(
    {"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "ß": "ss", "Æ": "AE", "æ": "ae"}
    | {"Œ": "OE", "œ": "oe", "Þ": "Th", "þ": "th"}
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_STEM = 80


def ascii_stem(stem: str) -> str:
    """``stem`` in the letters every client takes in a quoted ``filename``, or '' if none are
    left (``Łódź`` -> ``Lodz``, ``Q3 "deal"`` -> ``Q3_deal``, ``Звонок`` -> '')."""
    plain = unicodedata.normalize("NFKD", stem.translate(_LETTERS))
    plain = plain.encode("ascii", "ignore").decode("ascii")
    return _UNSAFE.sub("_", plain).strip("._")[:MAX_STEM]


def attachment(stem: str, extension: str, fallback_stem: str) -> str:
    """``attachment`` with an ASCII ``filename`` and, where that had to change the name, the
    real one as ``filename*=UTF-8''...`` (RFC 6266, RFC 5987). HTTP headers are Latin-1 at
    most, so the name itself never goes in raw."""
    stem = "".join(c for c in stem if c.isprintable())[:MAX_STEM].strip() or fallback_stem
    plain = f"{ascii_stem(stem) or fallback_stem}.{extension}"
    header = f'attachment; filename="{plain}"'
    real = f"{stem}.{extension}"
    if real != plain:
        header += f"; filename*=UTF-8''{quote(real, safe='')}"
    return header
