# One 2nd-gen Cloud Function, its own identity and, for Pub/Sub-fed functions, the push
# subscription that feeds it.
#
# Why a push subscription instead of `event_trigger`: the subscription Eventarc creates cannot
# be given message ordering or a dead-letter policy from Terraform, and the code relies on both
# (calendar-changes is ordered per user; every consumed topic dead-letters). A CloudEvent
# handler still works: functions-framework converts a raw Pub/Sub push whose URL path holds
# `projects/P/topics/T` into a `google.cloud.pubsub.topic.v1.messagePublished` CloudEvent whose
# source names that topic, and the decorator (`@functions_framework.cloud_event`) fixes the
# signature type whatever the trigger.

locals {
  _push_endpoint = (
    var.trigger_config == null ? null :
    "${google_cloudfunctions2_function.this.service_config[0].uri}/projects/${var.project_id}/topics/${var.trigger_config.topic_name}"
  )
}

resource "google_cloudfunctions2_function" "this" {
  project     = var.project_id
  location    = var.region
  name        = var.name
  description = var.description
  labels      = var.labels

  build_config {
    runtime         = var.function_config.runtime
    entry_point       = var.entry_point
    service_account   = var.build_service_account_id
    docker_repository = var.docker_repository
    source {
      storage_source {
        bucket = var.source_archive.bucket
        object = var.source_archive.object
      }
    }
  }

  service_config {
    available_memory                 = var.function_config.memory
    available_cpu                    = var.function_config.available_cpu
    timeout_seconds                  = var.function_config.timeout_seconds
    max_instance_request_concurrency = var.function_config.concurrency
    max_instance_count               = var.function_config.max_instances
    min_instance_count               = var.function_config.min_instances
    ingress_settings                 = var.ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = var.service_account_email
    environment_variables            = var.environment

    dynamic "secret_environment_variables" {
      for_each = var.secrets
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value.secret
        version    = secret_environment_variables.value.version
      }
    }
  }
}

resource "google_pubsub_subscription" "push" {
  count   = var.trigger_config == null ? 0 : 1
  project = var.project_id
  name    = "${var.name}-push"
  topic   = var.trigger_config.topic_id
  labels  = var.labels

  # Pub/Sub waits this long for the HTTP answer before redelivering: at least the function's
  # timeout (600 s is the ceiling), so a slow but healthy run is not delivered twice.
  ack_deadline_seconds       = min(600, max(10, var.function_config.timeout_seconds))
  message_retention_duration = var.trigger_config.message_retention
  enable_message_ordering    = var.trigger_config.message_ordering

  push_config {
    push_endpoint = local._push_endpoint
    oidc_token {
      service_account_email = var.trigger_config.push_service_account_email
      audience              = google_cloudfunctions2_function.this.service_config[0].uri
    }
  }

  # Raising in the handler (TransientError) nacks: Pub/Sub redelivers with exponential backoff.
  retry_policy {
    minimum_backoff = var.trigger_config.minimum_backoff
    maximum_backoff = var.trigger_config.maximum_backoff
  }

  # The handler itself moves a message to `<topic>-dead-letter` (with the reason) after
  # HYBRIDCAL_MAX_DELIVERY_ATTEMPTS; this policy is the backstop for crashes, timeouts and OOM
  # kills, where the handler never gets to count. Keep it above the handler's limit.
  dead_letter_policy {
    dead_letter_topic     = var.trigger_config.dead_letter_topic_id
    max_delivery_attempts = var.trigger_config.max_delivery_attempts
  }

  expiration_policy {
    ttl = "" # never expire, however quiet the topic
  }
}
