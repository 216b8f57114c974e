# The deployed functions. main.py exports seven entry points; three of them also consume a
# fan-out topic, so they are deployed a second time with the same entry point (the handler
# dispatches on the message's topic; see README.md). Ten function resources in all.
#
# `publishes` and `uses` are what each deployment's code does, and every grant is derived from
# them (pubsub.tf, kms.tf, iam.tf, secrets.tf): least privilege, nothing a function does not
# call. tests/infra/derive.py reads them off the code (the handler's call graph) and
# test_code_agreement.py requires equality, so a new publish or KMS use fails the tests until
# it is granted here. `uses`:
#   workspace: calls Calendar/Gmail as a user (signs as the delegated account: Token Creator)
#   kms:       seals or opens records (Cloud KMS encrypt/decrypt on the KEK)
#   webex:     creates Webex meetings (the Webex token secret)
#   api-auth:  authenticates meetings_api callers (API audience, admins, device-token secret)
#   rooms:     shares room calendars (HYBRIDCAL_WORKSPACE_ADMIN, HYBRIDCAL_ROOM_READER)
#   booking:   books rooms from their devices (HYBRIDCAL_SCHEDULING_ACCOUNT, and
#              HYBRIDCAL_DEVICE_BOOKING_PROVIDER for the bookings' join details)
#
# Keys: the function's name after "<prefix>-" and its service account id after "<prefix>-",
# hence at most 20 characters. Sizing per function, each value justified:
#   memory:        working set of the Python runtime + the libraries the handler imports.
#   timeout:       the longest legitimate run; for Pub/Sub-fed functions the push ack deadline
#                  follows it (<= 600 s), so the timeout stays <= 540 s.
#   concurrency:   requests per instance; > 1 only for I/O-bound handlers (needs 1 vCPU).
#   max_instances: the blast radius on Google's quotas (Calendar ~600/min per user and
#                  ~10,000/min per project; Gmail per-project units) and on cost.

