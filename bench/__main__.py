"""``python -m bench`` (``make bench``): run every benchmark and print its table.

Each ``bench/bench_*.py`` is a standalone module printing a table of ratios against its
baseline; they run as separate processes so one's memory peak or import cost does not colour
another's figures.
"""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    wanted = set(argv)
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if wanted:
        modules = [m for m in modules if m in wanted or m.removeprefix("bench_") in wanted]
    print(f"# hybridcal benchmarks, {datetime.now(UTC):%Y-%m-%d} on {platform.machine()} "
          f"({platform.python_implementation()} {platform.python_version()}, "
          f"{platform.system()})\n")
    failed = []
    for module in modules:
        print(f"## {module}\n", flush=True)
        result = subprocess.run([sys.executable, "-m", f"bench.{module}"], cwd=HERE.parent,
                                check=False)
        if result.returncode:
            failed.append(module)
        print(flush=True)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
