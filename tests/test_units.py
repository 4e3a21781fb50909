"""Quantities with units: the accepted words (exactly the documented ones), the bounds, no infinities."""

import math

import pytest

from loadtest.units import (
    DURATION_UNITS,
    MAX_DURATION_S,
    MAX_RATE_PER_S,
    MAX_SIZE_BYTES,
    UnitError,
    duration_unit_words,
    format_duration,
    parse_duration,
    parse_rate,
    parse_size,
    shown,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("30s", 30), ("5m", 300), ("1h30m", 5400), (2, 2.0), ("1.5", 1.5), ("10 min", 600),
     ("10 sec", 10), ("10 secs", 10), ("10 seconds", 10), ("1 second", 1), ("1 minute", 60), ("2 minutes", 120),
     ("3 mins", 180), ("1 hour", 3600), ("2 hrs", 7200), ("1 day", 86400), ("2 days", 172800),
     ("500 milliseconds", 0.5), ("1 hour 30 minutes", 5400), ("1h 30m 15s", 5415), ("10 MIN", 600),
     ("1.5e3ms", 1.5), ("7d", 7 * 86400)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


def test_every_duration_word_is_accepted_and_nothing_else():
    for word, size in DURATION_UNITS.items():
        assert parse_duration(f"2 {word}") == pytest.approx(2 * size)
        assert parse_duration(f"2{word.upper()}") == pytest.approx(2 * size)
        assert parse_rate(f"{size * 3}/{word}") == pytest.approx(3)
    assert duration_unit_words().split(", ") == list(DURATION_UNITS)
    for word in ("us", "µs", "ns", "week", "weeks", "fortnight", "sek", "minuets", "y", "mo"):
        with pytest.raises(UnitError, match=f"unknown duration unit .*the units are {duration_unit_words()}"):
            parse_duration(f"3 {word}")


@pytest.mark.parametrize("bad", ["fast", "10 parsecs", "-3s", True, None, [1], "", "s", "1 2 s", "1e400s"])
def test_bad_durations_say_what_was_expected(bad):
    with pytest.raises(UnitError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, "1e309"])
def test_infinite_and_nan_quantities_are_refused(bad):
    for parse in (parse_duration, parse_rate, parse_size):
        with pytest.raises(UnitError, match="finite"):
            parse(bad)


def test_every_quantity_has_an_upper_bound():
    assert parse_duration("7d") == MAX_DURATION_S
    assert parse_duration(MAX_DURATION_S) == MAX_DURATION_S
    for too_long in ("7d1s", "8 days", "999999999999999999999d", 10**30, "169h"):
        with pytest.raises(UnitError, match=r"a duration may be at most 7d \(the upper bound\)"):
            parse_duration(too_long)
    with pytest.raises(UnitError, match="too large"):
        parse_duration(10**400)
    assert parse_rate("100000/s") == MAX_RATE_PER_S
    for too_fast in ("100001/s", "1e9/s", 10**12, "7000000/min"):
        with pytest.raises(UnitError, match="a rate may be at most 100,000/s"):
            parse_rate(too_fast)
    assert parse_size("1GiB") == MAX_SIZE_BYTES
    for too_big in ("1.1GiB", "2GB", 10**10):
        with pytest.raises(UnitError, match="a size may be at most 1 GiB"):
            parse_size(too_big)


@pytest.mark.parametrize(("text", "rate"), [
    ("50/s", 50), ("600/m", 10), ("3600/h", 1), (7, 7), ("10 per min", 1 / 6), ("5 per second", 5),
    ("1200/hour", 1 / 3), ("2/ms", 2000), ("86400/day", 1), ("50 / sec", 50), ("0.5/s", 0.5),
])
def test_rates(text, rate):
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize("bad", ["50/fortnight", "5 per", "per s", "-5/s", "fast", "5/s/s"])
def test_bad_rate(bad):
    with pytest.raises(UnitError, match="rate"):
        parse_rate(bad)


@pytest.mark.parametrize(("text", "size"), [("10MB", 10_000_000), ("1MiB", 1 << 20), ("64KB", 64_000), (512, 512),
                                            ("512 b", 512), ("2 kib", 2048), ("1GB", 10**9)])
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["1TB", "1 TiB", "10 bytes", "-1MB", "big"])
def test_bad_sizes(bad):
    with pytest.raises(UnitError, match="size"):
        parse_size(bad)


def test_format_duration():
    assert format_duration(0.25) == "250ms"
    assert format_duration(150) == "2m30s"
    assert format_duration(5400) == "1h30m"
    assert format_duration(7 * 86400) == "7d"
    assert format_duration(90061.5) == "1d1h1m1.5s"


def test_long_values_are_shown_short():
    assert shown("x" * 10) == "'xxxxxxxxxx'"
    long = shown("y" * 100_000)
    assert len(long) < 80 and "100002 characters" in long
    assert "digits" in shown(10**5000)
