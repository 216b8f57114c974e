# hybridcal in one project: providers, APIs, and the source archive every function runs.

provider "google" {
  project               = var.project_id
  region                = var.region
  user_project_override = true
  billing_project       = var.project_id
}

provider "google-beta" {
  project               = var.project_id
  region                = var.region
  user_project_override = true
  billing_project       = var.project_id
}

data "google_project" "this" {
  project_id = var.project_id
}

locals {
  _services = toset([
    "calendar-json.googleapis.com", # Calendar API v3 (called through delegation)
    "cloudbuild.googleapis.com",    # builds the functions' images
    "cloudfunctions.googleapis.com",
    "cloudkms.googleapis.com",
    "cloudscheduler.googleapis.com",
    "artifactregistry.googleapis.com",
    "firestore.googleapis.com",
    "gmail.googleapis.com", # users.settings.getVacation
    "iam.googleapis.com",
    "iamcredentials.googleapis.com", # keyless signJwt for domain-wide delegation
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
  # Deterministic 2nd-gen URLs (https://REGION-PROJECT.cloudfunctions.net/NAME): known before
  # the functions exist, so every function (intake included) gets HYBRIDCAL_INTAKE_URL, and
  # meetings-api its own URL as HYBRIDCAL_API_AUDIENCE, without a dependency cycle. Reading
  # module.function[...].url instead would make a function depend on itself (a cycle), and a
  # data source cannot read a function that the first apply has not created yet. The checks
  # below compare them with the URLs Google reports once the functions exist.
  intake_url       = "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.prefix}-intake-push"
  meetings_api_url = "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.prefix}-meetings-api"
  meetings_api_audience = coalesce(var.meetings_api_audience, local.meetings_api_url)
  # The Pub/Sub service agent (push OIDC tokens, dead-lettering), from the resource that makes
  # Google create it, so no binding names it before it exists.
  pubsub_agent = google_project_service_identity.pubsub.member
  # Top-level paths of the repository that are not deployed (tests/infra checks that only
  # main.py, requirements.txt, functions/ and shared/ remain).
  _source_excludes = [
    ".*", ".*/**", "**/__pycache__/**", "**/*.pyc",
    "Makefile", "README.md", "pyproject.toml", "requirements-dev.txt", "cloudbuild.yaml",
    "bench/**", "docs/**", "infra/**", "local/**", "mutation/**", "tests/**",
  ]
}

resource "google_project_service" "this" {
  for_each           = local._services
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

check "predictable_function_urls" {
  assert {
    condition = (
      module.function["intake-push"].url == local.intake_url &&
      module.function["meetings-api"].url == local.meetings_api_url
    )
    error_message = "Google reports other function URLs than local.intake_url / local.meetings_api_url: Calendar watches or meetings_api's ID-token audience would be wrong."
  }
}

# -- source ------------------------------------------------------------------------------------

data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/.."
  excludes    = local._source_excludes
  output_path = "${path.module}/.build/source.zip"
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Access logs of a bucket holding only our own source zips add cost, not insight; audit logs cover writes.
  project                     = var.project_id
  name                        = "${var.project_id}-${var.prefix}-source"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true
  labels                      = var.labels

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      age                = 30
      with_state         = "ARCHIVED"
      num_newer_versions = 3
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.this]
}

resource "google_storage_bucket_object" "source" {
  # Named by content hash: a code change is a new object, which redeploys every function.
  name   = "source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

# Where the builds push the functions' images (build_config.docker_repository): hybridcal's own
# repository, so the builder's write grant names it alone (iam.tf) instead of the project.
resource "google_artifact_registry_repository" "functions" {
  #checkov:skip=CKV_GCP_84:Images hold only hybridcal's code and public libraries, never user data or secrets; a CMEK would add a key every build depends on and protect nothing.
  project       = var.project_id
  location      = var.region
  repository_id = "${var.prefix}-functions"
  format        = "DOCKER"
  description   = "Images of the hybridcal functions, built by Cloud Build."
  labels        = var.labels

  # Every deployment builds one image per function. Keep the newest few of each (the running
  # revision's among them), delete older ones after 30 days.
  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = 5
    }
  }
  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }

  depends_on = [google_project_service.this]
}
