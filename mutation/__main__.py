"""Mutation testing of the critical paths: ``python -m mutation [MODULE ...] [--ci]``.

Why: a green suite says the tests pass, not that they would notice a bug. mutmut (3.x) plants
one small bug at a time (``<`` for ``<=``, ``and`` for ``or``, a dropped argument...) in a module
and runs the tests that exercise it (mutation/config.toml); a mutant they all pass is a bug no
test would catch. The score per module is killed / (all mutants - equivalents).

Each module runs in its own copy of the tree under ``.mutation/`` (mutmut writes its mutants
there, never into the working tree other people are editing), with one worker: the machine has
two cores. Mutants that cannot change behaviour are listed in mutation/equivalents.toml with the
reason, keyed by a description that survives edits elsewhere in the file (function, original
line, mutated line), or excluded by a rule there (log wording, exception text no caller shows).

``--ci`` runs the fast subset: the modules marked ``ci`` in the config, and of those a fixed
sample of mutants (a stable hash of each description picks ``ci_sample`` of them; a module may
set its own ``ci_sample`` where its mutants are slower to run).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
WORK = ROOT / ".mutation"
# What "killed" means: a test failed (1), pytest broke (3), the test ran out of time (timeouts).
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}


@dataclass
class Mutant:
    name: str
    description: str
    removed: list[str]
    status: str = "not checked"
    excluded: str = ""  # the rule or listed equivalent that takes it out of the score


@dataclass
class Report:
    module: str
    mutants: list[Mutant] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def counted(self) -> list[Mutant]:
        return [m for m in self.mutants if not m.excluded and m.status != "not checked"]

    @property
    def killed(self) -> int:
        return sum(m.status in KILLED for m in self.counted)

    @property
    def score(self) -> float:
        return 100.0 * self.killed / len(self.counted) if self.counted else 100.0

    @property
    def survivors(self) -> list[Mutant]:
        return [m for m in self.counted if m.status not in KILLED]


def load_config() -> tuple[dict, list[dict]]:
    config = tomllib.loads((HERE / "config.toml").read_text())
    equivalents = tomllib.loads((HERE / "equivalents.toml").read_text())
    return config, equivalents.get("rule", []) + equivalents.get("equivalent", [])


def _tree_files() -> list[str]:
    """The files of the working tree (tracked, or new and not ignored): what a clone would have."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                         check=True, capture_output=True).stdout.decode()
    return [f for f in out.split("\0") if f and (ROOT / f).is_file()]


def prepare(module: str, tests: list[str], isolation: str = "forkserver") -> Path:
    """A fresh copy of the tree with mutmut configured for this one module and its tests."""
    work = WORK / module.replace("/", "_").removesuffix(".py")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for name in _tree_files():
        target = work / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    top = sorted({n.split("/", 1)[0] for n in _tree_files() if "/" in n} - {"shared", "tests"})
    also_copy = [*top, *[n for n in _tree_files() if "/" not in n and n.endswith(".py")]]
    pyproject = (work / "pyproject.toml").read_text()
    pyproject += "\n[tool.mutmut]\n" + "\n".join([
        'source_paths = ["shared"]',
        f"only_mutate = {json.dumps([module])}",
        f"also_copy = {json.dumps(also_copy)}",
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:randomly", "-q"]',
        "use_git_change_detection = false",
        # "forkserver" (the default): every mutant runs in a child of a clean fork server, not
        # of the process that ran the stats, for tests that start threads (the simulator's HTTP
        # server: a fork copies none of them). "fork" is faster, for tests that start none.
        f"process_isolation = {json.dumps(isolation)}",
    ]) + "\n"
    (work / "pyproject.toml").write_text(pyproject)
    return work


def _spans(source: str) -> tuple[set[int], set[int]]:
    """Lines of logging calls, and lines of the message of a raised exception."""
    log_lines: set[int] = set()
    raise_lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in LOG_METHODS
                and isinstance(node.func.value, ast.Name)
                and "log" in node.func.value.id.lower()):
            log_lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            for arg in node.exc.args:
                if isinstance(arg, ast.Constant | ast.JoinedStr):
                    raise_lines.update(range(arg.lineno, (arg.end_lineno or arg.lineno) + 1))
    return log_lines, raise_lines


