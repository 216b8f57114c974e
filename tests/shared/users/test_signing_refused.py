"""Activation in keyless mode (how the deployed service signs), against the Workspace simulator.

The service signs the delegation JWT through IAM Credentials (:mod:`tests.shared.google.iam_fake`
on 127.0.0.1, signing with the simulator's key so its token endpoint checks the assertion as
Google would). When the function may not sign, the user ends in ``error`` with
``service_cannot_sign`` and the grant to add, not ``pending`` with a false "quota" reason; a
delegation error names the client id that configuration (HYBRIDCAL_DELEGATED_CLIENT_ID) gives,
since no key file knows it.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from shared.bus.base import Topics
from shared.clock import from_rfc3339
from shared.google.factory import WorkspaceFactory
from shared.store import names
from shared.users import provisioning, status
from tests.shared.google.iam_fake import FUNCTION_SA

pytestmark = pytest.mark.integration

ANN = "ann@example.com"


@pytest.fixture
def keyless(stack, iam):
    """The stack's services, signing as the simulator's service account through IAM."""
    info = stack.sim.service_account_info
    iam.key_info = info
    factory = WorkspaceFactory(api_endpoint=stack.config.google_api_endpoint,
                               token_uri=stack.config.token_uri,
                               signer_email=info["client_email"], sleep=lambda seconds: None)
    assert factory.client_id is None  # keyless: only configuration knows the client id
    config = stack.services.config.replace(delegated_client_id=info["client_id"])
    stack.add_user(ANN)
    return dataclasses.replace(stack.services, workspace=factory, config=config)


def test_keyless_activation_works_when_the_function_may_sign(keyless, iam):
    iam.answer = None  # sign with the delegated account's key

    assert provisioning.activate_now(keyless, ANN) == "active"
    assert iam.requests  # the JWT was signed through IAM Credentials


def test_refused_signature_puts_the_user_in_error_with_the_grant_to_add(stack, keyless, iam):
    published_before = len(stack.published(Topics.CALENDAR_CHANGES))

    assert provisioning.activate_now(keyless, ANN) == "error"

    record = status.user_status(keyless, ANN)
    assert record["status"] == "error" and record["reason_code"] == "service_cannot_sign"
    assert f"grant {FUNCTION_SA} roles/iam.serviceAccountTokenCreator" in record["reason"]
    assert stack.sim.service_account_info["client_email"] in record["reason"]
    assert len(iam.requests) == 1  # refused once, never retried
    assert not stack.api_calls()  # no Calendar or Gmail request went out
    assert len(stack.published(Topics.CALENDAR_CHANGES)) == published_before
    # the back-off of a real failure (1 h), not the 5-minute retry of a quota answer
    doc = keyless.store.get(names.USERS, keyless.pseudonym(ANN))
    assert from_rfc3339(doc["next_validation_at"]) - keyless.clock.now() == timedelta(hours=1)


def test_delegation_error_names_the_configured_client_id(stack, keyless, iam):
    iam.answer = None
    client_id = stack.sim.service_account_info["client_id"]
    stack.sim.delegation.revoke(client_id)

    assert provisioning.activate_now(keyless, ANN) == "error"

    record = status.user_status(keyless, ANN)
    assert record["reason_code"] == "delegation_not_authorised"
    assert f"authorise client ID {client_id} " in record["reason"]
    assert status.UNKNOWN_CLIENT_ID not in record["reason"]


def test_refused_signature_on_a_workspace_names_the_grant_not_the_admins_delegation(
        stack, keyless, iam):
    from shared.users.workspaces import activate_workspace

    room = "room-1@example.com"
    stack.add_room(room, "Room 1")
    config = keyless.config.replace(workspace_admin="admin@example.com",
                                    room_reader="reader@example.com")

    assert activate_workspace(dataclasses.replace(keyless, config=config), room) == "error"

    record = status.user_status(keyless, room)
    assert record["reason_code"] == "service_cannot_sign"
    assert "roles/iam.serviceAccountTokenCreator" in record["reason"]
