"""The audit's verdicts on pip-audit's report: vulnerabilities fail, reviewed ones need a
reason, and packages the service could not check are never counted as clean."""

from __future__ import annotations

import pytest

from local.dependency_audit import accepted_ids, summarise

REPORT = {"dependencies": [
    {"name": "requests", "version": "2.0.0", "vulns": [
        {"id": "PYSEC-2014-13", "aliases": ["CVE-2014-1829"], "fix_versions": ["2.3.0"]}]},
    {"name": "flask", "version": "3.1.0", "vulns": []},
    {"name": "mystery", "skip_reason": "Dependency not found on PyPI and could not be audited"},
]}


def test_a_known_vulnerability_is_reported_with_its_fix():
    found, unaudited, audited = summarise(REPORT, {})
    assert found == ["requests 2.0.0: PYSEC-2014-13 (fixed in 2.3.0)"]
    assert unaudited == ["mystery"] and audited == 2


def test_an_accepted_vulnerability_matches_by_id_or_alias(tmp_path):
    accepted = tmp_path / "audit-accepted.txt"
    accepted.write_text("# reviewed\nCVE-2014-1829 only used against our own simulator\n")
    assert summarise(REPORT, accepted_ids(accepted))[0] == []


def test_accepting_without_a_reason_is_refused(tmp_path):
    accepted = tmp_path / "audit-accepted.txt"
    accepted.write_text("PYSEC-2014-13\n")
    with pytest.raises(SystemExit, match="needs a reason"):
        accepted_ids(accepted)
