"""``infra/`` and the code must agree: a drift here is a broken deployment, not a style issue.

What each function publishes, signs and decrypts is not listed here either: it is what the
functions *did* on the deployed topology (``tests/cloudstack/test_grants_evidence.py``: every
grant Terraform gives is exercised, none is missing). What stays here is what a run cannot
show as a grant: the settings and secrets each function reads, derived from the code
(:mod:`tests.infra.derive`, the handler's call graph), and the shape of the Terraform.
"""

from __future__ import annotations

import re

import pytest

from shared.bus.base import Topics
from shared.config import SETTINGS
from tests.infra import derive, tf

ROOT = tf.load()
MODULE = tf.load(tf.MODULE)
FUNCTIONS = tf.functions()

needs_main = pytest.mark.skipif(
    not (tf.ROOT / "main.py").exists(), reason="main.py is not written yet (entry points unknown)"
)


def _deployments(entry_point: str) -> dict[str, dict]:
    return {k: f for k, f in FUNCTIONS.items() if f["entry_point"] == entry_point}


# -- functions -----------------------------------------------------------------------------------


@needs_main
def test_every_entry_point_is_deployed_and_nothing_else():
    deployed = {f["entry_point"] for f in FUNCTIONS.values()}
    assert deployed == set(tf.entry_points())


@needs_main
@pytest.mark.parametrize("entry_point", tf.entry_points() if (tf.ROOT / "main.py").exists() else [])
def test_trigger_type_matches_the_handler_signature(entry_point):
    kind = tf.signature_type(entry_point)
    for key, f in _deployments(entry_point).items():
        if kind == "http":
            assert f["trigger"] is None, f"{key}: an HTTP handler cannot take a Pub/Sub trigger"
        else:
            assert f["trigger"], f"{key}: a CloudEvent handler needs a trigger topic"


def _cloudevent_entry_points() -> list[str]:
    if not (tf.ROOT / "main.py").exists():
        return []
    return [e for e in tf.entry_points() if tf.signature_type(e) == "cloud_event"]


@needs_main
@pytest.mark.parametrize("entry_point", _cloudevent_entry_points())
def test_cloudevent_deployments_cover_exactly_the_topics_the_handler_routes(entry_point):
    triggers = {f["trigger"] for f in _deployments(entry_point).values()}
    assert triggers == tf.routed_topics(entry_point)


def test_every_function_key_fits_the_service_account_id_limit():
    prefix_max = 9  # variable "prefix" validation
    for key in FUNCTIONS:
        assert re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", key)
        assert prefix_max + 1 + len(key) <= 30, f"{key}: service account id would exceed 30 chars"


def test_module_is_called_once_per_function_with_its_environment():
    call = ROOT.modules["function"]
    assert call["source"] == "./modules/function"
    assert call["for_each"] == "${local.functions}"
    assert call["entry_point"] == "${each.value.entry_point}"
    assert call["environment"] == "${local.function_envs[each.key]}"
    assert call["secrets"] == "${local.function_secrets[each.key]}"
    # the shared environment, plus what the function's `uses` names
    envs = " ".join(ROOT.locals["function_envs"].split())
    assert "merge(local.function_env,[for use , env in local.function_env_by_use : env" in envs
    assert "if contains(f.uses,use)" in envs


def test_every_sizing_choice_carries_its_justification():
    text = ROOT.text["functions.tf"]
    body = text[text.index("_functions = {") : text.index("# The catalogue with")]
    for line in body.splitlines():
        if re.match(r"\s*(memory|timeout|concurrency|max)\s*=", line):
            assert "#" in line, f"unjustified sizing: {line.strip()}"


def test_pubsub_fed_functions_time_out_before_the_push_ack_deadline():
    for key, f in FUNCTIONS.items():
        if f["trigger"]:
            assert f["timeout"] <= 540, key
    # concurrency > 1 needs a whole vCPU: every function gets one unless overridden, and the
    # module's validation rejects an override that breaks the rule.
    catalogue = " ".join(ROOT.text["functions.tf"].split())
    assert 'available_cpu = coalesce(try(var.functions[key].available_cpu, null), "1")' in catalogue
    assert "tonumber(var.function_config.available_cpu) >= 1" in MODULE.text["variables.tf"]


