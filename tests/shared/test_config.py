"""Configuration errors name the variable and the fix."""

from __future__ import annotations

import pytest

from shared.config import SETTINGS, Config, ConfigError, load


def test_defaults_give_a_working_embedded_config():
    config = load({})
    assert config.mode == "embedded"
    assert config.keywords == {"@webex": "webex-personal-room", "@meet": "webex-space"}
    assert config.watch_ttl_seconds == 604800


def test_cloud_mode_names_each_missing_variable():
    with pytest.raises(ConfigError, match="GOOGLE_CLOUD_PROJECT is required"):
        load({"HYBRIDCAL_MODE": "cloud"})


def test_malformed_value_names_variable_and_expected_form():
    with pytest.raises(ConfigError) as excinfo:
        load({"HYBRIDCAL_WATCH_TTL_SECONDS": "-5"})
    assert "HYBRIDCAL_WATCH_TTL_SECONDS" in str(excinfo.value)
    assert "positive integer" in str(excinfo.value)


def test_keywords_are_parsed_lowercase():
    config = load({"HYBRIDCAL_KEYWORDS": "@WebEx=webex-personal-room, @jitsi=jitsi"})
    assert config.keywords == {"@webex": "webex-personal-room", "@jitsi": "jitsi"}


@pytest.mark.parametrize("bad", ["webex=x", "@webex", "@=x", ""])
def test_bad_keyword_entries_are_refused(bad):
    with pytest.raises(ConfigError, match="HYBRIDCAL_KEYWORDS"):
        load({"HYBRIDCAL_KEYWORDS": bad or ","})


def test_plain_http_endpoint_only_for_loopback():
    assert load({"HYBRIDCAL_TOKEN_URI": "http://127.0.0.1:9/token"}).token_uri == "http://127.0.0.1:9/token"
    with pytest.raises(ConfigError, match="HYBRIDCAL_TOKEN_URI"):
        load({"HYBRIDCAL_TOKEN_URI": "http://evil.example/token"})


def test_every_setting_maps_to_a_config_field():
    names = set(Config.__dataclass_fields__)
    assert {s.attr for s in SETTINGS} <= names


def test_readme_documents_every_setting_with_its_default():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for setting in SETTINGS:
        assert f"| `{setting.env}` |" in readme, setting.env
        if setting.default:
            assert f"`{setting.default}`" in readme, setting.env


# -- what an admin sees when the configuration cannot work (issue #19) -----------------------
SECRET_TOKEN = "s3cr3t-TOKEN-do-not-print-0123456789"


@pytest.mark.parametrize("value", [
    f"{SECRET_TOKEN}=root",  # unknown principal kind
    f"{SECRET_TOKEN}",  # no "="
    f"short=user:ann@example.com,{SECRET_TOKEN}=user:nobody",  # a short token, a bad email
    f"ok-token-of-16-chars=admin, {SECRET_TOKEN}=device:room",
])
def test_a_bad_api_tokens_entry_never_echoes_a_token(value):
    with pytest.raises(ConfigError) as excinfo:
        load({"HYBRIDCAL_API_TOKENS": value})
    message = str(excinfo.value)
    assert "HYBRIDCAL_API_TOKENS" in message and "TOKEN=user:EMAIL" in message  # the format
    for secret in (SECRET_TOKEN, "s3cr3t", "ok-token-of-16", "short="):
        assert secret not in message


def test_every_secret_the_deployment_holds_is_a_secret_setting():
    """Secret Manager's settings (infra/secrets.tf) and the embedded admin token are the ones
    whose values an error must never show."""
    from tests.infra import tf

    deployed = {env for envs in tf.load().locals["_secrets_by_use"].values() for env in envs}
    secret = {s.env for s in SETTINGS if s.secret}
    assert deployed | {"HYBRIDCAL_PSEUDONYM_KEY", "HYBRIDCAL_ADMIN_TOKEN"} == secret


def test_cloud_mode_lists_every_missing_variable_at_once():
    with pytest.raises(ConfigError) as excinfo:
        load({"HYBRIDCAL_MODE": "cloud", "HYBRIDCAL_LOG_LEVEL": "LOUD"})
    required = [s.env for s in SETTINGS if "cloud" in s.required_in]
    assert len(required) >= 5
    problems = excinfo.value.problems
    assert [p.split(" ", 1)[0] for p in problems] == [*required, "HYBRIDCAL_LOG_LEVEL='LOUD'"]
    assert all(f"{env} is required" in str(excinfo.value) for env in required)


@pytest.mark.parametrize(("env", "value", "expected"), [
    ("HYBRIDCAL_KMS_KEY", "projects/p-123456/locations/global/keyRings/hybridcal",
     "projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY"),
    ("HYBRIDCAL_KMS_KEY", "gcp-kms://projects/p-123456/locations/global/keyRings/r/cryptoKeys/k",
     "not a key ring, a key version or a URL"),
    ("HYBRIDCAL_KMS_KEY", "projects/p-123456/locations/global/keyRings/r/cryptoKeys/k/"
     "cryptoKeyVersions/1", "cryptoKeys/KEY"),
    ("HYBRIDCAL_LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("HYBRIDCAL_LOG_LEVEL", "20", "DEBUG, INFO"),
    ("HYBRIDCAL_ORG_LOCALE", "klingon", "de, en, es, fr"),
    ("HYBRIDCAL_ORG_LOCALE", "xx-XX", "pt_BR"),
    ("HYBRIDCAL_KEYWORDS", "@webex=zoom", "unknown provider"),
    ("HYBRIDCAL_KEYWORDS", "@webex=webex-personal-room,@x=url", "url:TEMPLATE"),
    ("HYBRIDCAL_KEYWORDS", "@webex=webex-space:extra", "unknown provider"),
    ("HYBRIDCAL_WATCH_TTL_SECONDS", "2592000", "at most 604800"),
    ("HYBRIDCAL_WATCH_TTL_SECONDS", "one week", "positive"),
])
def test_values_that_cannot_work_are_refused_at_start_up_with_the_expected_format(
        env, value, expected):
    with pytest.raises(ConfigError) as excinfo:
        load({env: value})
    assert str(excinfo.value).startswith(env) and expected in str(excinfo.value)


@pytest.mark.parametrize(("env", "value", "attr", "parsed"), [
    ("HYBRIDCAL_KMS_KEY", "projects/hybridcal-local/locations/europe-west1/keyRings/"
     "hybridcal/cryptoKeys/hybridcal-kek", "kms_key", None),
    ("HYBRIDCAL_LOG_LEVEL", "warning", "log_level", "WARNING"),
    ("HYBRIDCAL_ORG_LOCALE", "pt-BR", "org_locale", "pt-BR"),
    ("HYBRIDCAL_ORG_LOCALE", "en-GB", "org_locale", "en-GB"),
    ("HYBRIDCAL_KEYWORDS", "@j=jitsi,@k=jitsi:https://jitsi.example.com,@u=url:https://x/{name}",
     "keywords", {"@j": "jitsi", "@k": "jitsi:https://jitsi.example.com",
                  "@u": "url:https://x/{name}"}),
    ("HYBRIDCAL_WATCH_TTL_SECONDS", "604800", "watch_ttl_seconds", 604800),
])
def test_values_that_work_are_kept(env, value, attr, parsed):
    assert getattr(load({env: value}), attr) == (value if parsed is None else parsed)
