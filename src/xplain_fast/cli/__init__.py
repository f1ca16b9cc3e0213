"""The ``xplain-fast`` command line (also ``python -m xplain_fast``).

Exit status: 0 on success, 2 for a mistake in the command line (unknown option, missing file,
unknown format, bad value), 1 when the work itself fails (corrupt file, columns that do not match
the model, unsupported model). Errors are one line on stderr; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .._io import RESULT_SUFFIXES, TABLE_SUFFIXES
from .inputs import PICKLE_SUFFIXES, UsageError

_PICKLE_WARNING = (
    "Security: a .pkl/.pickle/.joblib model file is a Python pickle, and loading it runs any code it "
    "contains. Load only pickles you trust; the libraries' own model formats (XGBoost .json/.ubj, "
    "LightGBM text, CatBoost .cbm/.json, xplain-fast .npz) hold no code and are the safe path."
)
_MODEL_HELP = ("model file: XGBoost .json/.ubj, LightGBM text model, CatBoost .cbm/.json, xplain-fast Forest "
               f".npz, or a pickled/joblib estimator ({'/'.join(PICKLE_SUFFIXES)})")
_DATA_HELP = ("rows to use: .csv (with a header), .parquet or .npy; columns are matched to the model's "
              "feature names where it has them, else taken in order")

_RESULT_HELP = f"result file ({', '.join(RESULT_SUFFIXES)}); default: csv on stdout"
_EXPLAIN_EXAMPLES = """\
examples:
  xplain-fast explain model.json data.parquet -o shap.parquet
  xplain-fast explain model.txt data.csv --background sample.csv -o shap.npz
  xplain-fast explain model.json data.csv --interactions --features age,bmi -o inter.npy
  xplain-fast explain clf.json data.csv --background sample.csv --model-output log_loss --target label

Output: one column per feature (name[k] per output of a multi-output model; a:b for interaction
values) and base_value; .npz holds values, base_values and feature_names (read it back with
xplain_fast.Explanation.load); .npy holds the values only; no -o writes csv to stdout.
"""
_IMPORTANCE_EXAMPLES = """\
examples:
  xplain-fast importance model.pkl test.csv --target y --scoring r2 --n-repeats 10
  xplain-fast importance clf.json test.parquet --target label --scoring accuracy,roc_auc -o imp.csv

Model files in a library's format are scored as classifiers (class labels 0..K-1) when the model
has a logistic or softmax link, else as regressors. --groups takes a JSON file such as
{"location": ["lat", "lon"], "size": ["rooms", "area"]}.
"""
_SALIENCY_EXAMPLES = """\
examples:
  xplain-fast saliency mlp.pkl data.csv -o attributions.csv
  xplain-fast saliency mlp.pkl data.npy --method smoothgrad --random-state 0 -o sg.npy
"""
_REPORT_EXAMPLES = """\
examples:
  xplain-fast report model.json data.parquet -o report.html
  xplain-fast report model.pkl test.csv --target label --scoring roc_auc -o report.html
  xplain-fast report model.txt data.csv --background sample.csv --max-rows 5000 -o report.html

One self-contained HTML file: the model summary, the top features, SHAP figures (bar, beeswarm,
scatter, waterfall, force, heat maps), permutation importance when --target is given, interaction
highlights, timings and provenance. Figures are embedded as PNG and the numbers as a JSON block;
the page requests nothing from the network. Needs the report extra: pip install "xplain-fast[report]".
"""
_BENCH_EXAMPLES = """\
examples:
  xplain-fast bench                                   # the quick suite, 1 and 2 threads
  xplain-fast bench --only treeshap,permutation --out results.json --markdown
  xplain-fast bench --suite full --peer fasttreeshap=/opt/fts/bin/python --plot speedups.png

