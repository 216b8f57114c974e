# The Cloud Build trigger that deploys hybridcal (optional: set var.deploy_trigger).
#
# The build runs as a deployer service account with project-admin roles (docs/deploy.md), and
# it runs whatever cloudbuild.yaml the pushed commit carries: a trigger on any branch would let
# a branch rewrite the build (drop the `$BRANCH_NAME` guard in cloudbuild.yaml) and apply its
# own Terraform with those roles. So the deploying trigger fires only on pushes to main, and by
# default waits for an approver (roles/cloudbuild.builds.approver) before it runs. Checks of
# other branches belong to CI without the deployer's identity (.ci/run), never to this account.

resource "google_cloudbuild_trigger" "deploy" {
  count           = var.deploy_trigger == null ? 0 : 1
  project         = var.project_id
  location        = var.region
  name            = "${var.prefix}-deploy"
  description     = "Lint, test, scan, plan and apply hybridcal from main only."
  filename        = "cloudbuild.yaml"
  service_account = "projects/${var.project_id}/serviceAccounts/${var.deploy_trigger.service_account}"

  repository_event_config {
    repository = var.deploy_trigger.repository
    push {
      branch = "^main$"
    }
  }

  approval_config {
    approval_required = var.deploy_trigger.require_approval
  }

  substitutions = {
    _PROJECT_ID      = var.project_id
    _REGION          = var.region
    _TF_STATE_BUCKET = var.deploy_trigger.state_bucket
  }

  depends_on = [google_project_service.this]
}
