"""A message search term's words, and the one its index lookup starts from."""

from __future__ import annotations

from app.conversations.search import MAX_PROBED_WORDS, rarest, words_of


def test_words_an_index_can_look_up_are_kept_once_in_order():
    assert words_of("  order 4711 ") == ["order", "4711"]
    # Shorter than a trigram: no lookup of their own.
    assert words_of("message 1 of 10") == ["message"]
    # ILIKE ignores case, so a word is weighed once.
    assert words_of("Refund refund REFUND now") == ["Refund", "now"]
    assert words_of("50% off") == ["50%", "off"]
    assert words_of("one two three four five six") == ["one", "two", "three", "four"][
        :MAX_PROBED_WORDS
    ]


def test_the_rarest_word_wins_and_a_tie_goes_to_the_longer_word():
    assert rarest(["order", "4711"], [500, 3]) == ("4711", 3)
    assert rarest(["order", "4711"], [0, 3]) == ("order", 0)
    assert rarest(["abc", "abcdef"], [7, 7]) == ("abcdef", 7)
