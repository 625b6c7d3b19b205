"""Timing for the book's measurements: the best of several repeats.

    t(f) = min over `repeat` measurements of (time of `number` calls of f) / number

The minimum, not the mean: other work on the machine only ever adds time, so the fastest
measurement is the one least disturbed. Under a steady load every measurement is slowed
alike; ``clock=time.process_time`` (the CPU time of this process) then measures work on
one thread as if its core were free. Speed claims of the project live in
``benchmarks/``; this is the small tool the chapters use to show a trend.
"""

from __future__ import annotations

import time

from . import _validate as check


def best_time(f, *args, repeat=5, number=None, min_time=0.01, sync=None,
              clock=None) -> float:
    """Seconds per call of ``f(*args)``: the least, over ``repeat`` measurements, of the
    mean time of ``number`` calls.

    number : calls per measurement; None chooses 1, 4, 16, ... until one measurement
        lasts at least ``min_time`` seconds (those calls also warm f up).
    sync : a function called before each clock reading, such as a GPU's synchronize, so
        that work f only queued on a device is counted.
    clock : the function read before and after each measurement, in seconds; default
        ``time.perf_counter`` (wall clock). ``time.process_time`` counts the CPU time of
        this process: for work on one thread, what it costs when other processes share
        the core; it misses time spent waiting and work of other processes.
        ``time.thread_time`` counts the calling thread's alone, when other threads of
        the process (a Dask client's, say) are busy meanwhile.
    """
    repeat = check.check_int(repeat, "repeat", minimum=1)
    sync = sync or (lambda: None)
    if clock is not None and not callable(clock):
        raise TypeError(f"clock must be a function returning seconds, such as "
                        f"time.process_time; got {type(clock).__name__}")
    read = clock or time.perf_counter

    def measure(k: int) -> float:
        sync()
        start = read()
        for _ in range(k):
            f(*args)
        sync()
        return read() - start

    if number is None:
        number = 1
        while measure(number) < min_time:
            number *= 4
    else:
        number = check.check_int(number, "number", minimum=1)
    return min(measure(number) for _ in range(repeat)) / number