# -- topics and subscriptions ----------------------------------------------------------------------


def test_every_code_topic_exists_and_nothing_else():
    triggers = {f["trigger"] for f in FUNCTIONS.values() if f["trigger"]}
    external = set(ROOT.locals["external_topics"].removeprefix("${toset(").removesuffix(")}")
                   .strip("[]").replace("'", "").replace(" ", "").split(","))
    assert triggers | external == set(Topics.all())
    assert not triggers & external, "a topic is consumed both inside and outside"
    topic = ROOT.resource("google_pubsub_topic", "topic")
    assert topic["for_each"] == "${local.topics}"
    assert topic["name"] == "${each.value}"  # exact names: the code publishes by name


def test_every_topic_has_a_dead_letter_topic_named_as_the_code_expects():
    dead = ROOT.resource("google_pubsub_topic", "dead_letter")
    assert dead["for_each"] == "${local.topics}"
    assert dead["name"] == "${each.value}-dead-letter"
    assert Topics.dead_letter("x") == "x-dead-letter"
    hold = ROOT.resource("google_pubsub_subscription", "dead_letter")
    assert hold["topic"] == "${google_pubsub_topic.dead_letter[each.value].id}"


@pytest.mark.parametrize(
    "subscription",
    [MODULE.resource("google_pubsub_subscription", "push"),
     ROOT.resource("google_pubsub_subscription", "external")],
    ids=["function-push", "collaboration-pull"],
)
def test_consumer_subscriptions_retry_with_backoff_and_dead_letter(subscription):
    assert set(subscription["retry_policy"]) == {"minimum_backoff", "maximum_backoff"}
    assert "dead_letter_topic" in subscription["dead_letter_policy"]
    assert "max_delivery_attempts" in subscription["dead_letter_policy"]
    assert subscription["message_retention_duration"]
    assert subscription["expiration_policy"]["ttl"] == ""


def test_delivery_attempts_are_bounded_and_leave_the_handler_room_to_dead_letter():
    default = int(next(s.default for s in SETTINGS if s.env == "HYBRIDCAL_MAX_DELIVERY_ATTEMPTS"))
    variable = ROOT.variables["max_delivery_attempts"]
    assert variable["default"] == default
    assert "<= 98" in variable["validation"]["condition"]  # + 2 stays within Pub/Sub's 100
    assert "${var.max_delivery_attempts + 2}" in ROOT.modules["function"]["trigger_config"]
    condition = MODULE.variables["trigger_config"]["validation"]["condition"]
    assert ">= 5" in condition and "<= 100" in condition


def test_calendar_changes_is_delivered_in_order():
    ordered = {f["trigger"] for f in FUNCTIONS.values() if f.get("ordering")}
    assert ordered == {Topics.CALENDAR_CHANGES}
    push = MODULE.resource("google_pubsub_subscription", "push")
    assert push["enable_message_ordering"] == "${var.trigger_config.message_ordering}"


def test_push_endpoint_path_names_the_topic_for_the_cloudevent_source():
    # functions-framework turns .../projects/P/topics/T into source //pubsub.../topics/T, which
    # functions/_events.py dispatches on.
    endpoint = MODULE.locals["_push_endpoint"]
    assert "/projects/${var.project_id}/topics/${var.trigger_config.topic_name}" in endpoint


def test_every_external_topic_keeps_messages_for_its_consumer():
    external = ROOT.resource("google_pubsub_subscription", "external")
    assert external["for_each"] == "${local.external_topics}"
    assert external["topic"] == "${google_pubsub_topic.topic[each.value].id}"


# -- scheduler ------------------------------------------------------------------------------------


def test_every_scheduler_job_targets_a_real_tick_topic_and_every_tick_has_a_job():
    schedules = ROOT.locals["schedules"]
    topics = {s["topic"] for s in schedules.values()}
    assert topics <= set(Topics.all())
    ticks = {t for t in Topics.all() if t.endswith("-tick")}
    assert topics == ticks
    for name, job in schedules.items():
        cron = re.sub(r"\$\{[^}]*\}", "N", job["schedule"])  # interpolations are one token
        assert len(cron.split()) == 5, name
    job = ROOT.resource("google_cloud_scheduler_job", "tick")
    assert job["pubsub_target"]["topic_name"] == "${google_pubsub_topic.topic[each.value.topic].id}"


