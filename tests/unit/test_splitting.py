"""Long replies split for each channel's limit: WhatsApp counts characters, Instagram bytes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.channels.adapters.instagram import MAX_TEXT_BYTES, split_utf8
from app.channels.adapters.whatsapp import MAX_TEXT_CHARS, split_text


def _words(text: str) -> list[str]:
    return text.split()


def test_short_and_empty_texts_are_one_part():
    assert split_text("hola") == ["hola"]
    assert split_text("") == [""]
    assert split_utf8("") == [""]


def test_whatsapp_splits_at_the_last_paragraph_then_line_then_word():
    para = "a" * 60 + "\n\n" + "b" * 30
    assert split_text(para, limit=80) == ["a" * 60, "b" * 30]
    line = "a" * 60 + "\n" + "b" * 30
    assert split_text(line, limit=80) == ["a" * 60, "b" * 30]
    words = "a" * 60 + " " + "b" * 30
    assert split_text(words, limit=80) == ["a" * 60, "b" * 30]


def test_whatsapp_cuts_hard_when_the_only_break_is_too_early():
    # A break in the first half would leave tiny parts: cut at the limit instead.
    text = "ab " + "c" * 200
    parts = split_text(text, limit=100)
    assert [len(p) for p in parts] == [100, 100, 3]


def test_whatsapp_long_reply_at_the_real_limit():
    parts = split_text("palabra " * 1200)
    assert len(parts) == 3 and all(len(p) <= MAX_TEXT_CHARS for p in parts)


def test_instagram_never_cuts_inside_a_character():
    text = ("ñandú " * 400).strip()
    parts = split_utf8(text)
    assert all(len(p.encode()) <= MAX_TEXT_BYTES for p in parts)
    assert " ".join(parts) == text
    emoji = "🙂" * 600  # 4 bytes each, no spaces at all
    parts = split_utf8(emoji)
    assert [len(p.encode()) for p in parts] == [1000, 1000, 400]
    assert "".join(parts) == emoji


TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=600)


@given(TEXT, st.integers(min_value=8, max_value=200))
def test_whatsapp_parts_fit_and_keep_every_word(text: str, limit: int):
    parts = split_text(text, limit=limit)
    assert all(len(p) <= limit for p in parts)
    # Only whitespace at a cut may go; every other character stays, in order.
    assert "".join(_words("".join(parts))) == "".join(_words(text))


@given(TEXT, st.integers(min_value=8, max_value=200))
def test_instagram_parts_fit_and_keep_every_word(text: str, limit: int):
    parts = split_utf8(text, limit=limit)
    assert all(len(p.encode()) <= limit for p in parts)
    assert "".join(_words("".join(parts))) == "".join(_words(text))
