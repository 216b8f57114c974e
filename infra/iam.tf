# Identities. Every function has its own service account; none has a key.
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
}

resource "google_service_account" "delegated" {
  project      = var.project_id
  account_id   = "${var.prefix}-delegated"
  display_name = "hybridcal domain-wide delegation"
  description  = "Authorised in the Workspace Admin console for the Calendar and Gmail settings scopes. Keyless: callers use signJwt."
}

resource "google_service_account" "push" {
  project      = var.project_id
  account_id   = "${var.prefix}-push"
  display_name = "hybridcal Pub/Sub push"
  description  = "Identity in the OIDC token of Pub/Sub push deliveries to the functions (run.invoker on each)."
}

resource "google_service_account" "builder" {
  project      = var.project_id
  account_id   = "${var.prefix}-builder"
  display_name = "hybridcal function builds"
  description  = "Cloud Build identity that turns the source archive into function images."
}

# Functions that call Calendar or Gmail (uses contains "workspace") may sign as the delegated
# account; nobody else, and no project-wide grant.
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

# The function builds: write the image and the build logs (the source is read from the bucket,
# below). Narrower than roles/cloudbuild.builds.builder, which can act as other accounts.
resource "google_project_iam_member" "builder" {
  for_each = toset(["roles/artifactregistry.writer", "roles/logging.logWriter"])
  project  = var.project_id
  role     = each.value
  member   = google_service_account.builder.member
}

resource "google_storage_bucket_iam_member" "builder_source" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.builder.member
}

check "function_overrides_name_real_functions" {
  assert {
    condition     = alltrue([for key in keys(var.functions) : contains(keys(local._functions), key)])
    error_message = "var.functions has keys that are not functions: see local._functions in functions.tf."
  }
}
