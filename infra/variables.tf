# Inputs, alphabetical. Each HYBRIDCAL_* setting the functions read is documented in
# shared/config.py (SETTINGS); tests/infra checks that the two agree.

variable "collaboration_subscribers" {
  description = <<-EOT
    IAM members of the collaboration cloud that pull meetings-updated, join-notifications and
    presence-updated (roles/pubsub.subscriber on those subscriptions only).
  EOT
  type        = list(string)
  default     = []
  nullable    = false
}

variable "data_key_rotation_days" {
  description = "Each user's data key is replaced after this many days (HYBRIDCAL_DATA_KEY_ROTATION_DAYS)."
  type        = number
  default     = 30
  validation {
    condition     = var.data_key_rotation_days >= 1 && var.data_key_rotation_days <= 365
    error_message = "data_key_rotation_days must be between 1 and 365."
  }
}

variable "deploy_trigger" {
  description = <<-EOT
    The Cloud Build trigger that deploys from main (cicd.tf); null = none (create none by
    hand on other branches: docs/deploy.md). repository: a 2nd-gen repository connection
    (projects/P/locations/REGION/connections/C/repositories/R); service_account: the
    deployer's email; state_bucket: the Terraform state bucket; require_approval: an approver
    must let each build run.
  EOT
  type = object({
    repository       = string
    require_approval = optional(bool, true)
    service_account  = string
    state_bucket     = string
  })
  default = null
}

variable "device_booking_provider" {
  description = <<-EOT
    Join details for bookings made on a room device (HYBRIDCAL_DEVICE_BOOKING_PROVIDER):
    webex-personal-room, webex-space, jitsi[:BASE_URL] or url:TEMPLATE. null = no join link.
  EOT
  type        = string
  default     = null
  validation {
    condition     = var.device_booking_provider == null || can(regex("^(webex-personal-room|webex-space|jitsi(:.+)?|url:.+)$", var.device_booking_provider))
    error_message = "device_booking_provider must be webex-personal-room, webex-space, jitsi[:BASE_URL] or url:TEMPLATE."
  }
}

variable "firestore_location" {
  description = "Firestore location (a multi-region such as nam5/eur3, or a region). Cannot change later."
  type        = string
  default     = "nam5"
}

variable "functions" {
  description = <<-EOT
    Per-function sizing overrides, keyed by function key (see local._functions in
    functions.tf for the keys and the justified defaults). Example:
    { meetings-api = { min_instances = 1 } }.
  EOT
  type = map(object({
    available_cpu   = optional(string)
    concurrency     = optional(number)
    max_instances   = optional(number)
    memory          = optional(string)
    min_instances   = optional(number)
    timeout_seconds = optional(number)
  }))
  default  = {}
  nullable = false
}

variable "index_future_days" {
  description = "Meetings index window into the future, days (HYBRIDCAL_INDEX_FUTURE_DAYS)."
  type        = number
  default     = 28
  validation {
    condition     = var.index_future_days >= 1 && var.index_future_days <= 366
    error_message = "index_future_days must be between 1 and 366."
  }
}

variable "index_past_days" {
  description = "Meetings index window into the past, days (HYBRIDCAL_INDEX_PAST_DAYS)."
  type        = number
  default     = 1
  validation {
    condition     = var.index_past_days >= 1 && var.index_past_days <= 31
    error_message = "index_past_days must be between 1 and 31."
  }
}

variable "keywords" {
  description = "Location keywords and the provider each asks for (HYBRIDCAL_KEYWORDS)."
  type        = string
  default     = "@webex=webex-personal-room,@meet=webex-space"
  validation {
    condition = alltrue([
      for part in split(",", var.keywords) : can(regex("^\\s*@[^=\\s]+=\\S+\\s*$", part))
    ])
    error_message = "keywords must look like @keyword=provider[,@keyword=provider...]."
  }
}

variable "labels" {
  description = "Labels applied to every labelled resource."
  type        = map(string)
  default     = { app = "hybridcal" }
  nullable    = false
}

