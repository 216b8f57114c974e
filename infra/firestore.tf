# Firestore (native mode), the composite indexes the store's queries need, and TTL policies.
#
# Index shape (shared/store/firestore.py): [equality fields in filter order] + [order_by] +
# ["_key"], all ascending; `_key` is the store's reserved field holding the original key.

resource "google_firestore_database" "this" {
  # No CMEK: sensitive fields are sealed by the application with per-user data keys wrapped
  # by the KMS key (and crypto-shredded on deactivation).
  provider                          = google-beta
  project                           = var.project_id
  name                              = "(default)" # FirestoreStore opens the default database
  location_id                       = var.firestore_location
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC" # transactions (leases, attempt counters) lock
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.this]
}

locals {
  # collection => list of index field lists.
  indexes = {
    # renewal: state in [opening, active] AND expires <= T, ordered by expires
    "channels/state-expires" = { collection = "channels", fields = ["state", "expires", "_key"] }
    # a user's channels (renewal, deactivation) and an orphan's owner by resource id
    "channels/user"     = { collection = "channels", fields = ["user_id", "_key"] }
    "channels/resource" = { collection = "channels", fields = ["resource_id", "_key"] }
    # provisioning listing, vacation polling: status == S, paged by key
    "users/status" = { collection = "users", fields = ["status", "_key"] }
    # renewal tick: re-validation due (status in [error, pending]), ordered by its due time
    "users/status-validation" = { collection = "users", fields = ["status", "next_validation_at", "_key"] }
    # renewal tick: reconciliation due, by the time of the user's last sync
    "sync/last-sync" = { collection = "sync", fields = ["last_sync", "_key"] }
    # a user's index (deactivation, resync, reseal) and one series' occurrences
    "meetings/user"        = { collection = "meetings", fields = ["user_id", "_key"] }
    "meetings/user-series" = { collection = "meetings", fields = ["user_id", "series_id", "_key"] }
    # meetings list: user == U AND start in [A, B), ordered by start
    "meetings/user-start" = { collection = "meetings", fields = ["user_id", "start", "_key"] }
    # join notifications: notify_at (still owed) in [A, B] across users, ordered by notify_at
    "meetings/notify_at" = { collection = "meetings", fields = ["notify_at", "_key"] }
    "series/user"        = { collection = "series", fields = ["user_id", "_key"] }
    "data_keys/user"     = { collection = "data_keys", fields = ["user_id", "_key"] }
  }

  # The collections the code writes with `expire_at` (tests/infra derives the list from the
  # code): failed delivery attempts (functions/_events.py), the join-notification tick lease
  # (ratelimits), and the public push endpoint's orphan-stop rate limits and once-per-channel
  # marks (shared/changes/intake.py), which would otherwise grow with every forged push. Firestore
  # deletes a document (within about a day) once its `expire_at` has passed; TTL acts only on
  # Timestamp values (FirestoreStore writes one).
  ttl_collections = toset(["attempts", "orphan_stops", "ratelimits"])
}

resource "google_firestore_index" "this" {
  for_each   = local.indexes
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = each.value.collection

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value
      order      = "ASCENDING"
    }
  }
}

resource "google_firestore_field" "ttl" {
  for_each   = local.ttl_collections
  project    = var.project_id
  database   = google_firestore_database.this.name
  collection = each.value
  field      = "expire_at"

  ttl_config {}

  # Nobody queries on expire_at: no single-field index to pay for on every write.
  index_config {}
}
