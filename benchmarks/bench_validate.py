"""Full validation against bare lxml parse + XSD of the same bytes, CLI throughput and memory; before/after.

Goals (issue 14): validate() at most 3.5x bare lxml parse + XSD at 1 item, 2.5x at 10 items and 2.2x at
990 items; resident memory growth for a 990-item document no more than before (the issue's "current
17 MB": 17.3 MB at 8ea663e); ``nfe-invoice validate --format json`` on 1,000 signed ten-item documents at
least 1,500 documents/s on 2 cores, start-up included (issue 11 asks 1,000). Documents are signed nfeProc
made by nfe_invoice.testing, so every check runs.

Run: ``python benchmarks/bench_validate.py [--baseline REV] [--rounds N] [--skip-cli]``

``--rules-share`` measures something else, on this tree only: how much of ``validate()`` the business rules
are. In one process it alternates rounds of bare parse + XSD, ``validate()``, and ``validate()`` with
``run_rules`` replaced by a function that finds nothing, and keeps the fastest round of each.

With ``--baseline REV`` (a commit, branch or tag) the same measurements also run on that revision,
checked out with ``git worktree`` in a temporary folder: each measurement is a subprocess whose import
path starts with one tree or the other, the two trees alternate round by round (which goes first
alternates too), and the figures are medians over the rounds. The documents are made once, by this
tree's builder, so both sides validate the same bytes. Without ``--baseline`` only this tree is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SIZES = (1, 10, 100, 990)
GOAL_RATIOS = {1: 3.5, 10: 2.5, 990: 2.2}
GOAL_MB, GOAL_DOCS_PER_S, ISSUE_11_DOCS_PER_S = 17.3, 1500.0, 1000.0
CLI_DOCUMENTS = 1000


# ---------------------------------------------------------------------------------------------- child side
# Runs inside a subprocess whose sys.path starts with the tree under test; imports only what every
# revision has (validate(), schema.schema_for()).

def child_ratios(folder: Path, budget_s: float) -> None:
    sys.path.insert(0, str(HERE))
    from _timing import compare
    from lxml import etree

    import nfe_invoice
    from nfe_invoice import schema
    from nfe_invoice.validate import validate

    xsd = schema.schema_for("nfeProc")
    result: dict[str, object] = {"tree": str(Path(nfe_invoice.__file__).parent.parent)}
    for items in SIZES:
        raw = (folder / f"{items}.xml").read_bytes()
        report = validate(raw)
        assert report.ok, report.findings
        bare, ours = compare(lambda raw=raw: xsd.validate(etree.fromstring(raw)), lambda raw=raw: validate(raw),
                             budget_s=budget_s)
        result[str(items)] = [bare, ours]
    print(json.dumps(result))


def rules_share(folder: Path, rounds: int) -> None:
    """Bare parse + XSD, validate(), and validate() without any rule: the rules' share (see the docstring)."""
    sys.path.insert(0, str(HERE))
    from _timing import table
    from lxml import etree

    from nfe_invoice import schema
    from nfe_invoice import validate as validation

    xsd = schema.schema_for("nfeProc")
    every_rule = validation.run_rules

    def no_rule(document: object, context: object) -> list[object]:
        return []

    rows = []
    for items in (1, 10, 100):
        raw = (folder / f"{items}.xml").read_bytes()

        def without_rules(raw: bytes = raw) -> None:
            validation.run_rules = no_rule  # type: ignore[assignment]
            try:
                validation.validate(raw)
            finally:
                validation.run_rules = every_rule

        measured: dict[str, Callable[[], object]] = {
            "bare": lambda raw=raw: xsd.validate(etree.fromstring(raw)),
            "validate": lambda raw=raw: validation.validate(raw),
            "without rules": without_rules,
        }
        loops = {name: max(1, int(0.02 / max(_one_call_s(function), 1e-6))) for name, function in measured.items()}
        best = dict.fromkeys(measured, float("inf"))
        for _ in range(rounds):
            for name, function in measured.items():
                started = time.process_time()
                for _ in range(loops[name]):
                    function()
                best[name] = min(best[name], (time.process_time() - started) / loops[name] * 1e6)
        rows.append([str(items), f"{best['bare']:,.0f}", f"{best['validate']:,.0f}",
                     f"{best['validate'] / best['bare']:.2f}x", f"{best['without rules']:,.0f}",
                     f"{best['without rules'] / best['bare']:.2f}x"])
    print(f"microseconds per document, fastest of {rounds} alternating rounds in one process")
    print(table(["items", "lxml+xsd", "validate()", "ratio", "without any rule", "ratio"], rows))


def _one_call_s(function: Callable[[], object]) -> float:
    function()  # warm up
    started = time.process_time()
    function()
    return time.process_time() - started


