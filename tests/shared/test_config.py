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