locals {
  _functions = {
    intake-push = {
      entry_point = "intake_push"
      description = "Calendar push receiver: verifies the channel, publishes calendar-changes."
      trigger     = null
      public      = true # Google's push sender cannot authenticate
      uses        = []   # neither Workspace, KMS nor the Webex token
      publishes   = ["calendar-changes", "watch-renewals"] # changes; stops of unknown (orphan) channels
      memory      = "512M" # flask + one Firestore read + one publish; no Google API clients
      timeout     = 30     # Google retries a push that is not answered promptly
      concurrency = 80     # pure I/O; bursts from many users share few warm instances
      max         = 20     # 20 x 80 = 1,600 pushes in flight; more is answered 429 and retried by Google
    }
    process-changes = {
      entry_point = "process_changes"
      description = "Incremental Calendar sync per user: join details, meetings index."
      trigger     = "calendar-changes"
      ordering    = true # ordering key = user: one message of a user at a time, which the single-pass sync relies on
      uses        = ["workspace", "kms", "webex"]
      publishes   = ["meetings-updated"]
      memory      = "1024M" # googleapiclient discovery docs + Tink + a 2,500-event page
      timeout     = 540     # a full resync after 410 pages through a large calendar
      concurrency = 8       # waits on Calendar; ordering already serialises each user
      max         = 40      # 320 concurrent syncs stay well under ~10,000 Calendar calls/min
    }
    provisioning-worker = {
      entry_point = "process_changes"
      description = "Provisioning jobs: validation, first watch and initial full sync of a user."
      trigger     = "provisioning-jobs"
      uses        = ["workspace"]        # validation + watch; the initial sync runs in process-changes
      publishes   = ["calendar-changes"] # the initial sync request
      memory      = "1024M"              # same code and libraries as process-changes
      timeout     = 540     # validation + watch + initial full sync of one user
      concurrency = 4       # each job is Calendar-bound; bulk onboarding is spread, not rushed
      max         = 10      # a 10,000-user activation drains without tripping per-project quota
    }
    renew-watches = {
      entry_point = "renew_watches"
      description = "Scheduler tick: finds expiring channels and due reconciliations, fans out per user."
      trigger     = "renew-watches-tick"
      uses        = []
      publishes   = ["watch-renewals", "calendar-changes"] # renew/revalidate via the worker; reconciliation syncs directly
      memory      = "512M"                                 # an indexed query and publishes only
      timeout     = 300    # pages through every expiring channel of a large tenant
      concurrency = 1      # one tick at a time: overlapping scans only duplicate fan-out
      max         = 1      # a single scanner per tick
    }
    renew-watches-worker = {
      entry_point = "renew_watches"
      description = "Renews one user's push channel: new watch, record it, stop the old one."
      trigger     = "watch-renewals"
      uses        = ["workspace", "rooms"] # re-validates users and workspaces in error
      publishes   = ["calendar-changes"]   # a revalidated user's initial sync; older ticks' reconciliations
      memory      = "512M"                 # events.watch + channels.stop; no Tink
      timeout     = 120    # two Calendar calls with backoff
      concurrency = 8      # I/O bound
      max         = 10     # 80 renewals in flight: a week's channels renew in minutes
    }
    poll-vacations = {
      entry_point = "poll_vacations"
      description = "Scheduler tick: splits active users into shards, one message per shard."
      trigger     = "poll-vacations-tick"
      uses        = []
      publishes   = ["vacation-shards"]
      memory      = "512M" # lists users, publishes shards
      timeout     = 120    # must end well before the next tick (>= 1 minute later)
      concurrency = 1      # one tick at a time
      max         = 1      # a single sharder
    }
    vacation-worker = {
      entry_point = "poll_vacations"
      description = "Reads the Gmail vacation responder of one shard of users."
      trigger     = "vacation-shards"
      uses        = ["workspace"] # presence is stored as times and states only: nothing sealed
      publishes   = ["presence-updated"]
      memory      = "512M" # bounded thread pool of Gmail calls
      timeout     = 540    # shards are sized to finish well inside this
      concurrency = 1      # the shard bounds its own Gmail concurrency; one shard per instance keeps that bound
      max         = 20     # x the shard's concurrency = the ceiling on Gmail calls in flight
    }
    dispatch-joins = {
      entry_point = "dispatch_join_notifications"
      description = "Every minute: one join notification per meeting occurrence about to start."
      trigger     = "join-notifications-tick"
      uses        = []     # no KMS: the indexer sealed each notice; the tick adds the wrapped key
      publishes   = ["join-notifications"]
      memory      = "512M" # an indexed query and sealed payloads
      timeout     = 60     # must finish before the next minute's tick
      concurrency = 1      # one tick at a time (its tick lease and the records' marks de-duplicate anyway)
      max         = 2      # a late tick may overlap the next one
    }
    provision-users = {
      entry_point = "provision_users"
      description = "Admin endpoint: activate, deactivate, status."
      trigger     = null
      invokers    = "admins"
      # validates, watches and stops channels synchronously (<= 50 users; more are queued);
      # crypto-shredding deletes wrapped keys (a store operation, no KMS call)
      uses      = ["workspace", "rooms"]
      publishes = ["provisioning-jobs", "calendar-changes"] # large batches; initial syncs
      memory      = "512M" # validation + store writes + publish
      timeout     = 60     # slow work happens in provisioning-worker
      concurrency = 20     # I/O bound, low traffic
      max         = 5      # admin traffic only
    }
    meetings-api = {
      entry_point = "meetings_api"
      description = "Meetings list, RSVP, scheduling, free/busy and device sharing for apps and devices."
      trigger     = null
      # Public ingress, authenticated by the handler (docs/deploy.md, "meetings_api"): Cloud Run
      # IAM would strip ID-token signatures and can check neither device tokens nor browsers.
      public    = true
      # opens sealed records; keyword meetings are made by process-changes, but a room booked
      # from its device gets its join details here (webex: a space meeting as provider)
      uses      = ["workspace", "kms", "api-auth", "booking", "webex"]
      publishes = []
      memory      = "1024M" # opens sealed records (Tink) and builds Calendar clients
      timeout     = 60      # an interactive API: a caller does not wait longer
      concurrency = 40      # I/O bound (Firestore, Calendar, KMS)
      max         = 50      # 2,000 requests in flight
    }
  }

  # The catalogue with per-function overrides applied and every attribute present.
  functions = {
    for key, f in local._functions : key => {
      name          = "${var.prefix}-${key}"
      sa_id         = "${var.prefix}-${key}"
      entry_point   = f.entry_point
      description   = f.description
      trigger       = f.trigger
      ordering      = try(f.ordering, false)
      public        = try(f.public, false)
      invokers      = try(f.invokers, null)
      uses          = toset(f.uses)
      publishes     = toset(f.publishes)
      memory        = coalesce(try(var.functions[key].memory, null), f.memory)
      timeout       = coalesce(try(var.functions[key].timeout_seconds, null), f.timeout)
      concurrency   = coalesce(try(var.functions[key].concurrency, null), f.concurrency)
      max           = coalesce(try(var.functions[key].max_instances, null), f.max)
      min           = coalesce(try(var.functions[key].min_instances, null), 0)
      available_cpu = coalesce(try(var.functions[key].available_cpu, null), "1")
    }
  }

  # Every function loads the whole configuration at cold start (shared.config.load), so every
  # function gets the settings required in cloud mode and the tenant's; the few that only some
  # functions read (function_env_by_use) go to those only.
  function_env = {
    HYBRIDCAL_MODE                       = "cloud"
    GOOGLE_CLOUD_PROJECT                 = var.project_id
    HYBRIDCAL_DELEGATED_SA               = google_service_account.delegated.email
    HYBRIDCAL_DELEGATED_CLIENT_ID        = google_service_account.delegated.unique_id
    HYBRIDCAL_INTAKE_URL                 = local.intake_url
    HYBRIDCAL_KMS_KEY                    = google_kms_crypto_key.kek.id
    HYBRIDCAL_WEBEX_SITE                 = var.webex_site
    HYBRIDCAL_KEYWORDS                   = var.keywords
    HYBRIDCAL_ORG_DOMAINS                = join(",", var.org_domains)
    HYBRIDCAL_ORG_LOCALE                 = var.org_locale == null ? "" : var.org_locale
    HYBRIDCAL_WATCH_TTL_SECONDS          = tostring(var.watch_ttl_seconds)
    HYBRIDCAL_RENEWAL_HORIZON_SECONDS    = tostring(var.renewal_horizon_seconds)
    HYBRIDCAL_RECONCILE_INTERVAL_SECONDS = tostring(var.reconcile_interval_seconds)
    HYBRIDCAL_VACATION_INTERVAL_SECONDS  = tostring(var.vacation_interval_seconds)
    HYBRIDCAL_NOTIFY_LEAD_SECONDS        = tostring(var.notify_lead_seconds)
    HYBRIDCAL_INDEX_PAST_DAYS            = tostring(var.index_past_days)
    HYBRIDCAL_INDEX_FUTURE_DAYS          = tostring(var.index_future_days)
    HYBRIDCAL_DATA_KEY_ROTATION_DAYS     = tostring(var.data_key_rotation_days)
    HYBRIDCAL_MAX_DELIVERY_ATTEMPTS      = tostring(var.max_delivery_attempts)
    HYBRIDCAL_LOG_LEVEL                  = var.log_level
  }

  # Settings read only by the functions whose `uses` names them (secrets: secrets.tf).
  function_env_by_use = {
    api-auth = {
      # The audience callers' ID tokens must carry: meetings_api's own URL by default (the
      # predictable one, main.tf: the function cannot read its own output), or the app's OAuth
      # client id when the app forwards its users' Google Sign-In tokens.
      HYBRIDCAL_API_AUDIENCE = local.meetings_api_audience
      HYBRIDCAL_API_ADMINS   = join(",", var.meetings_api_admins)
    }
    rooms = {
      HYBRIDCAL_WORKSPACE_ADMIN = var.workspace_admin == null ? "" : var.workspace_admin
      HYBRIDCAL_ROOM_READER     = var.room_reader == null ? "" : var.room_reader
    }
    booking = {
      HYBRIDCAL_SCHEDULING_ACCOUNT      = var.scheduling_account == null ? "" : var.scheduling_account
      HYBRIDCAL_DEVICE_BOOKING_PROVIDER = var.device_booking_provider == null ? "" : var.device_booking_provider
    }
  }

  function_envs = {
    for key, f in local.functions : key => merge(
      local.function_env,
      [for use, env in local.function_env_by_use : env if contains(f.uses, use)]...
    )
  }

  _invoker_lists = {
    admins = var.provisioning_admins
  }
}

