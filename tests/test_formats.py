"""Report renderers: which languages a call was in."""

from __future__ import annotations

from assistant.formats import languages_spoken, languages_text, to_md
from tests.helpers import spoken_call as call


def test_markdown_names_each_language_of_a_mixed_call() -> None:
    report = call([("de", 30.0), ("en", 10.0), ("de", 50.0), ("en", 10.0)])
    md = to_md(report)
    assert "- Languages: German 80 %, English 20 %" in md
    assert "- Language: de" not in md


def test_one_language_stays_one_line() -> None:
    md = to_md(call([("de", 60.0), ("de", 30.0)]))
    assert "- Language: de" in md and "Languages" not in md


def test_a_stray_language_is_not_named() -> None:
    # Two seconds of 'English' in ten minutes of German is a word or a misdetection, not a part.
    assert languages_spoken(call([("de", 600.0), ("en", 2.0)]).segments) == []
    # Five seconds or more, or five percent, is real speech.
    assert [lang for lang, _ in languages_spoken(call([("de", 600.0), ("en", 6.0)]).segments)] == [
        "de",
        "en",
    ]
    assert languages_text(call([("en", 40.0), ("fr", 3.0)]).segments) == "English 93 %, French 7 %"
