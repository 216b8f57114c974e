"""``make audit``: scan every installed dependency for known vulnerabilities with pip-audit.

Fails (exit 1) on any known vulnerability that ``audit-accepted.txt`` does not list with a
reason. Packages pip-audit could not check are counted and named: on a machine whose package
index is a mirror without PyPI's per-release JSON (like the development sandbox), the
vulnerability service cannot answer and the scan proves little, which is said loudly rather
than passed off as clean. ``--strict`` (Cloud Build, which reaches PyPI) fails then too.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ACCEPTED = Path(__file__).resolve().parent.parent / "audit-accepted.txt"


def accepted_ids(path: Path = ACCEPTED) -> dict[str, str]:
    """``ID reason`` lines (``#`` comments allowed): vulnerabilities reviewed and accepted."""
    if not path.exists():
        return {}
    accepted = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            vuln_id, _, reason = line.partition(" ")
            if not reason.strip():
                raise SystemExit(f"{path.name}: {vuln_id} needs a reason")
            accepted[vuln_id] = reason.strip()
    return accepted


def summarise(report: dict, accepted: dict[str, str]) -> tuple[list[str], list[str], int]:
    """``(vulnerabilities, unaudited packages, audited count)`` from pip-audit's JSON."""
    found, unaudited, audited = [], [], 0
    for dep in report.get("dependencies", []):
        if dep.get("skip_reason"):
            unaudited.append(f"{dep['name']} {dep.get('version', '')}".strip())
            continue
        audited += 1
        for vuln in dep.get("vulns", []):
            ids = {vuln.get("id"), *vuln.get("aliases", [])}
            if ids & set(accepted):
                continue
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            found.append(f"{dep['name']} {dep['version']}: {vuln.get('id')} (fixed in {fixes})")
    return found, unaudited, audited


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true",
                        help="also fail when some packages could not be audited")
    args = parser.parse_args(argv)
    run = subprocess.run([sys.executable, "-m", "pip_audit", "--format", "json",
                          "--progress-spinner", "off"], capture_output=True, text=True,
                         check=False)
    try:
        report = json.loads(run.stdout)
    except ValueError:
        print(f"pip-audit gave no report (exit {run.returncode}): {run.stderr.strip()[-500:]}",
              file=sys.stderr)
        return 1
    found, unaudited, audited = summarise(report, accepted_ids())
    print(f"dependency audit: {audited} packages audited, {len(found)} known vulnerabilities, "
          f"{len(unaudited)} packages the vulnerability service could not check")
    for line in found:
        print(f"  VULNERABLE {line}")
    if unaudited:
        print("  not checked (no answer from the vulnerability service for these releases): "
              + ", ".join(unaudited[:10]) + (" ..." if len(unaudited) > 10 else ""))
    if found:
        return 1
    if unaudited and (args.strict or not audited):
        print("  the scan proves nothing for the packages above"
              + ("; --strict makes that a failure" if args.strict else ""), file=sys.stderr)
        return 1 if args.strict else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