variable "log_level" {
  description = "Python logging level of the functions (HYBRIDCAL_LOG_LEVEL)."
  type        = string
  default     = "INFO"
  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "max_delivery_attempts" {
  description = <<-EOT
    Attempts before a message is dead-lettered by the handler (HYBRIDCAL_MAX_DELIVERY_ATTEMPTS).
    The subscriptions' own dead-letter policy allows two more, as a backstop for crashes.
  EOT
  type        = number
  default     = 5
  validation {
    condition     = var.max_delivery_attempts >= 3 && var.max_delivery_attempts <= 98
    error_message = "max_delivery_attempts must be between 3 and 98 (Pub/Sub caps the backstop at 100)."
  }
}

variable "meetings_api_admins" {
  description = <<-EOT
    Emails whose Google-signed ID tokens may read every user's meetings through meetings_api
    (HYBRIDCAL_API_ADMINS). Everyone else with a valid ID token for the API's URL sees only
    their own meetings; room devices use tokens from the api-tokens secret.
  EOT
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for email in var.meetings_api_admins : can(regex("^[^@,\\s]+@[^@,\\s]+$", email))])
    error_message = "meetings_api_admins must be plain email addresses (no \"user:\" prefix, no commas)."
  }
}

variable "meetings_api_audience" {
  description = <<-EOT
    Audience the Google-signed ID tokens presented to meetings_api must carry
    (HYBRIDCAL_API_AUDIENCE). null = meetings_api's URL (the meetings_api_url output), what
    service accounts and tools request. An app that forwards its users' Google Sign-In ID
    tokens sets its OAuth client id here (those tokens are issued for the app, not a URL).
  EOT
  type        = string
  default     = null
}

variable "meetings_api_tokens_enabled" {
  description = <<-EOT
    Give HYBRIDCAL_API_TOKENS (room devices' bearer tokens) to meetings_api. Turn on only after
    a version was added to the `<prefix>-api-tokens` secret (docs/deploy.md): a function whose
    secret has no version fails to deploy. Off = ID tokens only (no device access).
  EOT
  type        = bool
  default     = false
}

variable "notify_lead_seconds" {
  description = "Join notifications go out this long before a meeting starts (HYBRIDCAL_NOTIFY_LEAD_SECONDS)."
  type        = number
  default     = 300
  validation {
    condition     = var.notify_lead_seconds >= 60 && var.notify_lead_seconds <= 3600
    error_message = "notify_lead_seconds must be between 60 and 3600 (the tick runs every minute)."
  }
}

variable "org_domains" {
  description = <<-EOT
    The organisation's own DNS domains (HYBRIDCAL_ORG_DOMAINS), e.g. ["example.com"]. Only
    their users' ID tokens are accepted by meetings_api, and only on them does a self-hosted
    meeting service's URL (meet.*, join.*, lync.*) become a Join button.
  EOT
  type        = list(string)
  nullable    = false
  validation {
    condition = length(var.org_domains) > 0 && alltrue([
      for d in var.org_domains : can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", d))
    ])
    error_message = "org_domains must list at least one lower-case DNS domain such as example.com."
  }
}

variable "org_locale" {
  description = "Force one language for join blocks (HYBRIDCAL_ORG_LOCALE); null = each user's Calendar locale."
  type        = string
  default     = null
}

variable "prefix" {
  description = "Prefix of every resource name (2-9 characters, so service account ids stay within 30)."
  type        = string
  default     = "hybridcal"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,7}[a-z0-9]$", var.prefix))
    error_message = "prefix must be 2-9 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "project_id" {
  description = "Google Cloud project that hosts hybridcal."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project id (not a name or number)."
  }
}

variable "provisioning_admins" {
  description = "IAM members allowed to call provision_users (e.g. group:hybridcal-admins@example.com)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "reconcile_interval_seconds" {
  description = <<-EOT
    Every active user gets a reconciliation sync this often (HYBRIDCAL_RECONCILE_INTERVAL_SECONDS);
    it rides on the renewal tick, so keep it a multiple of the renewal schedule.
  EOT
  type        = number
  default     = 21600
  validation {
    condition     = var.reconcile_interval_seconds >= 3600
    error_message = "reconcile_interval_seconds must be at least 3600 (the renewal tick is hourly)."
  }
}

