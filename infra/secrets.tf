# Secrets read by the functions through secret_environment_variables (never plain env vars).
#   <prefix>-pseudonym-key: HMAC key of the user pseudonyms in logs and clear store fields.
#     Generated here once and kept: changing it would orphan every pseudonymised record.
#   <prefix>-webex-token: the Webex API bearer token, added by the admin (docs/deploy.md).
#   <prefix>-api-tokens: meetings_api's bearer tokens (room devices' credentials,
#     TOKEN=device:ROOM_EMAIL,...), added by the admin (docs/deploy.md).
# The admin-added ones reach the functions only once switched on (a function whose secret has
# no version cannot deploy); the read grant exists from the start.

resource "google_secret_manager_secret" "this" {
  for_each  = toset(["api-tokens", "pseudonym-key", "webex-token"])
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
  # Every function pseudonymises user ids (the same key everywhere, or records would not
  # match); the others go to the functions whose `uses` (functions.tf) names them.
  _secrets_by_use = {
    api-auth = { HYBRIDCAL_API_TOKENS = "api-tokens" }
    webex    = { HYBRIDCAL_WEBEX_TOKEN = "webex-token" }
  }
  _secret_enabled = {
    api-tokens    = var.meetings_api_tokens_enabled
    pseudonym-key = true
    webex-token   = var.webex_token_enabled
  }

  function_secrets = {
    for key, f in local.functions : key => merge(
      { HYBRIDCAL_PSEUDONYM_KEY = { secret = google_secret_manager_secret.this["pseudonym-key"].secret_id } },
      [for use, envs in local._secrets_by_use : {
        for env, secret in envs :
        env => { secret = google_secret_manager_secret.this[secret].secret_id } if local._secret_enabled[secret]
      } if contains(f.uses, use)]...
    )
  }

  _secret_grants = merge(
    { for key, f in local.functions : "${key}/pseudonym-key" => { key = key, secret = "pseudonym-key" } },
    { for pair in flatten([
      for key, f in local.functions : [
        for use, envs in local._secrets_by_use : [for env, secret in envs : { key = key, secret = secret }]
        if contains(f.uses, use)
      ]
    ]) : "${pair.key}/${pair.secret}" => pair },
  )
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each  = local._secret_grants
  project   = var.project_id
  secret_id = google_secret_manager_secret.this[each.value.secret].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.function[each.value.key].member
}
