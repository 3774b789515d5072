from cwm_lsp.lines import line_break_count, source_lines


def test_source_lines_split_only_where_python_does() -> None:
    text = "a\r\nb\x0cc\u2028d\re\n"
    assert source_lines(text) == ["a", "b\x0cc\u2028d", "e"]
    assert source_lines(text, keepends=True) == ["a\r\n", "b\x0cc\u2028d\r", "e\n"]
    assert source_lines("") == [] and source_lines("x") == ["x"]


def test_line_break_count_agrees_with_source_lines() -> None:
    text = "a\r\nb\x0cc\u2028d\re\n"
    assert line_break_count(text) == 3 == len(source_lines(text))
    assert line_break_count("no break") == 0 and line_break_count("\r\r\n\n") == 3