MEMORY_PROBE = """
import gc, os, sys, threading, time, tracemalloc
from nfe_invoice.validate import validate
page = os.sysconf("SC_PAGE_SIZE")
def rss():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * page
raw = open(sys.argv[1], "rb").read()
validate(raw[:200])  # import and compile everything first
validate(open(sys.argv[2], "rb").read())  # and warm every cache on a small document
gc.collect()
baseline, peak, running = rss(), [0], [True]
def sample():
    while running[0]:
        peak[0] = max(peak[0], rss())
        time.sleep(0.0005)
sampler = threading.Thread(target=sample)
sampler.start()
tracemalloc.start()
report = validate(raw)
python_peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
running[0] = False
sampler.join()
print(baseline, max(peak[0], rss()), python_peak, report.ok)
"""


# --------------------------------------------------------------------------------------------- parent side

def _environment(tree: Path) -> dict[str, str]:
    """The environment of a subprocess that must import nfe_invoice from ``tree`` (first on the path).

    Compiled bytecode is kept, in a folder of its own per tree (never in the trees): an installed package
    has its ``.pyc`` files (pip writes them), so a command's start-up is measured as users see it. With
    ``PYTHONDONTWRITEBYTECODE=1``, as this VM sets, every start would compile all of nfe_invoice again.
    """
    cache = _PYCACHE / tree.resolve().as_posix().replace("/", "_")
    environment = {**os.environ, "PYTHONPATH": str(tree), "PYTHONPYCACHEPREFIX": str(cache)}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    return environment


_PYCACHE = Path(tempfile.gettempdir()) / f"nfe-bench-pycache-{os.getpid()}"


def _run(tree: Path, arguments: list[str]) -> str:
    result = subprocess.run([sys.executable, *arguments], cwd=tree, env=_environment(tree), capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"measurement failed in {tree}:\n{result.stderr[-3000:]}")
    return result.stdout


def make_documents(folder: Path) -> None:
    """The documents every measurement uses, made once by this tree's builder (signed nfeProc)."""
    from nfe_invoice.testing import build_nfe, default_spec, make_test_certificate, sign_nfe, wrap_nfeproc

    identity = make_test_certificate()

    def signed(items: int, number: int = 1001) -> bytes:
        return wrap_nfeproc(sign_nfe(build_nfe(default_spec(items, number=number)), identity))

    for items in SIZES:
        (folder / f"{items}.xml").write_bytes(signed(items))
    batch = folder / "batch"
    batch.mkdir()
    for index in range(CLI_DOCUMENTS):
        (batch / f"{index:05d}.xml").write_bytes(signed(10, number=10_000 + index))


def measure_ratios(tree: Path, folder: Path, budget_s: float) -> dict[int, tuple[float, float]]:
    output = json.loads(_run(tree, [str(Path(__file__).resolve()), "--child-ratios", str(folder),
                                    "--budget", str(budget_s)]))
    if Path(output["tree"]).resolve() != tree.resolve():
        raise SystemExit(f"the subprocess imported nfe_invoice from {output['tree']}, not from {tree}")
    return {items: tuple(output[str(items)]) for items in SIZES}  # type: ignore[misc]


def measure_memory(tree: Path, folder: Path) -> float:
    baseline, peak, _python_peak, ok = _run(
        tree, ["-c", MEMORY_PROBE, str(folder / "990.xml"), str(folder / "10.xml")]).split()
    assert ok == "True"
    return (int(peak) - int(baseline)) / 2**20


