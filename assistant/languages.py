"""Which of the product's languages a text is in, from its common function words.

Cheap and crude: it tells German from English in a sentence or more, and says nothing of other
languages. The transcriber uses it to doubt a segment whose words are in another language than
the one it was decoded in (then the audio decides), the summary to pick its language.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_COMMON = {
    "en": "the and to of is that it you we i this for are with be have not what so",
    "de": "der die das und ist nicht ich wir sie es ein eine zu mit den auch auf für",
}
FUNCTION_WORDS = {lang: frozenset(words.split()) for lang, words in _COMMON.items()}


def function_word_counts(texts: Iterable[str]) -> dict[str, int]:
    """How many of each language's function words the texts hold."""
    counts = dict.fromkeys(FUNCTION_WORDS, 0)
    for text in texts:
        for word in re.findall(r"\w+", text.lower()):
            for lang, words in FUNCTION_WORDS.items():
                counts[lang] += word in words
    return counts


def guess_language(texts: Iterable[str]) -> str:
    """``de`` or ``en``; English when it cannot tell."""
    counts = function_word_counts(texts)
    return "de" if counts["de"] > counts["en"] else "en"
