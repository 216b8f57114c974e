"""``infra/`` and the code must agree: a drift here is a broken deployment, not a style issue."""

from __future__ import annotations

import re

import pytest

from shared.bus.base import Topics
from shared.config import SETTINGS
from tests.infra import tf

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


def test_module_is_called_once_per_function_with_the_shared_environment():
    call = ROOT.modules["function"]
    assert call["source"] == "./modules/function"
    assert call["for_each"] == "${local.functions}"
    assert call["entry_point"] == "${each.value.entry_point}"
    assert call["environment"] == "${local.function_env}"
    assert call["secrets"] == "${local.function_secrets[each.key]}"


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


# -- configuration ----------------------------------------------------------------------------------


def _secret_env_names() -> set[str]:
    return set(re.findall(r"\b(HYBRIDCAL_[A-Z_]+)\s*=", ROOT.text["secrets.tf"]))


def test_every_setting_required_in_cloud_mode_is_set_on_every_function():
    env = ROOT.locals["function_env"]
    required = {s.env for s in SETTINGS if "cloud" in s.required_in}
    assert required <= set(env)
    assert env["HYBRIDCAL_MODE"] == "cloud"


def test_functions_set_only_real_settings():
    known = {s.env for s in SETTINGS}
    assert set(ROOT.locals["function_env"]) <= known
    assert _secret_env_names() <= known
    assert _secret_env_names() == {"HYBRIDCAL_PSEUDONYM_KEY", "HYBRIDCAL_WEBEX_TOKEN"}
    embedded_only = {"HYBRIDCAL_DATA_DIR", "HYBRIDCAL_ADMIN_TOKEN", "HYBRIDCAL_GOOGLE_API_ENDPOINT"}
    assert not embedded_only & set(ROOT.locals["function_env"])


def test_secrets_never_travel_as_plain_environment_variables():
    assert not _secret_env_names() & set(ROOT.locals["function_env"])
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


def test_intake_url_is_the_deterministic_url_of_the_intake_function():
    assert "intake-push" in FUNCTIONS
    assert ROOT.locals["intake_url"] == (
        "https://${var.region}-${var.project_id}.cloudfunctions.net/${var.prefix}-intake-push"
    )


# -- security -----------------------------------------------------------------------------------


def _all_infra_text() -> str:
    return ROOT.all_text() + MODULE.all_text()


def test_no_service_account_key_anywhere():
    assert "google_service_account_key" not in _all_infra_text()


def test_only_intake_push_is_public():
    assert {k for k, f in FUNCTIONS.items() if f.get("public")} == {"intake-push"}
    assert "allAuthenticatedUsers" not in _all_infra_text()
    public_lines = [line for line in _all_infra_text().splitlines() if '"allUsers"' in line]
    assert [line.strip() for line in public_lines] == [
        '{ for label, member in { public = "allUsers" } : label => member if var.public },'
    ]


def test_private_http_functions_name_their_invokers():
    for key, f in FUNCTIONS.items():
        if f["trigger"] is None and not f.get("public"):
            assert f.get("invokers") in ROOT.locals["_invoker_lists"], key


KMS_USERS = {
    # seal meeting records during sync
    "process-changes", "provisioning-worker",
    # open records for the API, and seal scheduled ones
    "meetings-api",
    # open meetings to build sealed notification payloads
    "dispatch-joins",
    # seal presence data
    "vacation-worker",
}


def test_kms_role_only_for_the_identities_that_seal_or_open():
    assert {k for k, f in FUNCTIONS.items() if "kms" in f["uses"]} == KMS_USERS
    grant = ROOT.resource("google_kms_crypto_key_iam_member", "function")
    assert grant["role"] == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert 'contains(f.uses, \\"kms\\")' in grant["for_each"] or "kms" in grant["for_each"]
    project_roles = ROOT.text["iam.tf"] + ROOT.text["main.tf"]
    assert "roles/cloudkms" not in project_roles


def test_key_rotates_and_cannot_be_destroyed_by_accident():
    key = ROOT.resource("google_kms_crypto_key", "kek")
    assert int(key["rotation_period"].rstrip("s")) <= 90 * 86400
    assert key["lifecycle"]["prevent_destroy"] is True


def test_delegation_is_keyless_and_scoped_to_the_delegated_account():
    grant = ROOT.resource("google_service_account_iam_member", "sign_as_delegated")
    assert grant["service_account_id"] == "${google_service_account.delegated.name}"
    assert grant["role"] == "roles/iam.serviceAccountTokenCreator"
    project_grants = ROOT.resources["google_project_iam_member"]
    for body in project_grants.values():
        assert "serviceAccountTokenCreator" not in str(body) and "serviceAccountUser" not in str(body)
    workspace = {k for k, f in FUNCTIONS.items() if "workspace" in f["uses"]}
    assert workspace == {"process-changes", "provisioning-worker", "renew-watches-worker",
                         "vacation-worker", "meetings-api"}


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
        ("users", [Filter("status", "==", "active"), Filter("next_reconcile_at", "<=", "T")],
         "next_reconcile_at"),
        ("meetings", [Filter("user_id", "==", "u")], None),
        ("meetings", [Filter("user_id", "==", "u"), Filter("series_id", "==", "s")], None),
        ("meetings", [Filter("user_id", "==", "u"), Filter("start", ">=", "a"),
                      Filter("start", "<", "b")], "start"),
        ("meetings", [Filter("start", ">=", "a"), Filter("start", "<=", "b")], "start"),
        ("series", [Filter("user_id", "==", "u")], None),
        ("data_keys", [Filter("user_id", "==", "u")], None),
    ]
    declared = {(i["collection"], tuple(i["fields"])) for i in ROOT.locals["indexes"].values()}
    for collection, filters, order_by in queries:
        needed = required_index(filters, order_by)
        assert needed is None or (collection, needed) in declared, (collection, needed)
    assert ROOT.resource("google_firestore_database", "this")["type"] == "FIRESTORE_NATIVE"


def test_idempotency_and_lease_collections_expire():
    ttl = ROOT.locals["ttl_collections"]
    for collection in ("processed", "attempts", "leases", "notifications"):
        assert f"'{collection}'" in ttl
    assert ROOT.resource("google_firestore_field", "ttl")["field"] == "expire_at"


def test_outputs_an_admin_needs():
    outputs = ROOT.outputs
    assert outputs["dwd_client_id"]["value"] == "${google_service_account.delegated.unique_id}"
    assert outputs["dwd_scopes"]["value"] == (
        "https://www.googleapis.com/auth/calendar,"
        "https://www.googleapis.com/auth/gmail.settings.basic"
    )
    assert outputs["intake_url"]["value"] == "${local.intake_url}"
    assert outputs["admin_endpoint_url"]["value"] == '${module.function["provision-users"].url}'
    assert outputs["meetings_api_url"]["value"] == '${module.function["meetings-api"].url}'


def test_source_archive_holds_only_the_deployable_code():
    excludes = ROOT.locals["_source_excludes"]
    shipped = {"main.py", "requirements.txt", "functions", "shared"}
    for entry in tf.ROOT.iterdir():
        name = entry.name
        if name in shipped:
            assert name not in excludes and f"{name}/**" not in excludes
        elif name.startswith("."):
            assert ".*" in excludes and ".*/**" in excludes
        else:
            assert name in excludes or f"{name}/**" in excludes, f"{name} would be deployed"
