"""Wall-clock timing for the book's measurements: the best of several repeats.

    t(f) = min over `repeat` measurements of (time of `number` calls of f) / number

The minimum, not the mean: other work on the machine only ever adds time, so the fastest
measurement is the one least disturbed. Speed claims of the project live in
``benchmarks/``; this is the small tool the chapters use to show a trend.
"""

from __future__ import annotations

import time

from . import _validate as check


def best_time(f, *args, repeat=5, number=None, min_time=0.01, sync=None) -> float:
    """Seconds per call of ``f(*args)``: the least, over ``repeat`` measurements, of the
    mean time of ``number`` calls.

    number : calls per measurement; None chooses 1, 4, 16, ... until one measurement
        lasts at least ``min_time`` seconds (those calls also warm f up).
    sync : a function called before each clock reading, such as a GPU's synchronize, so
        that work f only queued on a device is counted.
    """
    repeat = check.check_int(repeat, "repeat", minimum=1)
    sync = sync or (lambda: None)

    def measure(k: int) -> float:
        sync()
        start = time.perf_counter()
        for _ in range(k):
            f(*args)
        sync()
        return time.perf_counter() - start

    if number is None:
        number = 1
        while measure(number) < min_time:
            number *= 4
    else:
        number = check.check_int(number, "number", minimum=1)
    return min(measure(number) for _ in range(repeat)) / number
