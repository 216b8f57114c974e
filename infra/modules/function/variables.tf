variable "build_service_account_id" {
  description = "Service account that builds the image (projects/P/serviceAccounts/EMAIL)."
  type        = string
}

variable "description" {
  description = "What the function does, shown in the console."
  type        = string
  default     = ""
}

variable "docker_repository" {
  description = <<-EOT
    Artifact Registry repository for the built image (projects/P/locations/L/repositories/R);
    null = Google's default gcf-artifacts repository.
  EOT
  type        = string
  default     = null
}

variable "entry_point" {
  description = "Name of the handler exported by main.py (the functions-framework target)."
  type        = string
}

variable "environment" {
  description = "Plain environment variables (never secrets: those go in `secrets`)."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "function_config" {
  description = "Sizing of one instance and of the fleet; the root module justifies each value."
  type = object({
    available_cpu   = optional(string, "1")
    concurrency     = optional(number, 1)
    max_instances   = optional(number, 10)
    memory          = optional(string, "512M")
    min_instances   = optional(number, 0)
    runtime         = optional(string, "python311")
    timeout_seconds = optional(number, 60)
  })
  default  = {}
  nullable = false
  validation {
    condition     = var.function_config.concurrency == 1 || tonumber(var.function_config.available_cpu) >= 1
    error_message = "Cloud Run needs at least one vCPU to serve more than one request per instance."
  }
  validation {
    condition     = var.function_config.max_instances >= var.function_config.min_instances
    error_message = "max_instances must be at least min_instances."
  }
}

variable "ingress" {
  description = "ALLOW_ALL for callers on the internet, ALLOW_INTERNAL_ONLY for Pub/Sub push only."
  type        = string
  default     = "ALLOW_INTERNAL_ONLY"
  validation {
    condition     = contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], var.ingress)
    error_message = "ingress must be ALLOW_ALL, ALLOW_INTERNAL_ONLY or ALLOW_INTERNAL_AND_GCLB."
  }
}

variable "invokers" {
  description = "IAM members allowed to call the function (roles/run.invoker on its service)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "labels" {
  description = "Labels for the function."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "name" {
  description = "Function (and Cloud Run service) name: lowercase letters, digits and hyphens."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,47}[a-z0-9]$", var.name))
    error_message = "name must be 2-49 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "project_id" {
  description = "Project that hosts the function."
  type        = string
}

variable "public" {
  description = "Grant roles/run.invoker to allUsers (only for callers that cannot authenticate)."
  type        = bool
  default     = false
}

variable "region" {
  description = "Region of the function."
  type        = string
}

variable "secrets" {
  description = "Environment variables read from Secret Manager, keyed by variable name."
  type = map(object({
    secret  = string
    version = optional(string, "latest")
  }))
  default  = {}
  nullable = false
}

variable "service_account_email" {
  description = <<-EOT
    The function's own runtime identity. Created by the caller, so that the grants the
    function needs at deploy time (secret access is checked then) exist before it.
  EOT
  type        = string
}

variable "source_archive" {
  description = "The zipped source in Cloud Storage (object named by content hash)."
  type = object({
    bucket = string
    object = string
  })
}

variable "trigger_config" {
  description = <<-EOT
    Pub/Sub trigger; null means an HTTP function. A push subscription delivers to the
    function's URL with an OIDC token. The URL path names the topic
    (/projects/P/topics/T), which functions-framework turns into the CloudEvent source the
    entry point dispatches on.
  EOT
  type = object({
    dead_letter_topic_id       = string
    max_delivery_attempts      = optional(number, 7)
    maximum_backoff            = optional(string, "600s")
    message_ordering           = optional(bool, false)
    message_retention          = optional(string, "604800s")
    minimum_backoff            = optional(string, "10s")
    push_service_account_email = string
    topic_id                   = string
    topic_name                 = string
  })
  default = null
  validation {
    condition = (
      var.trigger_config == null ? true :
      var.trigger_config.max_delivery_attempts >= 5 && var.trigger_config.max_delivery_attempts <= 100
    )
    error_message = "Pub/Sub accepts max_delivery_attempts between 5 and 100."
  }
}