def _qualname(mutant_name: str) -> str:
    mangled = mutant_name.partition("__mutmut_")[0].rpartition(".")[2]
    if "ǁ" in mangled:
        _, cls, func = mangled.split("ǁ")
        return f"{cls}.{func}"
    return mangled.removeprefix("x_")


def _squash(line: str) -> str:
    return re.sub(r"\s+", " ", line.strip())


def plan(work: Path, module: str) -> list[Mutant]:
    """Every mutant of the module with its stable description, generated as mutmut will."""
    sys.path.insert(0, str(work))
    cwd = os.getcwd()
    os.chdir(work)
    try:
        import libcst as cst
        from mutmut.configuration import reset_config
        from mutmut.mutation.diff_apply import read_mutant_function, read_original_function
        from mutmut.mutation.file_mutation import mutate_file_contents
        from mutmut.utils.format_utils import get_mutant_name

        reset_config()
        source = Path(module).read_text()
        mutated = mutate_file_contents(module, source)
        parsed = cst.parse_module(mutated.code)
        mutants = []
        originals: dict[str, list[str]] = {}
        for local_name in mutated.mutant_names:
            name = get_mutant_name(Path(module), local_name)
            function = name.partition("__mutmut_")[0]
            if function not in originals:
                originals[function] = cst.Module(
                    [read_original_function(parsed, name)]).code.strip().splitlines()
            before = originals[function]
            after = cst.Module([read_mutant_function(parsed, name)]).code.strip().splitlines()
            diff = list(difflib.unified_diff(before, after, lineterm="", n=0))
            removed = [line[1:] for line in diff
                       if line.startswith("-") and not line.startswith("---")]
            added = [line[1:] for line in diff
                     if line.startswith("+") and not line.startswith("+++")]
            description = (f"{_qualname(name)}: {' / '.join(map(_squash, removed))}"
                           f" -> {' / '.join(map(_squash, added))}")
            mutants.append(Mutant(name=name, description=description, removed=removed))
        return mutants
    finally:
        os.chdir(cwd)
        sys.path.remove(str(work))


def classify(module: str, mutants: list[Mutant], equivalents: list[dict]) -> list[str]:
    """Mark excluded mutants; answer the listed equivalents that no longer match any mutant."""
    source = (ROOT / module).read_text()
    lines = source.splitlines()
    log_lines, raise_lines = _spans(source)
    text_of = {"log_call": {_squash(lines[n - 1]) for n in log_lines},
               "raise_message": {_squash(lines[n - 1]) for n in raise_lines}}
    used: set[int] = set()
    for mutant in mutants:
        for index, entry in enumerate(equivalents):
            if not any(fnmatch.fnmatch(module, pattern) for pattern in entry.get("modules", [module])):
                continue
            if "kind" in entry:
                wanted = text_of[entry["kind"]]
                if mutant.removed and all(_squash(r) in wanted for r in mutant.removed):
                    mutant.excluded = entry["kind"]
                    used.add(index)
                    break
            elif entry.get("module") == module and entry["mutant"] == mutant.description:
                mutant.excluded = "equivalent: " + entry["reason"]
                used.add(index)
                break
    return [e["mutant"] for i, e in enumerate(equivalents)
            if "mutant" in e and e.get("module") == module and i not in used]


def in_sample(mutant: Mutant, share: float) -> bool:
    digest = hashlib.sha256(mutant.description.encode()).digest()
    return int.from_bytes(digest[:4], "big") < share * 2**32


def select(mutants: list[Mutant], sample: float | None, only: set[str] | None) -> list[Mutant]:
    """The mutants to run: not excluded, in the CI sample if one is asked for, and among the
    descriptions of ``only`` (an earlier run's survivors) if given."""
    return [m for m in mutants if not m.excluded
            and (sample is None or in_sample(m, sample))
            and (only is None or m.description in only)]


