"""The sandbox clock (``airflow_provider_oneatlas.sandbox.clock``): set, advanced, sped up, from config."""

from __future__ import annotations

import time

import pytest

from airflow_provider_oneatlas.sandbox.clock import (
    Clock,
    ClockError,
    clock_from_config,
    format_instant,
    parse_instant,
)
from airflow_provider_oneatlas.sandbox.config import ConfigError, SandboxConfig

MAY_1 = parse_instant("t", "2024-05-01T00:00:00Z")


class FakeReal:
    """A real clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def test_parse_and_format_instants() -> None:
    assert format_instant(MAY_1) == "2024-05-01T00:00:00.000000Z"
    assert parse_instant("now", "2024-05-01T02:00:00+02:00") == MAY_1
    assert parse_instant("now", "2024-05-01") == MAY_1
    for bad in ("yesterday", "", "2024-13-01T00:00:00Z", 12, None):
        with pytest.raises(ClockError) as caught:
            parse_instant("now", bad)
        assert caught.value.field == "now" and str(caught.value).startswith("now: ")


def test_the_default_clock_follows_real_utc_time() -> None:
    clock = Clock()
    assert abs(clock.now() - time.time()) < 1.0
    assert clock.speed == 1.0


def test_set_advance_and_speed() -> None:
    real = FakeReal()
    clock = Clock(MAY_1, speed=1.0, real=real)
    real.t += 10
    assert clock.now() == MAY_1 + 10
    clock.advance(86_400)
    assert clock.now() == MAY_1 + 10 + 86_400
    clock.set(MAY_1)
    assert clock.now() == MAY_1
    clock.set_speed(3600)  # an hour a second
    real.t += 2
    assert clock.now() == MAY_1 + 7200
    clock.set_speed(0)  # stopped
    real.t += 100
    assert clock.now() == MAY_1 + 7200
    assert clock.now_us() == round((MAY_1 + 7200) * 1_000_000)
    assert clock.to_json() == {"now": "2024-05-01T02:00:00.000000Z", "epoch": MAY_1 + 7200, "speed": 0.0}


def test_the_clock_never_goes_back_by_an_advance_nor_runs_backwards() -> None:
    clock = Clock(MAY_1, speed=0)
    with pytest.raises(ClockError, match=r"^advance: must not be negative"):
        clock.advance(-1)
    with pytest.raises(ClockError, match=r"^speed: "):
        clock.set_speed(-2)
    with pytest.raises(ClockError, match=r"^speed: "):
        Clock(MAY_1, speed=-1)
    assert clock.now() == MAY_1


def test_at_real_maps_a_real_instant_onto_the_clock() -> None:
    real = FakeReal()
    clock = Clock(MAY_1, speed=60, real=real)
    assert clock.at_real(real.t + 10) == MAY_1 + 600


def test_clock_from_config_start_and_speed() -> None:
    clock = clock_from_config(SandboxConfig(clock_start="2024-05-01T00:00:00Z", clock_speed=0))
    assert clock.now() == MAY_1 and clock.speed == 0
    running = clock_from_config(SandboxConfig())
    assert abs(running.now() - time.time()) < 1.0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"clock_start": "next tuesday"}, "clock_start"),
        ({"clock_speed": -1}, "clock_speed"),
        ({"clock_speed": 1e9}, "clock_speed"),
        ({"clock_start": "1900-01-01T00:00:00Z"}, "clock_start"),
        ({"clock_speed": "fast"}, "clock_speed"),
        ({"live_history_days": -3}, "live_history_days"),
    ],
)
def test_bad_clock_settings_name_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SandboxConfig().replace(changes)
    assert str(caught.value).startswith(field)