variable "region" {
  description = "Region of the functions, scheduler jobs and KMS key ring."
  type        = string
  default     = "us-central1"
}

variable "renewal_horizon_seconds" {
  description = "Channels expiring within this horizon are replaced on each tick (HYBRIDCAL_RENEWAL_HORIZON_SECONDS)."
  type        = number
  default     = 86400
  validation {
    condition     = var.renewal_horizon_seconds >= 7200 && var.renewal_horizon_seconds < var.watch_ttl_seconds
    error_message = "renewal_horizon_seconds must cover at least two hourly ticks and be shorter than watch_ttl_seconds."
  }
}

variable "room_reader" {
  description = <<-EOT
    Workspace user that reads room calendars shared with it (HYBRIDCAL_ROOM_READER), e.g.
    hybridcal-rooms@example.com. null = workspaces (rooms) cannot be activated.
  EOT
  type        = string
  default     = null
  validation {
    condition     = var.room_reader == null || can(regex("^[^@\\s]+@[^@\\s]+$", var.room_reader))
    error_message = "room_reader must be an email address."
  }
}

variable "scheduling_account" {
  description = <<-EOT
    Workspace user that organises every booking made on a room device and invites the room
    (HYBRIDCAL_SCHEDULING_ACCOUNT), e.g. hybridcal-booking@example.com; the service acts as it
    through delegation, so it needs a Workspace licence and the right to book the rooms.
    null = room devices cannot book.
  EOT
  type        = string
  default     = null
  validation {
    condition     = var.scheduling_account == null || can(regex("^[^@\\s]+@[^@\\s]+$", var.scheduling_account))
    error_message = "scheduling_account must be an email address."
  }
}

variable "vacation_interval_seconds" {
  description = "Every active user's vacation responder is read once per interval (HYBRIDCAL_VACATION_INTERVAL_SECONDS)."
  type        = number
  default     = 600
  validation {
    condition = (
      var.vacation_interval_seconds >= 60 && var.vacation_interval_seconds <= 1800 &&
      var.vacation_interval_seconds % 60 == 0 && 3600 % var.vacation_interval_seconds == 0
    )
    error_message = "vacation_interval_seconds must be whole minutes that divide an hour, at most 30 (60, 120, ..., 600, ..., 1800): the schedule is */N minutes."
  }
}

variable "watch_ttl_seconds" {
  description = "Lifetime requested for Calendar push channels (HYBRIDCAL_WATCH_TTL_SECONDS); Google caps it at 7 days."
  type        = number
  default     = 604800
  validation {
    condition     = var.watch_ttl_seconds >= 3600 && var.watch_ttl_seconds <= 604800
    error_message = "watch_ttl_seconds must be between 3600 and 604800."
  }
}

variable "webex_site" {
  description = "Webex site name used in Personal Room URLs and SIP URIs (HYBRIDCAL_WEBEX_SITE)."
  type        = string
  validation {
    condition     = can(regex("^[A-Za-z0-9-]+$", var.webex_site))
    error_message = "webex_site is the site name only (mysite for mysite.webex.com)."
  }
}

variable "webex_token_enabled" {
  description = <<-EOT
    Give HYBRIDCAL_WEBEX_TOKEN to the functions that create meetings. Turn on only after a
    version was added to the `<prefix>-webex-token` secret (docs/deploy.md, step 5): a function
    whose secret has no version fails to deploy. Off = Personal Room fallback.
  EOT
  type        = bool
  default     = false
}

variable "workspace_admin" {
  description = <<-EOT
    Workspace admin the service acts as (through delegation) to share room calendars with
    room_reader (HYBRIDCAL_WORKSPACE_ADMIN). null = workspaces (rooms) cannot be activated.
  EOT
  type        = string
  default     = null
  validation {
    condition     = var.workspace_admin == null || can(regex("^[^@\\s]+@[^@\\s]+$", var.workspace_admin))
    error_message = "workspace_admin must be an email address."
  }
}
