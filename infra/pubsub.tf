# Topics: exactly the names in shared/bus/base.py `Topics` (the code publishes to them by name,
# so they carry no prefix: one hybridcal per project). Each topic has a dead-letter topic
# `<topic>-dead-letter`, written by the handlers (with the failure reason) and by the
# subscriptions' dead-letter policy, and drained by a pull subscription so nothing is lost.

locals {
  # Consumed by a function: the push subscription lives in the function module.
  function_topics = {
    for key, f in local._functions : f.trigger => key if f.trigger != null
  }
  # Consumed by the collaboration cloud, outside this project: a pull subscription retains
  # messages until it pulls.
  external_topics = toset(["join-notifications", "meetings-updated", "presence-updated"])
  topics          = setunion(toset(keys(local.function_topics)), local.external_topics)
  retention       = "604800s" # 7 days: the longest Pub/Sub keeps unacknowledged messages
}

resource "google_pubsub_topic" "topic" {
  #checkov:skip=CKV_GCP_83:Payloads are sealed by the application (envelope encryption with the KMS key) before publishing; a CMEK on the topic adds a key dependency without protecting anything more.
  for_each = local.topics
  project  = var.project_id
  name     = each.value
  labels   = var.labels

  depends_on = [google_project_service.this]
}

resource "google_pubsub_topic" "dead_letter" {
  #checkov:skip=CKV_GCP_83:Same sealed payloads as the source topic.
  for_each = local.topics
  project  = var.project_id
  name     = "${each.value}-dead-letter"
  labels   = var.labels

  depends_on = [google_project_service.this]
}

# Dead letters wait here for an operator (docs/deploy.md: inspect, then republish or drop).
resource "google_pubsub_subscription" "dead_letter" {
  for_each                   = local.topics
  project                    = var.project_id
  name                       = "${each.value}-dead-letter-hold"
  topic                      = google_pubsub_topic.dead_letter[each.value].id
  labels                     = var.labels
  ack_deadline_seconds       = 60
  message_retention_duration = local.retention
  retain_acked_messages      = false

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription" "external" {
  for_each                   = local.external_topics
  project                    = var.project_id
  name                       = "${each.value}-collaboration"
  topic                      = google_pubsub_topic.topic[each.value].id
  labels                     = var.labels
  ack_deadline_seconds       = 60
  message_retention_duration = local.retention

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter[each.value].id
    max_delivery_attempts = var.max_delivery_attempts + 2
  }

  expiration_policy {
    ttl = ""
  }
}

resource "google_pubsub_subscription_iam_member" "collaboration" {
  for_each = {
    for pair in setproduct(local.external_topics, var.collaboration_subscribers) :
    "${pair[0]}/${pair[1]}" => { topic = pair[0], member = pair[1] }
  }
  project      = var.project_id
  subscription = google_pubsub_subscription.external[each.value.topic].name
  role         = "roles/pubsub.subscriber"
  member       = each.value.member
}

# -- what the Pub/Sub service agent needs to dead-letter -----------------------------------------

resource "google_pubsub_topic_iam_member" "agent_dead_letter_publisher" {
  for_each = local.topics
  project  = var.project_id
  topic    = google_pubsub_topic.dead_letter[each.value].name
  role     = "roles/pubsub.publisher"
  member   = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_subscriber" {
  for_each = merge(
    { for topic, key in local.function_topics : topic => module.function[key].subscription_id },
    { for topic in local.external_topics : topic => google_pubsub_subscription.external[topic].id },
  )
  project      = var.project_id
  subscription = each.value
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# -- who publishes where ---------------------------------------------------------------------------

locals {
  _publish_grants = merge(
    # Topics each function's code publishes to.
    { for pair in flatten([
      for key, f in local.functions : [for topic in f.publishes : { key = key, topic = topic }]
    ]) : "${pair.key}/${pair.topic}" => { key = pair.key, topic = google_pubsub_topic.topic[pair.topic].name } },
    # The handler dead-letters what it consumes (functions/_events.py).
    { for key, f in local.functions : "${key}/${f.trigger}-dead-letter" => {
      key = key, topic = google_pubsub_topic.dead_letter[f.trigger].name
    } if f.trigger != null },
  )
}

resource "google_pubsub_topic_iam_member" "function_publisher" {
  for_each = local._publish_grants
  project  = var.project_id
  topic    = each.value.topic
  role     = "roles/pubsub.publisher"
  member   = google_service_account.function[each.value.key].member
}
