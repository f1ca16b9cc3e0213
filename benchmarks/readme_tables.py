"""Regenerate the README's performance tables from one run of the full benchmark suite.

    python benchmarks/readme_tables.py --peer fasttreeshap=/path/to/venv/bin/python
    python benchmarks/readme_tables.py --only dask                # one family; the other tables stay
    python benchmarks/readme_tables.py --from benchmarks/results/full.json --from benchmarks/results/full-dask.json

Runs the full suite of `xplain-fast bench` (xplain_fast.bench), or the families given, keeps the
results (with the machine, commit and date) in benchmarks/results/full[-FAMILIES].json, and replaces
each README block between <!-- bench:FAMILY --> and <!-- /bench:FAMILY --> whose family the results
hold with that family's Markdown table. FastTreeSHAP needs its own environment (numpy<2):
    python -m venv fts && fts/bin/pip install "numpy<2" "scikit-learn<1.6" lightgbm "xgboost==1.7.6" fasttreeshap==0.1.6
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
from pathlib import Path

from xplain_fast import bench

ROOT = Path(__file__).resolve().parent.parent


def replace_blocks(readme: str, result: dict) -> tuple[str, list[str]]:
    """The README with the bench blocks of the result's families regenerated, and those families."""
    found = []
    measured = {workload["family"] for workload in result["workloads"]}

    def table(match: re.Match) -> str:
        family = match.group(1)
        if family not in measured:
            return match.group(0)
        found.append(family)
        return f"<!-- bench:{family} -->\n{bench.to_markdown(result, families=(family,))}<!-- /bench:{family} -->"

    text = re.sub(r"<!-- bench:(\w+) -->\n.*?<!-- /bench:\1 -->", table, readme, flags=re.S)
    return text, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="sources", action="append", default=[],
                        help="results JSON of an earlier run (no new run); may be repeated")
    parser.add_argument("--only", metavar="A,B", help="run these families only (the other tables stay)")
    parser.add_argument("--peer", action="append", default=[], metavar="NAME=PYTHON")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    args = parser.parse_args()
    if args.sources:
        results = [json.loads(Path(source).read_text()) for source in args.sources]
    else:
        peers = dict(peer.split("=", 1) for peer in args.peer)
        only = args.only.split(",") if args.only else None
        result = bench.run("full", repeats=args.repeats, peers=peers, only=only,
                           progress=functools.partial(print, file=sys.stderr, flush=True))
        out = ROOT / "benchmarks" / "results" / ("full.json" if only is None else f"full-{'-'.join(only)}.json")
        out.parent.mkdir(exist_ok=True)
        bench.write_json(result, out)
        print(bench.format_table(result))
        results = [result]
    readme = Path(args.readme)
    text, found = readme.read_text(), []
    for result in results:
        text, families = replace_blocks(text, result)
        found += families
    readme.write_text(text)
    print(f"regenerated the README's tables: {', '.join(found)}")
    errors = [error for result in results for error in bench.disagreements(result)]
    for error in errors:
        print(f"disagreement: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
