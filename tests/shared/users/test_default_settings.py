"""Activating a user whose Calendar settings are still Google's defaults (#19 item 8).

Google may leave a setting at its default out of ``settings.get`` (Calendar settings
reference); activation failed on that for every user who never opened Calendar's settings.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_a_user_with_default_settings_is_activated_with_googles_defaults(quiet_stack):
    stack = quiet_stack
    stack.sim.add_user("fresh@example.com")  # locale and time zone never changed

    assert stack.activate("fresh@example.com") == "active"
    status = stack.user_status("fresh@example.com")
    assert (status["locale"], status["timezone"]) == ("en", "Etc/GMT")
