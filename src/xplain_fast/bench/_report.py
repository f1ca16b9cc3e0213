"""Results of a benchmark run as a terminal table, Markdown for a README, JSON, and a bar chart."""

from __future__ import annotations

import json
import os


def _seconds(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


def _rate(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _diff(row: dict) -> str:
    if row["ours"]:
        return ""
    if row["agrees"] is False:
        shown = "shape differs" if row["max_abs_diff"] is None else f"{row['max_abs_diff']:.1e}"
        return f"**{shown} > {row['tolerance']:.0e} (disagrees)**"
    return "not compared" if row["max_abs_diff"] is None else f"{row['max_abs_diff']:.1e}"


def _speedup(row: dict) -> str:
    if row["ours"] or row.get("speedup") is None:
        return ""
    return f"{row['speedup']:.1f}x (vs {row['speedup_vs_threads']}t)"


def _rows_note(row: dict, workload_rows: int) -> str:
    return "" if row["n_rows"] == workload_rows else f" ({row['n_rows']:,} rows)"


def workload_rows(workload: dict) -> int:
    """Rows xplain-fast explains in a workload (references may take a subset)."""
    return max((r["n_rows"] for r in workload["contenders"] if r["ours"]), default=0)


_LEGEND = ("a reference given fewer rows (n rows) is compared per row; speed-ups are against xplain-fast at the "
           "same thread count; peak MiB: resident memory above the start of the call")


def format_table(result: dict) -> str:
    """A plain-text table per workload, for the terminal."""
    lines = [_LEGEND]
    for workload in result["workloads"]:
        n = workload_rows(workload)
        lines.append(f"\n{workload['key']}: {workload['title']}")
        lines.append(f"  {'contender':<44}{'threads':>8}{'median s':>11}{'min-max':>17}{'rows/s':>12}"
                     f"{'peak MiB':>10}{'xplain-fast faster':>22}  max |diff|")
        for row in workload["contenders"]:
            spread = f"{_seconds(row['spread'][0])}-{_seconds(row['spread'][1])}"
            peak = "" if row["peak_mib"] is None else f"{row['peak_mib']:.1f}"
            rate = _rate(row["rows_per_second"])
            lines.append(f"  {row['name'] + _rows_note(row, n):<44}{row['threads']:>8}{_seconds(row['median']):>11}"
                         f"{spread:>17}{rate:>12}{peak:>10}{_speedup(row):>22}  {_diff(row).replace('**', '')}")
        for name, reason in workload["skipped"].items():
            lines.append(f"  {name}: skipped ({reason})")
    errors = disagreements(result)
    if errors:
        lines.append("\nDISAGREEMENTS (a reference differs from xplain-fast beyond its tolerance):")
        lines.extend(f"  {e}" for e in errors)
    return "\n".join(lines)


def to_markdown(result: dict, families: tuple[str, ...] | None = None) -> str:
    """Markdown tables (one per family) with the machine, commit and date they were measured on."""
    meta = result["machine"]
    header = (f"Measured by `xplain-fast bench --suite {result['suite']}` on {meta['cpu']} "
              f"({meta['cores']} cores, load {meta['load_average'][0]:.2f}), commit {meta['commit'] or 'unknown'}, "
              f"{meta['date']}; median of {result['repeats']} interleaved runs after a warm-up (a contender slower "
              "than 10 s per call: its one call); " + _LEGEND + ".")
    parts = [header]
    by_family: dict[str, list[dict]] = {}
    for workload in result["workloads"]:
        by_family.setdefault(workload["family"], []).append(workload)
    for family, workloads in by_family.items():
        if families and family not in families:
            continue
        parts.append("")
        parts.append("| workload | contender | threads | seconds (median) | rows/s | peak MiB | xplain-fast faster "
                     "| max abs diff |")
        parts.append("|---|---|---|---|---|---|---|---|")
        for workload in workloads:
            n = workload_rows(workload)
            for k, row in enumerate(workload["contenders"]):
                title = workload["title"] if k == 0 else ""
                name = f"**{row['name']}**" if row["ours"] else row["name"]
                peak = "" if row["peak_mib"] is None else f"{row['peak_mib']:.1f}"
                rate = _rate(row["rows_per_second"])
                parts.append(f"| {title} | {name}{_rows_note(row, n)} | {row['threads']} | {_seconds(row['median'])} "
                             f"| {rate} | {peak} | {_speedup(row)} | {_diff(row)} |")
            notes = "; ".join(f"{r['name']} ({r['threads']}t): {r['note']}" for r in workload["contenders"]
                              if r.get("note"))
            if notes:
                parts.append(f"| | notes: {notes} | | | | | | |")
            if workload["skipped"]:
                skipped = "; ".join(f"{name}: {reason}" for name, reason in workload["skipped"].items())
                parts.append(f"| | skipped: {skipped} | | | | | | |")
    return "\n".join(parts) + "\n"


def disagreements(result: dict) -> list[str]:
    """One line per reference whose output differs from ours beyond its tolerance."""
    return [f"{w['key']}: {r['name']} ({r['threads']}t) max |diff| "
            f"{'(shape differs)' if r['max_abs_diff'] is None else format(r['max_abs_diff'], '.2e')} > "
            f"tolerance {r['tolerance']:.1e}"
            for w in result["workloads"] for r in w["contenders"] if r["agrees"] is False]


def write_json(result: dict, path: str | os.PathLike) -> None:
    with open(path, "w", encoding="utf-8") as file:
        json.dump(result, file, indent=1)


def plot_speedups(result: dict, path: str | os.PathLike) -> None:
    """A horizontal bar chart of xplain-fast's speed-up over each reference (log scale), saved to path."""
    from matplotlib.figure import Figure

    labels, values, colours = [], [], []
    for workload in result["workloads"]:
        for row in workload["contenders"]:
            if row.get("speedup") is None:
                continue
            labels.append(f"{workload['key']}  vs {row['name']} ({row['threads']}t)")
            values.append(row["speedup"])
            colours.append("#c0392b" if row["agrees"] is False else "#2e86c1")
    figure = Figure(figsize=(9, 0.32 * max(len(values), 3) + 1.2))
    ax = figure.add_subplot()
    ax.barh(range(len(values)), values, color=colours)
    ax.set_yticks(range(len(values)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=0.8)
    for k, value in enumerate(values):
        ax.text(value, k, f" {value:.1f}x", va="center", fontsize=7)
    meta = result["machine"]
    ax.set_title(f"xplain-fast speed-up over each reference ({meta['cores']} cores, {meta['date']})", fontsize=9)
    ax.set_xlabel("times faster (per row, same thread count; red: outputs disagree)")
    figure.savefig(path, dpi=110, bbox_inches="tight")

