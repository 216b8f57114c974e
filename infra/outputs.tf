# What the admin needs (docs/deploy.md walks through each one).

output "admin_endpoint_url" {
  description = "provision_users: activate, deactivate and status (callers in provisioning_admins)."
  value       = module.function["provision-users"].url
}

output "api_tokens_secret" {
  description = "Secret to add room devices' meetings_api tokens to (then set meetings_api_tokens_enabled = true)."
  value       = google_secret_manager_secret.this["api-tokens"].secret_id
}

output "dead_letter_subscriptions" {
  description = "Pull subscriptions holding dead-lettered messages, by topic."
  value       = { for topic, sub in google_pubsub_subscription.dead_letter : topic => sub.name }
}

output "delegated_service_account" {
  description = "Email of the keyless service account authorised for domain-wide delegation."
  value       = google_service_account.delegated.email
}

output "dwd_client_id" {
  description = "Client ID to paste in Admin console > Security > Access and data control > API controls > Domain-wide delegation."
  value       = google_service_account.delegated.unique_id
}

output "dwd_scopes" {
  description = "OAuth scopes to paste with the client ID (exactly these two, comma-separated)."
  value       = "https://www.googleapis.com/auth/calendar,https://www.googleapis.com/auth/gmail.settings.basic"
}

output "external_subscriptions" {
  description = "Pull subscriptions the collaboration cloud reads, by topic."
  value       = { for topic, sub in google_pubsub_subscription.external : topic => sub.id }
}

output "function_service_accounts" {
  description = "Runtime service account of each function."
  value       = { for key, sa in google_service_account.function : key => sa.email }
}

output "intake_url" {
  description = "Public address of intake_push, given to Calendar watches (HYBRIDCAL_INTAKE_URL)."
  value       = local.intake_url
}

output "kms_key" {
  description = "Key-encryption key (HYBRIDCAL_KMS_KEY)."
  value       = google_kms_crypto_key.kek.id
}

output "meetings_api_audience" {
  description = "Audience the ID tokens presented to meetings_api must carry (HYBRIDCAL_API_AUDIENCE)."
  value       = local.meetings_api_audience
}

output "meetings_api_url" {
  description = "meetings_api: public, every caller authenticated by the handler (ID token or device token)."
  value       = local.meetings_api_url
}

output "webex_token_secret" {
  description = "Secret to add the Webex API token to (then set webex_token_enabled = true)."
  value       = google_secret_manager_secret.this["webex-token"].secret_id
}
