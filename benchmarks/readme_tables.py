"""Regenerate the README's performance tables from one run of the full benchmark suite.

    python benchmarks/readme_tables.py --peer fasttreeshap=/path/to/venv/bin/python
    python benchmarks/readme_tables.py --from benchmarks/results/full.json     # no new run

Runs `xplain-fast bench --suite full` (xplain_fast.bench), keeps the results (with the machine,
commit and date) in benchmarks/results/full.json, and replaces each README block between
<!-- bench:FAMILY --> and <!-- /bench:FAMILY --> with that family's Markdown table. FastTreeSHAP
needs its own environment (numpy<2):
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
    """The README with every bench block regenerated, and the families it found."""
    found = []

    def table(match: re.Match) -> str:
        family = match.group(1)
        found.append(family)
        return f"<!-- bench:{family} -->\n{bench.to_markdown(result, families=(family,))}<!-- /bench:{family} -->"

    text = re.sub(r"<!-- bench:(\w+) -->\n.*?<!-- /bench:\1 -->", table, readme, flags=re.S)
    return text, found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", help="results JSON of an earlier run (no new run)")
    parser.add_argument("--peer", action="append", default=[], metavar="NAME=PYTHON")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--readme", default=str(ROOT / "README.md"))
    args = parser.parse_args()
    if args.source:
        result = json.loads(Path(args.source).read_text())
    else:
        peers = dict(peer.split("=", 1) for peer in args.peer)
        result = bench.run("full", repeats=args.repeats, peers=peers,
                           progress=functools.partial(print, file=sys.stderr, flush=True))
        out = ROOT / "benchmarks" / "results" / "full.json"
        out.parent.mkdir(exist_ok=True)
        bench.write_json(result, out)
        print(bench.format_table(result))
    readme = Path(args.readme)
    text, found = replace_blocks(readme.read_text(), result)
    readme.write_text(text)
    print(f"regenerated the README's tables: {', '.join(found)}")
    errors = bench.disagreements(result)
    for error in errors:
        print(f"disagreement: {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
