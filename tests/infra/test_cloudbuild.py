"""cloudbuild.yaml: checks on every build, deployment only from main."""

from __future__ import annotations

import re

import pytest

from tests.infra import tf

yaml = pytest.importorskip("yaml", reason="PyYAML comes with checkov (requirements-dev.txt)")

BUILD = yaml.safe_load((tf.ROOT / "cloudbuild.yaml").read_text())
STEPS = {step["id"]: step for step in BUILD["steps"]}


def _script(step_id: str) -> str:
    return " ".join(STEPS[step_id]["args"])


def test_steps_run_in_order():
    assert list(STEPS) == [
        "install", "lint", "test", "dependency-audit", "iac-scan", "terraform-init", "terraform-plan", "terraform-apply",
    ]


def test_each_step_does_its_job():
    assert "requirements-dev.txt" in _script("install")
    assert "ruff check" in _script("lint")
    assert "make test" in _script("test")
    assert "make audit AUDIT_ARGS=--strict" in _script("dependency-audit")  # fails unscanned
    assert "checkov -d infra" in _script("iac-scan")
    assert "init" in _script("terraform-init") and "_TF_STATE_BUCKET" in _script("terraform-init")
    assert "plan" in _script("terraform-plan") and "-out=tfplan" in _script("terraform-plan")
    assert "apply" in _script("terraform-apply") and "tfplan" in _script("terraform-apply")


def test_apply_only_on_main():
    script = _script("terraform-apply")
    guard = re.search(r'if \[ "\$BRANCH_NAME" != "main" \]; then(.*?)fi', script, re.DOTALL)
    assert guard and "exit 0" in guard.group(1)
    assert script.index("fi") < script.index("terraform -chdir=infra apply")
    for step_id in ("install", "lint", "test", "iac-scan", "terraform-init", "terraform-plan"):
        assert "apply" not in _script(step_id).replace("-auto-approve", ""), step_id


def test_substitutions_and_published_pinned_images():
    subs = BUILD["substitutions"]
    assert {"_PROJECT_ID", "_REGION", "_TF_STATE_BUCKET"} <= set(subs)
    for image in (subs["_PYTHON_IMAGE"], subs["_TERRAFORM_IMAGE"]):
        _, _, tag = image.partition(":")
        assert tag and tag != "latest", image
    assert subs["_TERRAFORM_IMAGE"].startswith("hashicorp/terraform:")
    assert "${_PROJECT_ID}" in _script("terraform-plan") and "${_REGION}" in _script("terraform-plan")