def measure_cli(tree: Path, folder: Path) -> tuple[float, float]:
    """(documents per second of the whole command, start-up included, wall clock; CPU seconds it used).

    The CPU time (user + system of the command and of its workers, which it waits for) does not grow
    when other processes compete for the cores, so it compares trees fairly on a busy machine.
    """
    command = [sys.executable, "-m", "nfe_invoice.cli", "validate", "--format", "json", str(folder / "batch")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=tree, env=_environment(tree), capture_output=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0 or result.stdout.count(b"\n") != CLI_DOCUMENTS:
        raise SystemExit(f"CLI run failed in {tree} (exit {result.returncode}):\n{result.stderr[-3000:]!r}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return CLI_DOCUMENTS / elapsed, cpu


@contextmanager
def _removed_afterwards(path: Path) -> Iterator[None]:
    try:
        yield
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """``revision`` checked out (detached) in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="nfe-baseline-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(path), revision],
                       check=True)
        try:
            yield path
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=False)
            subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], check=False)


def _alternating(trees: dict[str, Path], rounds: int) -> Iterator[tuple[str, Path]]:
    names = list(trees)
    for index in range(rounds):
        for name in names if index % 2 == 0 else reversed(names):
            yield name, trees[name]


def _fmt_goal(value: float, goal: float, higher_is_better: bool = False) -> str:
    met = value >= goal if higher_is_better else value <= goal
    return "met" if met else "NOT met"


def report(trees: dict[str, Path], folder: Path, rounds: int, budget_s: float, skip_cli: bool) -> None:
    sys.path.insert(0, str(HERE))
    from _timing import table

    names = list(trees)
    ratios: dict[str, list[dict[int, tuple[float, float]]]] = {name: [] for name in names}
    for name, tree in _alternating(trees, rounds):
        ratios[name].append(measure_ratios(tree, folder, budget_s))
    print(f"validate() (XSD + signature + rules) vs bare lxml parse + XSD, microseconds per document; medians "
          f"of {rounds} rounds per tree, each the fastest of alternating in-process rounds")
    rows = []
    for items in SIZES:
        size = (folder / f"{items}.xml").stat().st_size
        bare = statistics.median(run[items][0] for name in names for run in ratios[name])
        row = [str(items), f"{size:,}", f"{bare:,.0f}"]
        for name in names:
            ours = statistics.median(run[items][1] for run in ratios[name])
            ratio = statistics.median(run[items][1] / run[items][0] for run in ratios[name])
            row += [f"{ours:,.0f}", f"{ratio:.2f}x"]
        goal = GOAL_RATIOS.get(items)
        final = statistics.median(run[items][1] / run[items][0] for run in ratios[names[-1]])
        row.append(f"<= {goal}x: {_fmt_goal(final, goal)}" if goal else "")
        rows.append(row)
    headers = ["items", "bytes", "lxml+xsd"]
    for name in names:
        headers += [f"{name} validate", f"{name} ratio"]
    print(table([*headers, "goal"], rows) + "\n")

    memory = {name: [] for name in names}  # type: dict[str, list[float]]
    for name, tree in _alternating(trees, max(3, rounds // 2)):
        memory[name].append(measure_memory(tree, folder))
    shown = ", ".join(f"{name} {statistics.median(values):.1f} MB" for name, values in memory.items())
    final = statistics.median(memory[names[-1]])
    print(f"990-item document: resident memory growth while validating it (median, sampled every 0.5 ms): "
          f"{shown}; goal <= {GOAL_MB:.1f} MB (as at 8ea663e): {_fmt_goal(round(final, 1), GOAL_MB)}\n")

    if skip_cli:
        return
    speed = {name: [] for name in names}  # type: dict[str, list[float]]
    cpu = {name: [] for name in names}  # type: dict[str, list[float]]
    for tree in trees.values():
        measure_cli(tree, folder)  # warm-up: compiles and caches the bytecode, as an installation has it
    for name, tree in _alternating(trees, max(5, rounds)):
        rate, seconds = measure_cli(tree, folder)
        speed[name].append(rate)
        cpu[name].append(seconds)
    print(f"CLI: nfe-invoice validate --format json on {CLI_DOCUMENTS:,} signed 10-item documents, whole process "
          f"(start-up included), {os.cpu_count()} cores:")
    for name in names:
        values = speed[name]
        print(f"  {name}: documents/s median {statistics.median(values):,.0f} (best {max(values):,.0f}, worst "
              f"{min(values):,.0f}); CPU used median {statistics.median(cpu[name]):.2f} s")
    final = statistics.median(speed[names[-1]])
    print(f"goal >= {GOAL_DOCS_PER_S:,.0f} (issue 14): {_fmt_goal(final, GOAL_DOCS_PER_S, True)}; "
          f">= {ISSUE_11_DOCS_PER_S:,.0f} (issue 11): {_fmt_goal(final, ISSUE_11_DOCS_PER_S, True)}")
    if os.getloadavg()[0] > (os.cpu_count() or 1):
        print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: other processes were competing, "
              "so documents/s is low for both; the CPU time still compares them)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", metavar="REV", help="also measure this git revision (before/after)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per tree (medians are reported)")
    parser.add_argument("--budget", type=float, default=0.6, help="seconds per size per round and tree")
    parser.add_argument("--skip-cli", action="store_true", help="leave out the command-line throughput")
    parser.add_argument("--rules-share", action="store_true",
                        help="only measure validate() with and without the business rules (this tree)")
    parser.add_argument("--child-ratios", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_ratios:
        child_ratios(Path(args.child_ratios), args.budget)
        return 0
    if args.rules_share:
        with tempfile.TemporaryDirectory(prefix="nfe-bench-") as tmp:
            make_documents(Path(tmp))
            rules_share(Path(tmp), max(args.rounds, 40))
        return 0
    with tempfile.TemporaryDirectory(prefix="nfe-bench-") as tmp, _removed_afterwards(_PYCACHE):
        folder = Path(tmp)
        make_documents(folder)
        if args.baseline:
            with worktree(args.baseline) as before:
                commit = subprocess.run(["git", "-C", str(before), "log", "-1", "--format=%h %s"], check=True,
                                        capture_output=True, text=True).stdout.strip()
                print(f"before: {args.baseline} = {commit[:100]}\nafter: this working tree ({REPO})\n")
                report({"before": before, "after": REPO}, folder, args.rounds, args.budget, args.skip_cli)
        else:
            report({"this tree": REPO}, folder, args.rounds, args.budget, args.skip_cli)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
