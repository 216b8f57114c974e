"""docs/deploy.md walks an admin through the deployment and matches what infra/ outputs."""

from __future__ import annotations

import re

from tests.infra import tf

DOC = (tf.ROOT / "docs" / "deploy.md").read_text()


def test_every_output_the_doc_reads_exists_and_every_output_is_documented():
    outputs = set(tf.load().outputs)
    read = set(re.findall(r"terraform output(?: -raw)? ([a-z_]+)", DOC))
    assert read <= outputs
    assert outputs <= read


def test_admin_console_step_gives_client_id_and_exact_scopes():
    scopes = tf.load().outputs["dwd_scopes"]["value"]
    assert scopes in DOC
    assert "Domain Wide Delegation" in DOC and "Client ID" in DOC and "dwd_client_id" in DOC


def test_every_required_variable_is_in_the_tfvars_example():
    required = {name for name, v in tf.load().variables.items() if "default" not in v}
    example = DOC[DOC.index("```hcl") : DOC.index("```", DOC.index("```hcl") + 6)]
    for name in required:
        assert re.search(rf"^{name}\s*=", example, re.MULTILINE), name


def test_pipeline_substitutions_are_explained():
    for name in ("_PROJECT_ID", "_REGION", "_TF_STATE_BUCKET"):
        assert name in DOC
