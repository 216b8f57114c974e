"""CloudStack reads infra/ as Terraform plans it (local.cloudstack.terraform), not from a list."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from local.cloudstack import cron
from local.cloudstack.stack import DEFAULT_VARIABLES, INFRA
from local.cloudstack.terraform import Plan, TerraformError, plain
from tests.infra import tf


def _plan_of(tmp_path: Path, text: str, **variables) -> Plan:
    (tmp_path / "main.tf").write_text(text)
    return Plan(tmp_path, {"project_id": "hybridcal-test", **variables})


def test_operators_follow_hcl_precedence(tmp_path):
    plan = _plan_of(tmp_path, """
locals {
  a = 1 + 2 * 3
  b = 10 - 4 - 3
  c = 1 < 2 && 3 > 4 || !false
  d = var.x == null ? "none" : "${var.x}-y"
  e = floor(601 / 60)
}
variable "x" {
  type    = string
  default = null
}
""")
    assert [plan.locals.get(k) for k in "abcde"] == [7, 3, True, "none", 10]


def test_for_expressions_with_grouping_expansion_and_type_defaults(tmp_path):
    plan = _plan_of(tmp_path, """
variable "things" {
  type = map(object({
    size = optional(number, 3)
    tags = optional(list(string), [])
  }))
  default = { a = {}, b = { size = 5, tags = ["x", "y"] } }
}
locals {
  sizes   = { for k, v in var.things : k => v.size }
  tags    = flatten([for k, v in var.things : [for t in v.tags : "${k}/${t}"]])
  grouped = { for k, v in var.things : v.size => k... }
  merged  = merge({ z = 1 }, [for k in sort(keys(var.things)) : { (k) = k }]...)
  wanted  = { for k, v in var.things : k => v if contains(v.tags, "x") }
  first   = try(var.things["nope"].size, "fallback")
}
""")
    assert plan.locals.get("sizes") == {"a": 3, "b": 5}
    assert plan.locals.get("tags") == ["b/x", "b/y"]
    assert plan.locals.get("grouped") == {"3": ["a"], "5": ["b"]}
    assert plan.locals.get("merged") == {"z": 1, "a": "a", "b": "b"}
    assert list(plan.locals.get("wanted")) == ["b"]
    assert plan.locals.get("first") == "fallback"


def test_unknown_function_is_named(tmp_path):
    plan = _plan_of(tmp_path, 'locals {\n  x = cidrsubnet("10.0.0.0/8", 8, 1)\n}\n')
    with pytest.raises(TerraformError, match="cidrsubnet"):
        plan.locals.get("x")


def test_the_plan_agrees_with_python_hcl2_on_the_catalogue():
    plan = Plan(INFRA, DEFAULT_VARIABLES)
    catalogue = plain(plan.locals.get("functions"))
    parsed = tf.functions()
    assert set(catalogue) == set(parsed)
    for key, function in catalogue.items():
        assert function["entry_point"] == parsed[key]["entry_point"]
        assert function["name"] == f"hybridcal-{key}"
    instances = plan.module_instances("function")
    assert set(instances) == set(parsed)


def test_every_consumed_topic_gets_a_push_subscription_with_a_dead_letter_policy():
    plan = Plan(INFRA, DEFAULT_VARIABLES)
    for key, module in plan.module_instances("function").items():
        subs = module.instances("google_pubsub_subscription", "push")
        trigger = plain(plan.locals.get("functions"))[key]["trigger"]
        assert len(subs) == (0 if trigger is None else 1), key
        for sub in subs.values():
            assert sub.get("topic").endswith(f"/topics/{trigger}")
            dead = sub.get("dead_letter_policy")[0]
            assert dead.get("dead_letter_topic").endswith(f"/topics/{trigger}-dead-letter")


@pytest.mark.parametrize(("schedule", "after", "fires"), [
    ("* * * * *", "2026-11-02T08:00:30", "2026-11-02T08:01:00"),
    ("7 * * * *", "2026-11-02T08:07:00", "2026-11-02T09:07:00"),
    ("*/10 * * * *", "2026-11-02T08:00:00", "2026-11-02T08:10:00"),
    ("0 3 * * 1", "2026-11-02T08:00:00", "2026-11-09T03:00:00"),  # Mondays
])
def test_cron_schedules_fire_as_cloud_scheduler_does(schedule, after, fires):
    when = datetime.fromisoformat(after).replace(tzinfo=UTC)
    assert cron.next_fire(schedule, when) == datetime.fromisoformat(fires).replace(tzinfo=UTC)
