# Identities. Every function has its own service account; none has a key. Service accounts
# wait for iam.googleapis.com (google_project_service.this): on a fresh project the first
# apply would otherwise race the API being enabled.
#
# Keyless domain-wide delegation: the "delegated" service account is the one the Workspace
# admin authorises (its unique id is the client id). It has no key and no role. A function that
# calls Workspace signs the JWT assertion *as* that account through the IAM Credentials API
# (signJwt), which needs roles/iam.serviceAccountTokenCreator on that one account only.

resource "google_service_account" "function" {
  for_each     = local.functions
  project      = var.project_id
  account_id   = each.value.sa_id
  display_name = "hybridcal ${each.key}"
  description  = "Runtime identity of the ${each.value.name} function (${each.value.entry_point})."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "delegated" {
  project      = var.project_id
  account_id   = "${var.prefix}-delegated"
  display_name = "hybridcal domain-wide delegation"
  description  = "Authorised in the Workspace Admin console for the Calendar and Gmail settings scopes. Keyless: callers use signJwt."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${var.prefix}-push"
  display_name = "hybridcal Pub/Sub push"
  description  = "Identity in the OIDC token of Pub/Sub push deliveries to the functions (run.invoker on each)."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "builder" {
  project      = var.project_id
  account_id   = "${var.prefix}-builder"
  display_name = "hybridcal function builds"
  description  = "Cloud Build identity that turns the source archive into function images."

  depends_on = [google_project_service.this]
}

# Asks Google to create the Pub/Sub service agent now (it otherwise appears on first use), so
# the bindings that name it (push token, dead-lettering) never run before it exists.
resource "google_project_service_identity" "pubsub" {
  provider = google-beta
  project  = var.project_id
  service  = "pubsub.googleapis.com"

  depends_on = [google_project_service.this]
}

# Functions that call Calendar or Gmail (uses contains "workspace") may sign as the delegated
# account (iam.serviceAccounts.signBlob/signJwt); nobody else, and no project-wide grant.
# Without it IAM answers 403 and the user ends in error "service_cannot_sign".
resource "google_service_account_iam_member" "sign_as_delegated" {
  for_each           = { for key, f in local.functions : key => f if contains(f.uses, "workspace") }
  service_account_id = google_service_account.delegated.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.function[each.key].member
}

# Firestore has no per-collection IAM: every function reads and writes the store.
resource "google_project_iam_member" "function_datastore" {
  for_each = local.functions
  project  = var.project_id
  role     = "roles/datastore.user"
  member   = google_service_account.function[each.key].member
}

# Pub/Sub mints the push OIDC tokens as the push account.
resource "google_service_account_iam_member" "pubsub_agent_push_token" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# The function builds, with the roles Google documents for a build service account
# (docs: "Cloud Build service account" of Cloud Run functions): Logs Writer, Artifact Registry
# Writer, read on the function source. Each scoped as narrowly as it can be, and narrower than
# roles/cloudbuild.builds.builder, which can act as other accounts.
#   logs:   build logs; Cloud Logging has no per-log grant, so project-wide.
resource "google_project_iam_member" "builder" {
  for_each = toset(["roles/logging.logWriter"])
  project  = var.project_id
  role     = each.value
  member   = google_service_account.builder.member
}

#   images: only hybridcal's own repository (build_config.docker_repository), not the
#           project's registries.
resource "google_artifact_registry_repository_iam_member" "builder" {
  project    = var.project_id
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.builder.member
}

#   source: 2nd-gen builds fetch a copy of the source that Cloud Functions makes in Google's
#           gcf-v2-sources-<project number>-<region> bucket. That bucket appears with the first
#           function, after this grant must exist, so it is granted on the project with a
#           condition naming the bucket (and its objects) rather than on the bucket.
resource "google_project_iam_member" "builder_function_sources" {
  project = var.project_id
  role    = "roles/storage.objectViewer"
  member  = google_service_account.builder.member

  condition {
    title       = "gcf-v2-sources only"
    description = "Cloud Functions' copy of the function source, read by the build."
    expression  = "resource.name == \"projects/_/buckets/${local._gcf_sources_bucket}\" || resource.name.startsWith(\"projects/_/buckets/${local._gcf_sources_bucket}/objects/\")"
  }
}

#           and hybridcal's own upload, the object build_config.source names.
resource "google_storage_bucket_iam_member" "builder_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.builder.member
}

locals {
  _gcf_sources_bucket = "gcf-v2-sources-${data.google_project.this.number}-${var.region}"
}

check "function_overrides_name_real_functions" {
  assert {
    condition     = alltrue([for key in keys(var.functions) : contains(keys(local._functions), key)])
    error_message = "var.functions has keys that are not functions: see local._functions in functions.tf."
  }
}
