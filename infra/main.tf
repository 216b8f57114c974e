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
  # Deterministic 2nd-gen URL of intake_push: known before the function exists, so every
  # function (intake included) gets HYBRIDCAL_INTAKE_URL without a dependency cycle.
  intake_url  = "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.prefix}-intake-push"
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
  # Top-level paths of the repository that are not deployed (tests/infra checks that only
  # main.py, requirements.txt, functions/ and shared/ remain).
  _source_excludes = [
    ".*", ".*/**", "**/__pycache__/**", "**/*.pyc",
    "Makefile", "README.md", "pyproject.toml", "requirements-dev.txt", "cloudbuild.yaml",
    "bench/**", "docs/**", "infra/**", "local/**", "tests/**",
  ]
}

resource "google_project_service" "this" {
  for_each           = local._services
  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
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
