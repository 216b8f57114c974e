output "id" {
  description = "Fully qualified function id."
  value       = google_cloudfunctions2_function.this.id
}

output "name" {
  description = "Function name (also the name of its Cloud Run service)."
  value       = google_cloudfunctions2_function.this.name
}

output "subscription_id" {
  description = "Push subscription feeding the function (null for HTTP functions)."
  value       = one(google_pubsub_subscription.push[*].id)
}

output "uri" {
  description = "run.app URL of the function's service."
  value       = google_cloudfunctions2_function.this.service_config[0].uri
}

output "url" {
  description = "cloudfunctions.net URL of the function."
  value       = google_cloudfunctions2_function.this.url
}
