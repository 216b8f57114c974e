"""The README's settings table is :func:`shared.config.settings_table`, character for character.

Regenerate it with ``python -m shared.config`` and paste it between the ``settings-table``
markers; ``tests/infra`` checks the Terraform side against the same ``SETTINGS``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config import SETTINGS, ConfigError, load, settings_table

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
START, END = "<!-- settings-table:start -->\n", "<!-- settings-table:end -->"


def test_readme_table_is_the_generated_one():
    table = README[README.index(START) + len(START):README.index(END)]
    assert table == settings_table(), "run `python -m shared.config` and paste its output"


def test_every_setting_has_one_row():
    rows = settings_table().splitlines()[2:]
    assert [row.split("`")[1] for row in rows] == [s.env for s in SETTINGS]


def test_delegated_client_id_is_the_numeric_unique_id():
    assert load({"HYBRIDCAL_DELEGATED_CLIENT_ID": "104857600000000000001"}).delegated_client_id \
        == "104857600000000000001"
    with pytest.raises(ConfigError, match="HYBRIDCAL_DELEGATED_CLIENT_ID"):
        load({"HYBRIDCAL_DELEGATED_CLIENT_ID": "hybridcal-delegated@p.iam.gserviceaccount.com"})
