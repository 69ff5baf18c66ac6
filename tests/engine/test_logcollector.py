from __future__ import annotations

from taskgate.engine.logcollector import LogCollector


def test_under_the_cap_everything_is_kept() -> None:
    log = LogCollector(100)
    log.write("hello ")
    log.write("")
    log.write("wörld\n")
    assert log.take() == "hello wörld\n"
    assert log.size == len("hello wörld\n")
    assert log.kept_bytes == len("hello wörld\n".encode())
    assert log.dropped == 0
    assert not log.truncated


def test_take_returns_only_what_is_new() -> None:
    log = LogCollector(100)
    assert log.take() == ""
    log.write("a")
    log.write("b")
    assert log.take() == "ab"
    assert log.take() == ""
    log.write("c")
    assert log.take() == "c"
    assert log.size == 3


def test_ascii_cut_at_the_cap() -> None:
    log = LogCollector(5)
    log.write("abc")
    log.write("defg")
    assert log.take() == "abcde"
    assert (log.size, log.kept_bytes, log.dropped, log.truncated) == (5, 5, 2, True)


def test_exactly_at_the_cap_is_not_truncated() -> None:
    log = LogCollector(5)
    log.write("abcde")
    assert not log.truncated
    log.write("f")
    assert log.truncated
    assert log.dropped == 1
    assert log.take() == "abcde"


def test_cut_never_splits_a_character() -> None:
    log = LogCollector(4)
    log.write("aééé")  # 1 + 2 + 2 + 2 bytes: only "aé" (3 bytes) fits in 4
    assert log.take() == "aé"
    assert (log.size, log.kept_bytes, log.dropped) == (2, 3, 4)
    log.write("€")  # after the cut everything is dropped, counted in bytes
    assert log.dropped == 7
    assert log.take() == ""


def test_four_byte_character_at_the_edge() -> None:
    log = LogCollector(6)
    log.write("ab😀😀")  # 2 + 4 + 4 bytes
    assert log.take() == "ab😀"
    assert (log.size, log.kept_bytes, log.dropped) == (3, 6, 4)


def test_once_truncated_small_writes_are_dropped_too() -> None:
    log = LogCollector(3)
    log.write("aé")  # 3 bytes, fits
    log.write("é")  # 2 bytes, no room
    log.write("b")  # would fit by size but comes after the cut
    assert log.take() == "aé"
    assert log.dropped == 3


def test_zero_cap_keeps_nothing() -> None:
    log = LogCollector(0)
    log.write("abc")
    assert log.take() == ""
    assert (log.size, log.dropped, log.truncated) == (0, 3, True)


def test_close_adds_one_note_beyond_the_cap() -> None:
    log = LogCollector(4)
    log.write("abcdef")
    assert log.take() == "abcd"
    log.close()
    log.close()
    note = log.take()
    assert note == "\n[taskgate] log truncated: kept 4 bytes, dropped 2 bytes\n"
    assert log.take() == ""
    assert (log.size, log.kept_bytes) == (4, 4)


def test_close_without_truncation_adds_nothing() -> None:
    log = LogCollector(10)
    log.write("abc")
    log.close()
    assert log.take() == "abc"
    assert log.take() == ""
