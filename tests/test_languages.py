"""German or English from a text's function words."""

from __future__ import annotations

from assistant.languages import function_word_counts, guess_language


def test_function_words_tell_german_from_english() -> None:
    assert function_word_counts(["This isn't part of your testing routine, is it?"]) == {
        "en": 4,  # this, of, is, it
        "de": 0,
    }
    assert guess_language(["Wir brauchen das auf den Tablets in der Werkstatt."]) == "de"
    assert guess_language(["Das ist für the team"]) == "de"  # a loanword does not flip it
    assert guess_language([""]) == "en"