def test_join_notifications_tick_every_minute():
    assert ROOT.locals["schedules"]["join-notifications"]["schedule"] == "* * * * *"


# -- what each function does, derived from the code ---------------------------------------------


def _derived(key: str) -> derive.Deployed:
    f = FUNCTIONS[key]
    return derive.deployed(f["entry_point"], f["trigger"])


def _listed(key: str, attribute: str) -> set[str]:
    """A catalogue list as a set (python-hcl2 hands a one-element list over as its element)."""
    value = FUNCTIONS[key][attribute]
    return {value} if isinstance(value, str) else set(value)


@pytest.mark.parametrize("key", list(FUNCTIONS))
def test_catalogue_uses_exactly_what_the_code_uses(key):
    """workspace (delegated clients), kms (sealer methods reaching the KEK), webex, api-auth,
    rooms, booking (settings read): each use the catalogue names, no more, no less. (That the
    grants these drive are the ones the code needs is shown by running it: CloudStack's
    ``test_grants_evidence``; this static check also covers the uses that are settings only.)"""
    assert _listed(key, "uses") == set(_derived(key).uses)


def test_publisher_grants_follow_the_catalogue():
    grants = " ".join(ROOT.locals["_publish_grants"].split())
    assert "for key , f in local.functions : [for topic in f.publishes" in grants
    assert "google_pubsub_topic.dead_letter[f.trigger].name" in grants and "if f.trigger != None" in grants
    grant = ROOT.resource("google_pubsub_topic_iam_member", "function_publisher")
    assert grant["for_each"] == "${local._publish_grants}"
    assert grant["role"] == "roles/pubsub.publisher"
    assert grant["member"] == "${google_service_account.function[each.value.key].member}"


