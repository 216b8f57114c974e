terraform {
  # 1.9: validation blocks may refer to other variables.
  required_version = ">= 1.9.0"

  required_providers {
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7" # glob patterns in archive_file.excludes need >= 2.5
    }
    google = {
      source  = "hashicorp/google"
      version = "~> 7.30"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 7.30"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }

  # Partial configuration: `terraform init -backend-config="bucket=<state bucket>"`
  # (docs/deploy.md creates the bucket; cloudbuild.yaml passes _TF_STATE_BUCKET).
  backend "gcs" {
    prefix = "hybridcal"
  }
}
