"""``jobs.cli.render``: text from Redis, made safe for a terminal."""

from __future__ import annotations

from jobs.cli.render import text, visible


def test_control_characters_are_shown_as_escapes_and_nothing_else_changes() -> None:
    assert visible("ok [b]bold[/b] café") == "ok [b]bold[/b] café"
    assert visible("a\x1b[2Jb\x07c\x00") == "a\\x1b[2Jb\\x07c\\x00"
    assert visible("line\nnext\ttab\rback") == "line\\nnext\\ttab\\rback"


def test_c1_controls_and_bidirectional_overrides_are_escaped_too() -> None:
    # \x9b is CSI for terminals that read C1 controls; U+202E reverses the text that follows it.
    assert visible("a\x9b2Jb\x7f") == "a\\x9b2Jb\\x7f"
    assert visible("invoice\u202egpj.exe") == "invoice\\u202egpj.exe"


def test_with_lines_newlines_and_tabs_are_kept_but_a_carriage_return_is_not() -> None:
    assert visible("Traceback:\n\tframe\r\x1b]0;t\x07", lines=True) == "Traceback:\n\tframe\\r\\x1b]0;t\\x07"


def test_text_for_rich_is_never_read_as_markup() -> None:
    shown = text("[link=http://evil.example]click[/link]")
    assert (shown.plain, shown.spans) == ("[link=http://evil.example]click[/link]", [])
