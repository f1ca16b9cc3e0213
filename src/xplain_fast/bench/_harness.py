"""The benchmark harness: contenders of a workload timed in interleaved rounds, compared with ours.

A workload prepares its contenders once (training or loading its model): xplain-fast at each
thread count and every reference installed beside it. Each contender's first call is a warm-up
that also gives its output (compared with ours) and its peak memory; then ``repeats`` rounds run
every contender once per round, in turn, so that drift of the machine hits all of them alike.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import resource
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

#: A contender slower than this per call is timed by its first call only (a 60 s reference run
#: three more times would triple the suite's length for no better ratio).
SLOW_SECONDS = 10.0
#: Libraries whose versions a result records.
LIBRARIES = ("xplain-fast", "numpy", "scikit-learn", "numba", "shap", "xgboost", "lightgbm", "catboost", "torch",
             "captum")


@dataclass
class Contender:
    """One implementation of a workload's computation.

    ``run`` does the whole computation and returns its output; ``n_rows`` is the number of rows it
    processes (a slow reference may take a subset: its time is compared per row); ``align`` turns
    its output into ours on those rows (layout, dropped bias column, class slice); ``tolerance`` is
    the largest |difference| from ours that still counts as agreement (None: not compared).
    """

    name: str
    threads: int
    run: Callable[[], Any]
    n_rows: int
    ours: bool = False
    align: Callable[[Any], np.ndarray] | None = None
    tolerance: float | None = None
    note: str = ""
    #: entered around each call (not timed): a resource only this contender may hold while it
    #: runs, such as a cluster that would load the machine while the others are timed
    around: Callable[[], contextlib.AbstractContextManager] | None = None

    def call(self) -> Any:
        """``run()`` inside ``around()`` when there is one; returns (seconds of run alone, output)."""
        with self.around() if self.around else contextlib.nullcontext():
            start = time.perf_counter()
            out = self.run()
            return time.perf_counter() - start, out


@dataclass
class Measured:
    """A contender timed elsewhere (a peer's own environment): its times and its output, compared
    with ours like any other contender's. Its ``run`` is not called here."""

    contender: Contender
    seconds: list[float]
    output: Any


@dataclass
class Prepared:
    """What a workload's ``prepare`` returns: its contenders, the references it could not run and
    why, and measurements made in another environment (a peer that needs other library versions)."""

    contenders: list[Contender]
    skipped: dict[str, str] = field(default_factory=dict)
    external: list[Measured] = field(default_factory=list)


@dataclass
class Workload:
    """A fixed computation on a fixed model and data (seeded), in one family (treeshap, ...)."""

    key: str
    family: str
    title: str
    prepare: Callable[[Sequence[int], dict[str, str]], Prepared]


def peak_call(contender: Contender) -> tuple[float, Any, float | None]:
    """(seconds, output, peak resident memory in MiB above the start of the call) of one call.

    The peak is the process's high-water mark when the call raised it, else the largest resident
    size a sampling thread saw (every 2 ms; a call holding the GIL is sampled before and after).
    None where /proc is not available.
    """
    before = _resident_bytes()
    high_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    seen = [before or 0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.002):
            seen[0] = max(seen[0], _resident_bytes() or 0)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        seconds, out = contender.call()
    finally:
        done.set()
        sampler.join()
    if before is None:
        return seconds, out, None
    high_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = high_after if high_after > high_before else max(seen[0], _resident_bytes() or 0)
    return seconds, out, max(0.0, (peak - before) / 2**20)


def _resident_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def measure(workload: Workload, threads: Sequence[int], repeats: int, peers: dict[str, str],
            progress: Callable[[str], None]) -> dict:
    """Run one workload: every contender warmed up, then ``repeats`` interleaved rounds."""
    prepared = workload.prepare(threads, peers)
    contenders = prepared.contenders
    first, times = _timed_rounds(contenders, repeats, progress)
    ours_output = next((f[1] for c, f in zip(contenders, first, strict=True) if c.ours), None)
    ours_rows = next((c.n_rows for c in contenders if c.ours), 0)
    rows = [_row(c, t, f[2], f[1], ours_output, ours_rows) for c, t, f in zip(contenders, times, first, strict=True)]
    rows += [_row(m.contender, m.seconds, None, m.output, ours_output, ours_rows) for m in prepared.external]
    _add_speedups(rows)
    return {"key": workload.key, "family": workload.family, "title": workload.title, "contenders": rows,
            "skipped": prepared.skipped}


def _timed_rounds(contenders: list[Contender], repeats: int, progress: Callable[[str], None]
                  ) -> tuple[list[tuple[float, Any, float | None]], list[list[float]]]:
    """Each contender's first call (seconds, output, peak MiB), then its times over the rounds."""
    first = []
    for contender in contenders:
        progress(f"  {contender.name} ({contender.threads}t): first call ...")
        first.append(peak_call(contender))
    times: list[list[float]] = [[] for _ in contenders]
    for round_ in range(repeats):
        for k, contender in enumerate(contenders):
            if first[k][0] > SLOW_SECONDS:
                if round_ == 0:
                    times[k].append(first[k][0])  # its first call is its timing
                continue
            times[k].append(contender.call()[0])
        progress(f"  round {round_ + 1}/{repeats} done")
    return first, times


def _row(contender: Contender, times: list[float], peak: float | None, output: Any, ours: Any,
         ours_rows: int) -> dict:
    median = float(np.median(times))
    row: dict[str, Any] = {
        "name": contender.name, "threads": contender.threads, "ours": contender.ours,
        "n_rows": contender.n_rows, "seconds": times, "median": median,
        "spread": [float(min(times)), float(max(times))],
        "rows_per_second": contender.n_rows / median if median > 0 else None,
        "peak_mib": peak, "note": contender.note,
        "max_abs_diff": None, "tolerance": contender.tolerance, "agrees": None,
    }
    if contender.tolerance is not None and ours is not None:
        theirs = contender.align(output) if contender.align else np.asarray(output)
        # a reference given the first rows only is compared with ours on those rows
        expected = np.asarray(ours)[: contender.n_rows] if contender.n_rows < ours_rows else np.asarray(ours)
        if np.shape(theirs) != np.shape(expected):
            row["max_abs_diff"], row["agrees"] = None, False
            row["note"] = (row["note"] + f" output shape {np.shape(theirs)} != ours {np.shape(expected)}").strip()
        else:
            diff = float(np.max(np.abs(np.asarray(theirs, dtype=np.float64) - expected))) if expected.size else 0.0
            row["max_abs_diff"], row["agrees"] = diff, bool(diff <= contender.tolerance)
    return row


def _add_speedups(rows: list[dict]) -> None:
    """Each reference's time per row over ours at the same thread count (or our nearest below)."""
    ours = {r["threads"]: r["median"] / r["n_rows"] for r in rows if r["ours"] and r["n_rows"]}
    for row in rows:
        row["speedup"] = None
        if row["ours"] or not ours or not row["n_rows"] or row["median"] is None:
            continue
        candidates = [t for t in ours if t <= row["threads"]] or [min(ours)]
        row["speedup_vs_threads"] = max(candidates)
        row["speedup"] = (row["median"] / row["n_rows"]) / ours[max(candidates)]


def machine() -> dict[str, Any]:
    """Where and when the benchmark ran: CPU, cores, load, libraries, commit, date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return {
        "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "load_average": list(os.getloadavg()),
        "libraries": versions, "commit": _commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _commit() -> str | None:
    """The git commit of the source tree this package runs from, when it is our checkout
    (``-dirty`` when it has uncommitted changes). An installed copy has no commit: the git
    repository around its site-packages, if any, is someone else's."""
    package = Path(__file__).resolve().parent.parent
    if not (package.parent.parent / "pyproject.toml").is_file() or package.parent.name != "src":
        return None
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], cwd=package,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