def test_kms_role_only_for_the_identities_that_seal_or_open():
    grant = ROOT.resource("google_kms_crypto_key_iam_member", "function")
    assert grant["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert 'if contains(f.uses,"kms")' in grant["for_each"]
    assert grant["crypto_key_id"] == "${google_kms_crypto_key.kek.id}"
    project_roles = ROOT.text["iam.tf"] + ROOT.text["main.tf"]
    assert "roles/cloudkms" not in project_roles


def test_delegation_is_keyless_and_scoped_to_the_delegated_account():
    grant = ROOT.resource("google_service_account_iam_member", "sign_as_delegated")
    assert grant["service_account_id"] == "${google_service_account.delegated.name}"
    assert grant["role"] == "roles/iam.serviceAccountTokenCreator"
    assert "workspace" in grant["for_each"] and "contains(f.uses" in grant["for_each"]
    project_grants = ROOT.resources["google_project_iam_member"]
    for body in project_grants.values():
        assert "serviceAccountTokenCreator" not in str(body) and "serviceAccountUser" not in str(body)


def _settings_by_env() -> dict[str, str]:
    return {s.env: s.attr for s in SETTINGS}


def test_scoped_settings_and_secrets_are_keyed_by_the_use_that_reads_them():
    """The settings only some functions get are exactly those the matching use is derived from."""
    attr = _settings_by_env()
    by_use = {use: {attr[env] for env in envs}
              for use, envs in ROOT.locals["function_env_by_use"].items()}
    secrets = {use: {attr[env] for env in envs}
               for use, envs in ROOT.locals["_secrets_by_use"].items()}
    for use in set(by_use) | set(secrets):
        assert by_use.get(use, set()) | secrets.get(use, set()) == derive.USES_BY_SETTING[use], use
    assert not set(ROOT.locals["function_env"]) & {
        env for envs in ROOT.locals["function_env_by_use"].values() for env in envs}


# Settings deployed functions read but never get: embedded mode only, or a default that is
# right in the cloud.
EMBEDDED_ONLY = {"admin_token", "data_dir", "google_api_endpoint"}


@pytest.mark.parametrize("key", list(FUNCTIONS))
def test_every_setting_a_function_reads_is_given_to_it(key):
    """A setting without a default that the deployment's code reads reaches it: through the
    shared environment, its uses' settings, or its uses' secrets (when switched on)."""
    attr = _settings_by_env()
    uses = _listed(key, "uses")
    given = {attr[env] for env in ROOT.locals["function_env"]}
    given.add("pseudonym_key")  # every function's secret (secrets.tf)
    for use in uses:
        given |= {attr[env] for env in ROOT.locals["function_env_by_use"].get(use, {})}
        given |= {attr[env] for env in ROOT.locals["_secrets_by_use"].get(use, {})}
    defaults = {s.attr for s in SETTINGS if s.default is not None}
    missing = set(_derived(key).config) - given - defaults - EMBEDDED_ONLY
    assert not missing, f"{key} reads {sorted(missing)} but infra/ never sets them"


def test_every_function_pseudonymises_with_the_one_secret_key():
    for key in FUNCTIONS:
        assert "pseudonym_key" in _derived(key).config, key
    secrets = " ".join(ROOT.locals["function_secrets"].split())
    assert "HYBRIDCAL_PSEUDONYM_KEY" in secrets
    grants = " ".join(ROOT.locals["_secret_grants"].split())
    assert '"${key}/pseudonym-key"' in grants and "if contains(f.uses,use)" in grants


def test_admin_added_secrets_reach_functions_only_once_switched_on():
    enabled = ROOT.locals["_secret_enabled"]
    assert enabled == {"api-tokens": "${var.meetings_api_tokens_enabled}", "pseudonym-key": True,
                       "webex-token": "${var.webex_token_enabled}"}
    assert "if local._secret_enabled[secret]" in ROOT.locals["function_secrets"]
    for name in ("meetings_api_tokens_enabled", "webex_token_enabled"):
        assert ROOT.variables[name]["default"] is False


# -- configuration ----------------------------------------------------------------------------------


def test_every_setting_required_in_cloud_mode_is_set_on_every_function():
    env = ROOT.locals["function_env"]
    required = {s.env for s in SETTINGS if "cloud" in s.required_in}
    assert required <= set(env)
    assert env["HYBRIDCAL_MODE"] == "cloud"


def _secret_env_names() -> set[str]:
    return {env for envs in ROOT.locals["_secrets_by_use"].values() for env in envs} | {
        "HYBRIDCAL_PSEUDONYM_KEY"}


def test_functions_set_only_real_settings():
    known = {s.env for s in SETTINGS}
    scoped = {env for envs in ROOT.locals["function_env_by_use"].values() for env in envs}
    assert set(ROOT.locals["function_env"]) | scoped <= known
    assert _secret_env_names() <= known
    assert _secret_env_names() == {"HYBRIDCAL_PSEUDONYM_KEY", "HYBRIDCAL_WEBEX_TOKEN",
                                   "HYBRIDCAL_API_TOKENS"}
    assert not EMBEDDED_ONLY & {_settings_by_env()[e] for e in set(ROOT.locals["function_env"]) | scoped}


def test_secrets_never_travel_as_plain_environment_variables():
    scoped = {env for envs in ROOT.locals["function_env_by_use"].values() for env in envs}
    assert not _secret_env_names() & (set(ROOT.locals["function_env"]) | scoped)
    assert "secret_environment_variables" in MODULE.text["main.tf"]


@pytest.mark.parametrize(
    ("variable", "env"),
    [("watch_ttl_seconds", "HYBRIDCAL_WATCH_TTL_SECONDS"),
     ("renewal_horizon_seconds", "HYBRIDCAL_RENEWAL_HORIZON_SECONDS"),
     ("reconcile_interval_seconds", "HYBRIDCAL_RECONCILE_INTERVAL_SECONDS"),
     ("vacation_interval_seconds", "HYBRIDCAL_VACATION_INTERVAL_SECONDS"),
     ("notify_lead_seconds", "HYBRIDCAL_NOTIFY_LEAD_SECONDS"),
     ("index_past_days", "HYBRIDCAL_INDEX_PAST_DAYS"),
     ("index_future_days", "HYBRIDCAL_INDEX_FUTURE_DAYS"),
     ("data_key_rotation_days", "HYBRIDCAL_DATA_KEY_ROTATION_DAYS"),
     ("keywords", "HYBRIDCAL_KEYWORDS"),
     ("log_level", "HYBRIDCAL_LOG_LEVEL")],
)
def test_variable_defaults_match_the_code_defaults(variable, env):
    setting = next(s for s in SETTINGS if s.env == env)
    assert str(ROOT.variables[variable]["default"]) == setting.default
    assert f"var.{variable}" in ROOT.locals["function_env"][env]


@pytest.mark.parametrize(
    ("variable", "use", "env"),
    [("meetings_api_admins", "api-auth", "HYBRIDCAL_API_ADMINS"),
     ("workspace_admin", "rooms", "HYBRIDCAL_WORKSPACE_ADMIN"),
     ("room_reader", "rooms", "HYBRIDCAL_ROOM_READER"),
     ("scheduling_account", "booking", "HYBRIDCAL_SCHEDULING_ACCOUNT"),
     ("device_booking_provider", "booking", "HYBRIDCAL_DEVICE_BOOKING_PROVIDER")],
)
def test_tenant_variables_reach_the_setting_that_reads_them(variable, use, env):
    setting = next(s for s in SETTINGS if s.env == env)
    assert not setting.required_in  # optional features: unset = off
    assert f"var.{variable}" in ROOT.locals["function_env_by_use"][use][env]
    assert ROOT.variables[variable]["default"] in (None, [])


def test_the_delegation_error_names_the_real_client_id():
    env = ROOT.locals["function_env"]
    assert env["HYBRIDCAL_DELEGATED_CLIENT_ID"] == "${google_service_account.delegated.unique_id}"
    assert ROOT.outputs["dwd_client_id"]["value"] == "${google_service_account.delegated.unique_id}"


def _predictable_url(name: str) -> str:
    return "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.prefix}-" + name


def test_intake_url_is_the_deterministic_url_of_the_intake_function():
    assert "intake-push" in FUNCTIONS
    assert ROOT.locals["intake_url"] == _predictable_url("intake-push")


def test_meetings_api_audience_is_its_own_predictable_url_without_a_cycle():
    assert ROOT.locals["meetings_api_url"] == _predictable_url("meetings-api")
    assert ROOT.locals["meetings_api_audience"] == (
        "${coalesce(var.meetings_api_audience,local.meetings_api_url)}")
    assert ROOT.variables["meetings_api_audience"]["default"] is None
    api_auth = ROOT.locals["function_env_by_use"]["api-auth"]
    assert api_auth["HYBRIDCAL_API_AUDIENCE"] == "${local.meetings_api_audience}"
    assert "module.function" not in str(ROOT.locals["function_env"]) + str(api_auth)
    assert ROOT.outputs["meetings_api_url"]["value"] == "${local.meetings_api_url}"
    assert ROOT.outputs["meetings_api_audience"]["value"] == "${local.meetings_api_audience}"
    # checked against what Google reports once the function exists
    assert 'module.function["meetings-api"].url == local.meetings_api_url' in ROOT.text["main.tf"]


# -- security -----------------------------------------------------------------------------------


def _all_infra_text() -> str:
    return ROOT.all_text() + MODULE.all_text()


def test_no_service_account_key_anywhere():
    assert "google_service_account_key" not in _all_infra_text()


PUBLIC = {
    # Google's push sender cannot authenticate; the handler checks channel id + token.
    "intake-push",
    # Authenticated by the handler (ID-token signature and audience, device tokens in constant
    # time): Cloud Run IAM would strip the ID token's signature and refuse device tokens and
    # browsers (docs/deploy.md).
    "meetings-api",
}


def test_public_functions_are_exactly_those_that_authenticate_their_callers_themselves():
    assert {k for k, f in FUNCTIONS.items() if f.get("public")} == PUBLIC
    assert "allAuthenticatedUsers" not in _all_infra_text()
    public_lines = [line for line in _all_infra_text().splitlines() if '"allUsers"' in line]
    assert [line.strip() for line in public_lines] == [
        '{ for label, member in { public = "allUsers" } : label => member if var.public },'
    ]
    assert "api-auth" in _listed("meetings-api", "uses")  # its own checks are configured


def test_private_http_functions_name_their_invokers():
    for key, f in FUNCTIONS.items():
        if f["trigger"] is None and not f.get("public"):
            assert f.get("invokers") in ROOT.locals["_invoker_lists"], key
    assert "meetings_api_invokers" not in ROOT.variables  # replaced by the handler's checks


def test_key_rotates_and_cannot_be_destroyed_by_accident():
    key = ROOT.resource("google_kms_crypto_key", "kek")
    assert int(key["rotation_period"].rstrip("s")) <= 90 * 86400
    assert key["lifecycle"]["prevent_destroy"] is True


def test_builder_reads_the_function_sources_and_writes_only_its_repository():
    project = ROOT.resources["google_project_iam_member"]
    assert project["builder"]["for_each"] == "${toset(['roles/logging.logWriter'])}"
    sources = project["builder_function_sources"]
    assert sources["role"] == "roles/storage.objectViewer"
    assert sources["member"] == "${google_service_account.builder.member}"
    assert ROOT.locals["_gcf_sources_bucket"] == (
        "gcf-v2-sources-${data.google_project.this.number}-${var.region}")
    expression = sources["condition"]["expression"]
    assert "projects/_/buckets/${local._gcf_sources_bucket}" in expression
    assert "/objects/" in expression
    writer = ROOT.resource("google_artifact_registry_repository_iam_member", "builder")
    assert writer["role"] == "roles/artifactregistry.writer"
    assert writer["repository"] == "${google_artifact_registry_repository.functions.name}"
    assert ROOT.modules["function"]["docker_repository"] == (
        "${google_artifact_registry_repository.functions.id}")
    assert "docker_repository = var.docker_repository" in " ".join(MODULE.text["main.tf"].split())


def test_first_apply_orders_identities_after_their_apis():
    for name, body in ROOT.resources["google_service_account"].items():
        assert body.get("depends_on") == "${google_project_service.this}", name
    assert "iam.googleapis.com" in ROOT.locals["_services"]
    identity = ROOT.resource("google_project_service_identity", "pubsub")
    assert identity["service"] == "pubsub.googleapis.com"
    assert ROOT.locals["pubsub_agent"] == "${google_project_service_identity.pubsub.member}"
    assert "gcp-sa-pubsub" not in _all_infra_text()  # never named before it exists


def test_deploy_trigger_fires_on_main_only_and_waits_for_approval_by_default():
    triggers = ROOT.resources["google_cloudbuild_trigger"]
    assert list(triggers) == ["deploy"]
    deploy = triggers["deploy"]
    assert deploy["repository_event_config"]["push"] == {"branch": "^main$"}
    assert "pull_request" not in deploy["repository_event_config"]
    assert deploy["approval_config"]["approval_required"] == (
        "${var.deploy_trigger.require_approval}")
    assert "require_approval = optional(bool, true)" in ROOT.text["variables.tf"]
    assert deploy["filename"] == "cloudbuild.yaml"


def test_firestore_indexes_cover_the_store_queries():
    from shared.store.base import Filter
    from shared.store.firestore import required_index

    # Every query shape the code runs (kept in step with grep "Filter(" shared/).
    queries = [
        ("channels", [Filter("state", "==", "active"), Filter("expires", "<=", "T")], "expires"),
        ("channels", [Filter("state", "==", "active"), Filter("expires", "==", "T")], None),
        ("channels", [Filter("state", "==", "active"), Filter("expires", ">", "S"),
                      Filter("expires", "<=", "T")], "expires"),
        ("channels", [Filter("user_id", "==", "u")], None),
        ("channels", [Filter("resource_id", "==", "r")], None),
        ("users", [Filter("status", "==", "active")], None),
        ("users", [Filter("status", "==", "error"), Filter("next_validation_at", "<=", "T")],
         "next_validation_at"),
        ("users", [Filter("status", "in", ["error", "pending"]),
                   Filter("next_validation_at", "<=", "T")], "next_validation_at"),
        ("channels", [Filter("state", "in", ["opening", "active"]),
                      Filter("expires", "<=", "T")], "expires"),
        ("sync", [Filter("last_sync", "<=", "T")], "last_sync"),
        ("sync", [Filter("last_sync", "==", "T")], None),
        ("sync", [Filter("last_sync", ">", "S"), Filter("last_sync", "<=", "T")], "last_sync"),
        ("meetings", [Filter("user_id", "==", "u")], None),
        ("meetings", [Filter("user_id", "==", "u"), Filter("series_id", "==", "s")], None),
        ("meetings", [Filter("user_id", "==", "u"), Filter("start", ">=", "a"),
                      Filter("start", "<", "b")], "start"),
        ("meetings", [Filter("notify_at", ">=", "a"), Filter("notify_at", "<=", "b")],
         "notify_at"),
        ("series", [Filter("user_id", "==", "u")], None),
        ("data_keys", [Filter("user_id", "==", "u")], None),
    ]
    declared = {(i["collection"], tuple(i["fields"])) for i in ROOT.locals["indexes"].values()}
    for collection, filters, order_by in queries:
        needed = required_index(filters, order_by)
        assert needed is None or (collection, needed) in declared, (collection, needed)
    assert ROOT.resource("google_firestore_database", "this")["type"] == "FIRESTORE_NATIVE"


def test_ttl_policies_cover_exactly_the_collections_written_with_an_expiry():
    from shared.store import names
    from shared.store.firestore import TTL_FIELD

    ttl = set(re.findall(r"'([a-z_]+)'", ROOT.locals["ttl_collections"]))
    assert ttl == derive.expiring_collections()
    assert {names.RATELIMITS, names.ORPHAN_STOPS} <= ttl  # the public endpoint's writes
    assert set(names.NOT_PER_USER) <= ttl
    assert ROOT.resource("google_firestore_field", "ttl")["field"] == TTL_FIELD == "expire_at"


def test_outputs_an_admin_needs():
    outputs = ROOT.outputs
    assert outputs["dwd_client_id"]["value"] == "${google_service_account.delegated.unique_id}"
    assert outputs["dwd_scopes"]["value"] == (
        "https://www.googleapis.com/auth/calendar,"
        "https://www.googleapis.com/auth/gmail.settings.basic"
    )
    assert outputs["intake_url"]["value"] == "${local.intake_url}"
    assert outputs["admin_endpoint_url"]["value"] == '${module.function["provision-users"].url}'
    assert outputs["meetings_api_url"]["value"] == "${local.meetings_api_url}"
    assert outputs["api_tokens_secret"]["value"] == (
        '${google_secret_manager_secret.this["api-tokens"].secret_id}')


def test_source_archive_holds_only_the_deployable_code():
    excludes = ROOT.locals["_source_excludes"]
    shipped = {"main.py", "requirements.txt", "functions", "shared"}
    for entry in tf.ROOT.iterdir():
        name = entry.name
        if name in shipped:
            assert name not in excludes and f"{name}/**" not in excludes
        elif name.startswith("."):
            assert ".*" in excludes and ".*/**" in excludes
        else:  # ``**/x/**`` matches a top-level x too (doublestar globs), e.g. __pycache__
            assert {name, f"{name}/**", f"**/{name}/**"} & set(excludes), f"{name} would be deployed"


def test_infra_readme_grant_matrix_is_the_catalogues():
    text = (tf.INFRA / "README.md").read_text()
    section = text[text.index("## Who may do what"):text.index("## meetings_api: public")]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    documented = {}
    for row in rows:
        name, publishes, signs, kms, _ = (cell.strip() for cell in row.strip("|").split("|"))
        topics = {t.strip() for t in re.sub(r"\([^)]*\)", "", publishes).split(",") if t.strip()}
        documented[name.strip("`")] = (topics, signs == "yes", kms == "yes")
    assert set(documented) == set(FUNCTIONS)
    for key, (topics, signs, kms) in documented.items():
        assert topics == _listed(key, "publishes"), key
        assert signs == ("workspace" in _listed(key, "uses")), key
        assert kms == ("kms" in _listed(key, "uses")), key
