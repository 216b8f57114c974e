"""``python -m bench`` (``make bench``): run every benchmark and print its table.

Each ``bench/bench_*.py`` is a standalone module printing a table of ratios against its
baseline; they run as separate processes so one's memory peak or import cost does not colour
another's figures. Their headline figures (:mod:`bench.summary`) are printed last as one
table; ``--readme`` writes that table into README.md with the date and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import summary

HERE = Path(__file__).resolve().parent


def machine() -> str:
    cores = os.cpu_count() or 0
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    return (f"{platform.machine()}, {cores} cores{memory}, {platform.system()}, "
            f"{platform.python_implementation()} {platform.python_version()}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="bench names (e.g. crypto bench_memory)")
    parser.add_argument("--readme", action="store_true",
                        help="write the summary table into README.md")
    args = parser.parse_args(argv)
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if args.only:
        modules = [m for m in modules
                   if m in args.only or m.removeprefix("bench_") in args.only]
    header = f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}."
    print(f"# hybridcal benchmarks. {header}\n")
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        collected = Path(tmp) / "summary.jsonl"
        for index, module in enumerate(modules, 1):
            print(f"## {module} ({index}/{len(modules)})\n", flush=True)
            started = time.monotonic()
            env = {**os.environ, summary.ENV: str(collected), "HYBRIDCAL_BENCH_NAME": module}
            result = subprocess.run([sys.executable, "-m", f"bench.{module}"], cwd=HERE.parent,
                                    check=False, env=env)
            if result.returncode:
                failed.append(module)
            print(f"\n({module}: {time.monotonic() - started:.0f} s)\n", flush=True)
        table = summary.markdown(summary.load(collected))
    print("## summary: each figure against its baseline\n")
    print(table)
    if failed:
        print("\nfailed: " + ", ".join(failed), file=sys.stderr)
        return 1
    if args.readme:
        summary.write_readme(HERE.parent / "README.md", header, table)
        print("\nREADME.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
