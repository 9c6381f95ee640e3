"""The period every workspace view is filtered by: days, local times, offsets,
and clear errors for everything else (never a 500)."""

import datetime
import zoneinfo

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from alerts.audit.period import FIRST_YEAR, LAST_YEAR, period_from

GUATEMALA = zoneinfo.ZoneInfo("America/Guatemala")


def test_days_are_whole_local_days():
    period, errors = period_from({"since": "2026-11-01", "until": "2026-11-02"}, tz=GUATEMALA)
    assert errors == {}
    assert period.since == datetime.datetime(2026, 11, 1, tzinfo=GUATEMALA)
    assert period.until == datetime.datetime(2026, 11, 3, tzinfo=GUATEMALA)
    assert period.days == [datetime.date(2026, 11, 1), datetime.date(2026, 11, 2)]


def test_a_local_time_is_the_facilitys_and_an_offset_is_kept():
    period, _ = period_from(
        {"since": "2026-11-01T06:00", "until": "2026-11-01T13:00:00+00:00"}, tz=GUATEMALA
    )
    assert period.since == datetime.datetime(2026, 11, 1, 6, tzinfo=GUATEMALA)
    assert period.until == datetime.datetime(2026, 11, 1, 13, tzinfo=datetime.UTC)


@time_machine.travel(datetime.datetime(2026, 11, 26, 12, tzinfo=datetime.UTC), tick=False)
def test_left_out_it_is_the_last_thirty_days():
    period, _ = period_from({}, tz=GUATEMALA)
    assert period.until == datetime.datetime(2026, 11, 26, 12, tzinfo=datetime.UTC)
    assert period.until - period.since == datetime.timedelta(days=30)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"until": "9999-12-31"}, "until"),
        ({"since": "0001-01-01"}, "since"),
        ({"since": "2026-11-03", "until": "2026-11-02"}, "period"),
        ({"since": "2020-01-01", "until": "2026-01-01"}, "period"),
    ],
)
def test_bad_input_is_named(params, field):
    period, errors = period_from(params, tz=GUATEMALA)
    assert period is None
    assert list(errors) == [field]


@given(since=st.text(max_size=40), until=st.text(max_size=40))
def test_any_text_gives_a_period_or_errors_never_an_exception(since, until):
    period, errors = period_from({"since": since, "until": until}, tz=GUATEMALA)
    assert (period is None) == bool(errors)
    if period is not None:
        assert period.since.year >= FIRST_YEAR and period.until.year <= LAST_YEAR + 1