def run_module(module: str, settings: dict, equivalents: list[dict], sample: float | None,
               quiet: bool, only: set[str] | None = None) -> tuple[Report, list[str]]:
    started = time.monotonic()
    tests = settings["tests"]
    missing = [t for t in tests if not (ROOT / t).exists()]
    if missing:
        raise SystemExit(f"mutation/config.toml: {module} lists missing tests {missing}")
    work = prepare(module, tests, settings.get("isolation", "forkserver"))
    report = Report(module, plan(work, module))
    stale = classify(module, report.mutants, equivalents)
    chosen = select(report.mutants, sample, only)
    if sample is not None or only is not None:
        report.mutants = chosen
    log = work / "mutmut.log"
    if chosen:
        command = [sys.executable, "-m", "mutmut", "run", "--max-children", "1",
                   *[m.name for m in chosen]]
        with log.open("w") as out:
            done = subprocess.run(command, cwd=work, stdout=out, stderr=subprocess.STDOUT,
                                  env={**os.environ, "PYTHONPATH": str(work)})
        if done.returncode != 0:
            print(log.read_text()[-3000:])
            raise SystemExit(f"mutmut failed on {module} (log: {log})")
        meta = json.loads((work / "mutants" / f"{module}.meta").read_text())
        from mutmut.stats import status_by_exit_code

        for mutant in chosen:
            mutant.status = status_by_exit_code[meta["exit_code_by_key"].get(mutant.name)]
    report.seconds = time.monotonic() - started
    if not quiet:
        print(f"  {module}: {report.score:.1f}% ({report.killed}/{len(report.counted)} killed, "
              f"{len(report.mutants) - len(report.counted)} excluded) in {report.seconds:.0f} s",
              flush=True)
    return report, stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation", description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: all configured)")
    parser.add_argument("--ci", action="store_true", help="the fixed fast sample of ci modules")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--survivors-of", type=Path, metavar="JSON",
                        help="run only the mutants an earlier --json run listed as survivors "
                             "(quick re-check after writing tests; the score then counts only them)")
    args = parser.parse_args(argv)
    config, equivalents = load_config()
    modules = config["modules"]
    chosen = args.modules or [m for m in modules if modules[m].get("ci") or not args.ci]
    unknown = [m for m in chosen if m not in modules]
    if unknown:
        parser.error(f"not in mutation/config.toml: {unknown}")
    sample = config["ci_sample"] if args.ci else None
    only_of: dict[str, set[str]] = {}
    if args.survivors_of:
        for row in json.loads(args.survivors_of.read_text()):
            only_of[row["module"]] = set(row["survivors"])
    reports, stale_all = [], []
    started = time.monotonic()
    for module in chosen:
        only = only_of.get(module, set()) if args.survivors_of else None
        share = modules[module].get("ci_sample", sample) if args.ci else None
        report, stale = run_module(module, modules[module], equivalents, share, False, only)
        reports.append(report)
        stale_all += [f"{module}: {s}" for s in stale]

    print("\nSurviving mutants (each needs a test of what a user would notice, or an entry with"
          " its reason in mutation/equivalents.toml):")
    for report in reports:
        for mutant in report.survivors:
            print(f"  [{report.module}] {mutant.status}: {mutant.description}")
    if stale_all:
        print("\nListed equivalents that match no mutant any more (remove or update them):")
        for entry in stale_all:
            print("  " + entry)
    print(f"\n{'module':40} {'score':>7} {'killed':>7} {'counted':>8} {'excluded':>9}")
    failing = []
    for r in reports:
        excluded = len(r.mutants) - len(r.counted)
        print(f"{r.module:40} {r.score:6.1f}% {r.killed:7} {len(r.counted):8} {excluded:9}")
        if r.score < config["min_score"]:
            failing.append(r.module)
    print(f"({'ci sample ' if args.ci else ''}{time.monotonic() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps([{
            "module": r.module, "score": round(r.score, 1), "killed": r.killed,
            "counted": len(r.counted), "excluded": len(r.mutants) - len(r.counted),
            "survivors": [m.description for m in r.survivors]} for r in reports], indent=2))
    if failing:
        print(f"below {config['min_score']}% killed: {', '.join(failing)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
