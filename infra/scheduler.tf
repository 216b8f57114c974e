# Cloud Scheduler ticks. Each publishes to a tick topic consumed by a function.
#   renew-watches: channel renewal AND reconciliation. One tick drives both (issue 6): the
#                  handler replaces channels expiring within the renewal horizon and queues a
#                  reconciliation sync for active users whose last one is older than
#                  HYBRIDCAL_RECONCILE_INTERVAL_SECONDS, because push delivery is not guaranteed.
#   poll-vacations: every HYBRIDCAL_VACATION_INTERVAL_SECONDS.
#   join-notifications: every minute (lead time HYBRIDCAL_NOTIFY_LEAD_SECONDS).

locals {
  schedules = {
    renew-watches = {
      topic       = "renew-watches-tick"
      schedule    = "7 * * * *" # hourly, off the top of the hour; the 24 h horizon gives each channel ~24 chances
      description = "Push channel renewal and periodic reconciliation sync."
    }
    poll-vacations = {
      topic       = "poll-vacations-tick"
      schedule    = "*/${floor(var.vacation_interval_seconds / 60)} * * * *"
      description = "Out-of-office polling of the Gmail vacation responder."
    }
    join-notifications = {
      topic       = "join-notifications-tick"
      schedule    = "* * * * *"
      description = "Join notifications for meetings about to start."
    }
  }
}

resource "google_cloud_scheduler_job" "tick" {
  for_each    = local.schedules
  project     = var.project_id
  region      = var.region
  name        = "${var.prefix}-${each.key}"
  description = each.value.description
  schedule    = each.value.schedule
  time_zone   = "Etc/UTC"

  # A tick that fails to publish is simply superseded by the next one.
  retry_config {
    retry_count = 0
  }

  pubsub_target {
    topic_name = google_pubsub_topic.topic[each.value.topic].id
    data       = base64encode(jsonencode({ source = "cloud-scheduler", job = each.key }))
  }

  depends_on = [google_project_service.this]
}