Each workload trains (or loads from the cache) a fixed model on seeded data, warms every contender
up, then times them in interleaved rounds. References that are not installed are listed as skipped.
A reference whose output differs from xplain-fast's beyond its tolerance is reported as an error
(exit status 1). Models are cached in ~/.cache/xplain-fast/bench (XPLAIN_FAST_BENCH_CACHE moves it;
empty: no cache).
"""


def _n_jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value == 0:
        raise argparse.ArgumentTypeError("0 threads has no meaning; use 1 for one thread, -1 for all cores")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _thread_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected thread counts such as 1,2, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive thread counts such as 1,2, got {text!r}")
    return values


def _peer(text: str) -> tuple[str, str]:
    name, sep, python = text.partition("=")
    if not sep or not name or not python:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH/TO/python, got {text!r}")
    return name, python


def _fraction_or_count(text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a row count or a fraction, got {text!r}") from None


def _file_command(sub: Any, name: str, *, help: str, description: str, epilog: str, output_help: str,
                  model_help: str = _MODEL_HELP) -> argparse.ArgumentParser:
    """A command that reads MODEL and DATA files, with the options every such command has."""
    parser = sub.add_parser(name, help=help, description=f"{description} {_PICKLE_WARNING}", epilog=epilog,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL", help=model_help)
    parser.add_argument("data", metavar="DATA", help=_DATA_HELP)
    parser.add_argument("-o", "--output", metavar="OUT", help=output_help)
    parser.add_argument("--n-jobs", type=_n_jobs, default=-1, help="threads (-1: all cores; default -1)")
    parser.add_argument("--chunk-rows", type=_positive, default=100_000,
                        help="rows read and explained at a time (bounds memory; default 100000)")
    parser.add_argument("--quiet", action="store_true", help="no progress or messages on stderr")
    return parser


class _PrintPath(argparse.Action):
    """Prints a directory of the installation and exits, like ``--version`` (as pybind11's ``--cmakedir``)."""

    def __init__(self, option_strings: list[str], dest: str, getter: Callable[[], str], help: str) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)
        self.getter = getter

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        try:
            print(self.getter())
        except FileNotFoundError as exc:
            parser.exit(1, f"xplain-fast: error: {exc}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__, get_cmake_dir, get_include

    parser = argparse.ArgumentParser(
        prog="xplain-fast",
        description="Explain machine-learning models fast: exact TreeSHAP, permutation importance and "
                    "gradient saliency in compiled code.",
        epilog="Run 'xplain-fast COMMAND --help' for a command's options and examples. " + _PICKLE_WARNING,
    )
    parser.add_argument("--version", action="version", version=f"xplain-fast {__version__}")
    parser.add_argument("--cmakedir", action=_PrintPath, getter=get_cmake_dir,
                        help="print the directory of the CMake package config (find_package(xplain)) and exit")
    parser.add_argument("--includedir", action=_PrintPath, getter=get_include,
                        help="print the directory of the C++ headers and exit")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="explain models trained on built-in scikit-learn data (no files needed)",
                          description="Train models on scikit-learn's built-in data sets and show every "
                                      "capability with its timing.",
                          epilog="example:\n  xplain-fast demo --n-jobs 2",
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    demo.add_argument("--n-jobs", type=_n_jobs, default=-1, help="threads (-1: all cores; default -1)")
    demo.add_argument("--out", metavar="DIR",
                      help="also write an HTML report and its figures into DIR (needs the report extra)")

    explain = _file_command(sub, "explain", help="SHAP values of a tree model on a data file",
                            description="Exact SHAP values (or interaction values) of a tree ensemble for "
                                        "every row of DATA, read and written in chunks.",
                            epilog=_EXPLAIN_EXAMPLES, output_help=_RESULT_HELP)
    explain.add_argument("--background", metavar="FILE",
                         help="background rows (same formats as DATA): interventional SHAP values against them")
    explain.add_argument("--interactions", action="store_true", help="SHAP interaction values instead")
    explain.add_argument("--features", metavar="A,B,...", help="with --interactions: only these features' block")
    explain.add_argument("--model-output", choices=("raw", "probability", "log_loss"), default="raw",
                         help="what is explained (probability and log_loss need --background; default raw)")
    explain.add_argument("--target", metavar="COL",
                         help="label column (left out of the features; the labels of --model-output log_loss)")

    importance = _file_command(sub, "importance", help="permutation importance of a model on labelled data",
                               description="Permutation importance, with scikit-learn's numbers for the same "
                                           "--random-state.",
                               epilog=_IMPORTANCE_EXAMPLES,
                               output_help="table file (.csv or .json); default: a table on stdout")
    importance.add_argument("--target", metavar="COL", required=True, help="the label column of DATA")
    importance.add_argument("--scoring", metavar="S1,S2",
                            help="scikit-learn scorer names (default: the model's score, accuracy or r2)")
    importance.add_argument("--n-repeats", type=_positive, default=5, help="permutations per feature (default 5)")
    importance.add_argument("--random-state", type=int, default=0, help="seed of the permutations (default 0)")
    importance.add_argument("--max-samples", type=_fraction_or_count, default=1.0,
                            help="rows (count or fraction) scored per permutation (default 1.0)")
    importance.add_argument("--groups", metavar="FILE", help="JSON file of feature groups permuted together")

    report = _file_command(sub, "report", help="a self-contained HTML report of a tree model on a data file",
                           description="One HTML file that explains a tree model on (a seeded sample of) the "
                                       "rows of DATA.",
                           epilog=_REPORT_EXAMPLES, output_help="the HTML file to write (default report.html)")
    report.add_argument("--target", metavar="COL",
                        help="label column (left out of the features): adds permutation importance")
    report.add_argument("--background", metavar="FILE",
                        help="background rows (same formats as DATA): interventional SHAP values against them")
    report.add_argument("--max-rows", type=_positive, default=2000,
                        help="rows explained, a seeded sample of DATA when it has more (default 2000)")
    report.add_argument("--output-index", type=int, metavar="K",
                        help="which output of a multi-output model the figures show (default: the positive "
                             "class of a binary classifier, else 0)")
    report.add_argument("--no-interactions", action="store_true", help="skip SHAP interaction values")
    report.add_argument("--scoring", metavar="NAME", help="the scikit-learn scorer of permutation importance")
    report.add_argument("--n-repeats", type=_positive, default=5, help="permutations per feature (default 5)")
    report.add_argument("--random-state", type=int, default=0,
                        help="seed of the row sample and the permutations (default 0)")

    bench = sub.add_parser("bench", help="time xplain-fast against the reference implementations installed here",
                           description="xplain-fast against shap, XGBoost, LightGBM, CatBoost, scikit-learn, "
                                       "Captum and FastTreeSHAP (where installed), side by side in one run: "
                                       "seconds, rows per second, speed-ups, peak memory and the largest "
                                       "difference of each reference's output from ours.",
                           epilog=_BENCH_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    bench.add_argument("--suite", choices=("quick", "full"), default="quick",
                       help="quick: minutes on two cores; full: the workloads behind the README's tables")
    bench.add_argument("--threads", type=_thread_list, default=[1, 2], metavar="1,2",
                       help="thread counts (default 1,2)")
    bench.add_argument("--only", metavar="A,B", help="families (treeshap, interactions, interventional, "
                                                      "permutation, saliency, dask) or workload keys")
    bench.add_argument("--repeats", type=_positive, default=3, help="timed rounds after the warm-up (default 3)")
    bench.add_argument("--peer", type=_peer, action="append", default=[], metavar="NAME=PYTHON",
                       help="a reference in its own environment: fasttreeshap=PATH/TO/python")
    bench.add_argument("--out", metavar="FILE.json", help="write the results (with the machine) as JSON")
    bench.add_argument("--markdown", action="store_true", help="print the results as Markdown tables")
    bench.add_argument("--plot", metavar="FILE.png", help="save a bar chart of the speed-ups (needs matplotlib)")
    bench.add_argument("--quiet", action="store_true", help="no progress on stderr")

    saliency = _file_command(sub, "saliency", help="gradient attributions of a pickled differentiable model",
                             description="Gradient saliency (Integrated Gradients by default) for scikit-learn "
                                         "MLPs, linear models and pipelines; finite differences for other models.",
                             epilog=_SALIENCY_EXAMPLES, output_help=_RESULT_HELP,
                             model_help="a pickled/joblib fitted estimator")
    saliency.add_argument("--method", default="integrated_gradients",
                          choices=("gradient", "gradient_x_input", "integrated_gradients", "smoothgrad",
                                   "smoothgrad_sq", "vargrad", "saliency_map"))
    saliency.add_argument("--n-steps", type=_positive, default=64, help="Integrated Gradients steps (default 64)")
    saliency.add_argument("--baseline", help="Integrated Gradients baseline: a number, or 'mean' of DATA (default 0)")
    saliency.add_argument("--class", dest="class_index", type=int,
                          help="output / class position to explain (default: the predicted class)")
    saliency.add_argument("--output-kind", choices=("raw", "probability"), default="raw",
                          help="explain the raw score or the class probability (default raw)")
    saliency.add_argument("--random-state", type=int, default=0, help="seed of SmoothGrad's noise (default 0)")
    saliency.add_argument("--target", metavar="COL", help="a label column to leave out of the features")
    return parser


def _check_paths(args: argparse.Namespace) -> None:
    """Mistakes visible from the command line alone: missing files, unknown formats."""
    for option in ("data", "background"):
        path = getattr(args, option, None)
        if path is None:
            continue
        if not os.path.isfile(path):
            raise UsageError(f"{option} file {path!r} does not exist")
        if os.path.splitext(path)[1].lower() not in TABLE_SUFFIXES:
            raise UsageError(f"cannot read {path!r}: data files are {', '.join(TABLE_SUFFIXES)}")
    output = getattr(args, "output", None)
    if output is not None and args.command in ("explain", "saliency"):
        if os.path.splitext(output)[1].lower() not in RESULT_SUFFIXES:
            raise UsageError(f"cannot write {output!r}: results are written as {', '.join(RESULT_SUFFIXES)}")
    if output is not None and args.command == "report" and not output.lower().endswith((".html", ".htm")):
        raise UsageError(f"cannot write {output!r}: the report is an .html file")
    out_dir = getattr(args, "out", None) if args.command == "demo" else None
    if out_dir is not None and os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise UsageError(f"--out {out_dir!r} exists and is not a folder")
    if output is not None and not os.path.isdir(os.path.dirname(os.path.abspath(output))):
        raise UsageError(f"the folder of {output!r} does not exist")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xplain-fast`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["demo"])
    try:
        _check_paths(args)
        return _run(args)
    except UsageError as exc:
        if args.debug:
            raise
        print(f"xplain-fast {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xplain-fast: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. piped into head: the reader has what it wanted
        sys.stderr.close()
        return 0
    except (ValueError, TypeError, OSError, MemoryError, ImportError, RuntimeError) as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"xplain-fast {args.command}: error: {message}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from . import commands
    from .demo import run_demo

    runners = {"demo": run_demo, "explain": commands.run_explain, "importance": commands.run_importance,
               "saliency": commands.run_saliency, "report": commands.run_report, "bench": commands.run_bench}
    return runners[args.command](args)
