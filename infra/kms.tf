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

# Only the identities that seal or open records (local._functions[*].uses contains "kms"):
# process-changes and provisioning-worker seal meeting records, meetings-api opens and seals
# them, dispatch-joins opens them to build sealed notifications, vacation-worker seals presence
# data. intake-push, the two tick sharders, renew-watches-worker and provision-users never
# touch sealed data (crypto-shredding deletes wrapped keys: a store operation, no KMS call).
resource "google_kms_crypto_key_iam_member" "function" {
  for_each      = { for key, f in local.functions : key => f if contains(f.uses, "kms") }
  crypto_key_id = google_kms_crypto_key.kek.id
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = google_service_account.function[each.key].member
}
