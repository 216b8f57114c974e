"""The mutation tool's own bookkeeping (``python -m mutation``, #22): which mutants it leaves
out of a score and why, and that the CI sample stays the same from run to run."""

from __future__ import annotations

import tomllib
from pathlib import Path

from mutation.__main__ import (
    HERE,
    ROOT,
    Mutant,
    _spans,
    classify,
    in_sample,
    load_config,
    select,
)

SOURCE = '''\
import logging
_LOGGER = logging.getLogger(__name__)


def f(x):
    if x < 1:
        raise ValueError("x must be "
                         "positive")
    _LOGGER.info("checked", extra={"json_fields": {"x": x}})
    return x + 1
'''


def test_log_calls_and_raised_messages_are_found_line_by_line():
    log_lines, raise_lines = _spans(SOURCE)
    assert log_lines == {9}
    assert raise_lines == {7, 8}


def test_rules_leave_out_only_mutants_confined_to_their_lines(tmp_path, monkeypatch):
    module = "pkg/mod.py"
    (tmp_path / "pkg").mkdir()
    (tmp_path / module).write_text(SOURCE)
    monkeypatch.setattr("mutation.__main__.ROOT", tmp_path)
    rules = [{"kind": "log_call", "modules": ["pkg/*"], "reason": "r"},
             {"kind": "raise_message", "modules": ["other/*"], "reason": "r"},
             {"module": module, "mutant": "f: return x + 1 -> return x - 1", "reason": "r"},
             {"module": module, "mutant": "f: gone -> gone", "reason": "r"}]
    log = Mutant("a", "f: log", ['    _LOGGER.info("checked", extra={"json_fields": {"x": x}})'])
    message = Mutant("b", "f: msg", ['        raise ValueError("x must be "'])
    logic = Mutant("c", "f: return x + 1 -> return x - 1", ["    return x + 1"])
    other = Mutant("d", "f: if x < 1: -> if x <= 1:", ["    if x < 1:"])
    stale = classify(module, [log, message, logic, other], rules)
    assert log.excluded == "log_call"
    assert message.excluded == ""  # the raise rule is for other modules only
    assert logic.excluded.startswith("equivalent")
    assert other.excluded == ""
    assert stale == ["f: gone -> gone"]


def test_the_ci_sample_is_fixed_and_about_the_configured_share():
    mutants = [Mutant(str(n), f"f: line {n} -> mutated {n}", []) for n in range(2000)]
    first = [m.name for m in mutants if in_sample(m, 0.25)]
    assert first == [m.name for m in mutants if in_sample(m, 0.25)]
    assert 400 < len(first) < 600


def test_every_configured_test_file_exists_and_every_equivalent_has_a_reason():
    config, equivalents = load_config()
    for module, settings in config["modules"].items():
        assert (ROOT / module).is_file(), module
        for test in settings["tests"]:
            assert (ROOT / test).is_file(), test
    for entry in equivalents:
        assert entry["reason"].strip(), entry
    raw = tomllib.loads((HERE / "equivalents.toml").read_text())
    assert all(Path(ROOT / e["module"]).is_file() for e in raw.get("equivalent", []))


def test_a_recheck_runs_only_the_earlier_survivors_that_are_not_excluded():
    mutants = [Mutant(str(i), f"f: a{i} -> b{i}", []) for i in range(6)]
    mutants[1].excluded = "equivalent: r"
    survivors = {"f: a1 -> b1", "f: a4 -> b4", "f: gone -> gone"}
    assert [m.name for m in select(mutants, None, survivors)] == ["4"]
    assert [m.name for m in select(mutants, None, None)] == ["0", "2", "3", "4", "5"]
    assert select(mutants, None, set()) == []