module "function" {
  source   = "./modules/function"
  for_each = local.functions

  project_id            = var.project_id
  region                = var.region
  name                  = each.value.name
  description           = each.value.description
  entry_point           = each.value.entry_point
  labels                = merge(var.labels, { function = each.key })
  service_account_email = google_service_account.function[each.key].email
  build_service_account_id = google_service_account.builder.id
  docker_repository        = google_artifact_registry_repository.functions.id
  source_archive = {
    bucket = google_storage_bucket.source.name
    object = google_storage_bucket_object.source.name
  }
  environment = local.function_envs[each.key]
  secrets     = local.function_secrets[each.key]

  function_config = {
    available_cpu   = each.value.available_cpu
    concurrency     = each.value.concurrency
    max_instances   = each.value.max
    memory          = each.value.memory
    min_instances   = each.value.min
    timeout_seconds = each.value.timeout
  }

  # HTTP functions face the internet (provision-users behind IAM; intake-push and meetings-api
  # public, checked by the handler); Pub/Sub-fed ones accept only internal traffic, which
  # includes Pub/Sub push from this project.
  ingress  = each.value.trigger == null ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
  public   = each.value.public
  invokers = each.value.invokers == null ? [] : local._invoker_lists[each.value.invokers]

  trigger_config = each.value.trigger == null ? null : {
    topic_id                   = google_pubsub_topic.topic[each.value.trigger].id
    topic_name                 = each.value.trigger
    dead_letter_topic_id       = google_pubsub_topic.dead_letter[each.value.trigger].id
    message_ordering           = each.value.ordering
    max_delivery_attempts      = var.max_delivery_attempts + 2
    push_service_account_email = google_service_account.push.email
  }

  depends_on = [
    google_project_service.this,
    google_secret_manager_secret_iam_member.accessor,
    google_secret_manager_secret_version.pseudonym_key,
    google_kms_crypto_key_iam_member.function,
    google_service_account_iam_member.sign_as_delegated,
    google_project_iam_member.function_datastore,
    google_project_iam_member.builder,
    google_project_iam_member.builder_function_sources,
    google_artifact_registry_repository_iam_member.builder,
    google_storage_bucket_iam_member.builder_source,
  ]
}
