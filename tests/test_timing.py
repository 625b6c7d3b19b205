"""backprop.timing.best_time, on a fake clock (no real timing in unit tests)."""

from __future__ import annotations

import pytest

import backprop as bp


@pytest.fixture
def clock(monkeypatch):
    """A perf_counter that advances only when the timed function says so."""
    state = {"now": 0.0}
    monkeypatch.setattr(bp.timing.time, "perf_counter", lambda: state["now"])
    return state


def test_best_time_is_the_least_mean_over_repeats(clock):
    costs = iter([0.5, 0.3, 0.4, 0.3, 0.2, 0.6])  # seconds of each call, in order

    def f():
        clock["now"] += next(costs)

    # 3 measurements of 2 calls: means 0.4, 0.35, 0.4
    assert bp.timing.best_time(f, repeat=3, number=2) == pytest.approx(0.35)


def test_number_grows_until_a_measurement_lasts_min_time(clock):
    calls = []

    def f(x):
        calls.append(x)
        clock["now"] += 0.001

    t = bp.timing.best_time(f, 7, repeat=2, min_time=0.01)
    assert t == pytest.approx(0.001)
    # calibration 1, 4, 16 (16 ms >= 10 ms), then 2 measurements of 16 calls
    assert len(calls) == 1 + 4 + 16 + 2 * 16 and set(calls) == {7}


def test_sync_is_called_around_each_measurement(clock):
    events = []
    bp.timing.best_time(lambda: events.append("f"), repeat=2, number=3,
                        sync=lambda: events.append("sync"))
    assert events == (["sync"] + ["f"] * 3 + ["sync"]) * 2


def test_another_clock_is_read_instead_of_the_wall_clock(clock):
    cpu = {"now": 0.0}
    costs = iter([0.5, 0.2, 0.4])  # CPU seconds of each call; the wall clock runs 10 times faster

    def f():
        cost = next(costs)
        cpu["now"] += cost
        clock["now"] += 10 * cost

    assert bp.timing.best_time(f, repeat=3, number=1, clock=lambda: cpu["now"]) == (
        pytest.approx(0.2))
    assert clock["now"] == pytest.approx(11.0)  # the wall clock moved, and was not used
    with pytest.raises(TypeError, match="clock must be a function returning seconds.*got float"):
        bp.timing.best_time(f, clock=0.5)


@pytest.mark.parametrize("kwargs", [dict(repeat=0), dict(number=0), dict(repeat=1.5)])
def test_bad_arguments(kwargs):
    with pytest.raises((ValueError, TypeError), match="repeat|number"):
        bp.timing.best_time(lambda: None, **kwargs)
