# Who may call the function: roles/run.invoker on its Cloud Run service (2nd gen functions are
# Cloud Run services; roles/cloudfunctions.invoker does not reach them).
#
# Keys are static labels so for_each is known at plan time even when a member's email is not.

locals {
  _invokers = merge(
    { for member in var.invokers : member => member },
    { for label, member in { public = "allUsers" } : label => member if var.public },
    {
      for label, member in {
        pubsub-push = "serviceAccount:${try(var.trigger_config.push_service_account_email, "")}"
      } : label => member if var.trigger_config != null
    },
  )
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = local._invokers
  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.this.name
  role     = "roles/run.invoker"
  member   = each.value
}
