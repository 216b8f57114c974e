# The key-encryption key of the envelope scheme: per-user data keys (Tink AEAD) are wrapped by
# it and stored; the KEK itself never leaves Cloud KMS.

resource "google_kms_key_ring" "this" {
  project  = var.project_id
  name     = "${var.prefix}-keys"
  location = var.region

  depends_on = [google_project_service.this]
}

resource "google_kms_crypto_key" "kek" {
  name            = "${var.prefix}-kek"
  key_ring        = google_kms_key_ring.this.id
  purpose         = "ENCRYPT_DECRYPT"
  rotation_period = "7776000s" # 90 days; old versions stay enabled so older wraps still open
  labels          = var.labels

  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = "SOFTWARE"
  }

  lifecycle {
    # Destroying the KEK makes every stored record unreadable.
    prevent_destroy = true
  }
}

# Only the identities that seal or open records (local._functions[*].uses contains "kms", which
# tests/infra derives from the Sealer methods each function's code reaches): process-changes
# seals meeting records and meetings-updated payloads, meetings-api opens records,
# dispatch-joins opens them to build sealed notifications. No other function touches sealed
# data: provisioning validates and watches (the initial sync runs in process-changes),
# presence is stored as states and times, and crypto-shredding deletes wrapped keys (a store
# operation, no KMS call). Opening and sealing share one data-key cache that may create a key,
# hence one role for both.
resource "google_kms_crypto_key_iam_member" "function" {
  for_each      = { for key, f in local.functions : key => f if contains(f.uses, "kms") }
  crypto_key_id = google_kms_crypto_key.kek.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = google_service_account.function[each.key].member
}
