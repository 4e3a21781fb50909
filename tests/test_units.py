import pytest

from loadtest.units import UnitError, format_duration, parse_duration, parse_rate, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250ms", 0.25), ("30s", 30), ("5m", 300), ("1h30m", 5400), (2, 2.0), ("1.5", 1.5), ("10 min", 600)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["fast", "10 parsecs", "-3s", True, None, [1]])
def test_bad_durations_say_what_was_expected(bad):
    with pytest.raises(UnitError, match="duration"):
        parse_duration(bad)


@pytest.mark.parametrize(("text", "rate"), [("50/s", 50), ("600/m", 10), ("3600/h", 1), (7, 7), ("10 per min", 1 / 6)])
def test_rates(text, rate):
    assert parse_rate(text) == pytest.approx(rate)


def test_bad_rate():
    with pytest.raises(UnitError, match="rate"):
        parse_rate("50/fortnight")


@pytest.mark.parametrize(("text", "size"), [("10MB", 10_000_000), ("1MiB", 1 << 20), ("64KB", 64_000), (512, 512)])
def test_sizes(text, size):
    assert parse_size(text) == size


def test_format_duration():
    assert format_duration(0.25) == "250ms"
    assert format_duration(150) == "2m30s"
