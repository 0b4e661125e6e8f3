"""Reading Locust's files and its run-time syntax, without importing Locust."""

import pytest
from shopctl import ShopctlError
from shopctl.locust_run import aggregated, percentile, read_stats, seconds_of, table
from shopctl.tables import print_table
from test_report import RECORDED

# Nothing here depends on the mode (SQLite or PostgreSQL, file broker or RabbitMQ): CI runs
# these once, in its embedded run (`shopctl test`, SHOPCTL_SKIP_SAME_IN_EVERY_MODE).
pytestmark = pytest.mark.same_in_every_mode


@pytest.mark.parametrize(
    ("timespan", "seconds"), [("90", 90), ("45s", 45), ("2m", 120), ("1h30m", 5400), ("1m5s", 65)]
)
def test_durations_read_as_locust_reads_them(timespan, seconds):
    assert seconds_of(timespan) == seconds


@pytest.mark.parametrize("timespan", ["", "ten", "5 minutes", "-3s"])
def test_a_duration_locust_would_refuse_is_a_clear_error(timespan):
    with pytest.raises(ShopctlError, match="is not a duration"):
        seconds_of(timespan)


def test_percentiles_follow_locusts_rule():
    # 100 requests: 51 at 5 ms, 44 at 20 ms, 4 at 80 ms, 1 at 900 ms. The expected values
    # are what locust.stats.calculate_response_time_percentile answers for this histogram.
    histogram = {5: 51, 20: 44, 80: 4, 900: 1}

    assert [percentile(histogram, share) for share in (0.50, 0.95, 0.99, 1.0)] == [5, 80, 900, 900]
    assert percentile({}, 0.5) is None


def test_the_stats_csv_reads_back_with_the_aggregated_row_last():
    rows = read_stats(RECORDED / "clean" / "locust")

    assert rows[-1] is aggregated(rows)
    assert sum(row.requests for row in rows[:-1]) == rows[-1].requests


def test_the_load_table_has_a_row_per_request_and_the_aggregated_row_last(capsys):
    print_table(table(read_stats(RECORDED / "clean" / "locust")))

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["request", "requests", "failures"]
    assert lines[-1].split() == ["Aggregated", "68", "0", "7.1", "8", "93", "390"]
    assert lines[-2].strip("─-") == ""  # a rule over the total
    assert any(line.split()[:4] == ["checkout", "POST", "/api/orders/", "6"] for line in lines)
    assert not any("\x1b" in line for line in lines)
