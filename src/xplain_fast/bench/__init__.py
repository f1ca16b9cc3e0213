"""xplain-fast against the reference implementations installed beside it, side by side, in one run.

The library behind ``xplain-fast bench`` and the README's performance tables.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ._harness import Contender, Measured, Prepared, Workload, machine, measure
from ._report import disagreements, format_table, plot_speedups, to_markdown, write_json
from ._workloads import FAMILIES, suite

__all__ = ["FAMILIES", "Contender", "Measured", "Prepared", "Workload", "disagreements", "format_table",
           "plot_speedups", "run", "select", "to_markdown", "write_json"]


def select(suite_name: str = "quick", only: Sequence[str] | None = None,
           workloads: Sequence[Workload] | None = None) -> list[Workload]:
    """The workloads of a suite (or the given ones) in the families or with the keys of ``only``;
    ValueError for an unknown suite, family or key."""
    chosen = list(workloads) if workloads is not None else suite(suite_name)
    if not only:
        return chosen
    unknown = [o for o in only if o not in FAMILIES and o not in {w.key for w in chosen}]
    if unknown:
        raise ValueError(f"unknown families or workloads {unknown}; families: {', '.join(FAMILIES)}; "
                         f"workloads: {', '.join(w.key for w in chosen)}")
    return [w for w in chosen if w.family in only or w.key in only]


def run(
    suite_name: str = "quick",
    *,
    threads: Sequence[int] = (1, 2),
    only: Sequence[str] | None = None,
    repeats: int = 3,
    peers: dict[str, str] | None = None,
    workloads: Sequence[Workload] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Time xplain-fast and every installed reference on the workloads of a suite.

    Parameters
    ----------
    suite_name : {"quick", "full"}, default="quick"
        ``quick`` takes a few minutes on two cores; ``full`` runs the workloads behind the README's
        tables (tens of minutes: the references are slow).
    threads : sequence of int, default=(1, 2)
        Thread counts for xplain-fast and for the references that take one.
    only : sequence of str, optional
        Families to run (``treeshap``, ``interactions``, ``interventional``, ``permutation``,
        ``saliency``, ``dask``: full suite only) or workload keys (``treeshap/xgboost-small``).
    repeats : int, default=3
        Timed rounds after the warm-up; each round runs every contender once, in turn.
    peers : dict, optional
        References that need their own environment: ``{"fasttreeshap": "path/to/python"}``.
    workloads : sequence of Workload, optional
        Run these instead of a suite's (tests, custom comparisons).
    progress : callable, optional
        Called with a line of text as the run advances.

    Returns
    -------
    dict
        ``{"suite", "threads", "repeats", "machine": {cpu, cores, load_average, libraries, commit,
        date, ...}, "workloads": [{"key", "family", "title", "contenders": [...], "skipped": {...}}],
        "seconds"}``; each contender has its times, median, spread, rows per second, peak memory,
        the speed-up of xplain-fast over it and its largest difference from xplain-fast's output.
        JSON-serialisable (``write_json``).

    Examples
    --------
    >>> import numpy as np
    >>> from xplain_fast import bench
    >>> def prepare(threads, peers):
    ...     x = np.arange(1000.0)
    ...     return bench.Prepared([bench.Contender("xplain-fast", 1, lambda: x * 2, 1000, ours=True),
    ...                            bench.Contender("numpy", 1, lambda: x + x, 1000, tolerance=0.0)])
    >>> result = bench.run(workloads=[bench.Workload("demo/double", "demo", "x * 2", prepare)], repeats=2)
    >>> [row["agrees"] for row in result["workloads"][0]["contenders"]]
    [None, True]
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    if not threads or any(not isinstance(t, int) or t < 1 for t in threads):
        raise ValueError(f"threads must be positive integers, got {list(threads)}")
    say = progress or (lambda line: None)
    chosen = select(suite_name, only, workloads)
    start = time.perf_counter()
    results = []
    for k, workload in enumerate(chosen, 1):
        say(f"[{k}/{len(chosen)}] {workload.key}: {workload.title}")
        results.append(measure(workload, tuple(threads), repeats, dict(peers or {}), say))
    return {"suite": suite_name if workloads is None else "custom", "threads": list(threads), "repeats": repeats,
            "machine": machine(), "workloads": results, "seconds": time.perf_counter() - start}
