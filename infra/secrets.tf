# Secrets read by the functions through secret_environment_variables (never plain env vars).
#   <prefix>-pseudonym-key: HMAC key of the user pseudonyms in logs and clear store fields.
#     Generated here once and kept: changing it would orphan every pseudonymised record.
#   <prefix>-webex-token: the Webex API bearer token, added by the admin (docs/deploy.md).

resource "google_secret_manager_secret" "this" {
  for_each  = toset(["pseudonym-key", "webex-token"])
  project   = var.project_id
  secret_id = "${var.prefix}-${each.value}"
  labels    = var.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.this]
}

resource "random_password" "pseudonym_key" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret_version" "pseudonym_key" {
  secret      = google_secret_manager_secret.this["pseudonym-key"].id
  secret_data = random_password.pseudonym_key.result
}

locals {
  function_secrets = {
    for key, f in local.functions : key => merge(
      { HYBRIDCAL_PSEUDONYM_KEY = { secret = google_secret_manager_secret.this["pseudonym-key"].secret_id } },
      {
        for name, secret in {
          HYBRIDCAL_WEBEX_TOKEN = { secret = google_secret_manager_secret.this["webex-token"].secret_id }
        } : name => secret if var.webex_token_enabled && contains(f.uses, "webex")
      },
    )
  }

  _secret_grants = merge(
    { for key, f in local.functions : "${key}/pseudonym-key" => { key = key, secret = "pseudonym-key" } },
    { for key, f in local.functions : "${key}/webex-token" => { key = key, secret = "webex-token" }
    if contains(f.uses, "webex") },
  )
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = local._secret_grants
  project   = var.project_id
  secret_id = google_secret_manager_secret.this[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.key].member
}
