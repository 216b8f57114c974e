"""IAM is enforced where the call is made, as Google enforces it: a grant taken away from the
plan makes the call fail with Google's 403 and shows up in ``iam_denials()``.

(Every other CloudStack scenario asserts that ``iam_denials()`` stays empty on infra/ as it is.)
"""

from __future__ import annotations

import pytest
import requests

from tests.cloudstack.scenarios import active, insert

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ANN, BEN = "ann@example.com", "ben@example.com"
TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"


def _sa(cloud, key: str) -> str:
    return f"serviceAccount:{cloud.functions[key].service_account}"


def _denials(cloud) -> list[tuple[str, str, str]]:
    return [(d.function, d.permission, d.resource.rsplit("/", 1)[-1])
            for d in cloud.iam_denials()]


def test_signing_as_the_delegated_account_needs_token_creator(cloud) -> None:
    delegated = f"projects/{cloud.project}/serviceAccounts/{cloud.delegated}"
    assert cloud.policy.revoke(_sa(cloud, "provision-users"), TOKEN_CREATOR, delegated) == 1
    cloud.add_user(ANN)
    watches = cloud.api_calls()["calendar.events.watch"]

    assert cloud.activate(ANN) == "error"

    assert cloud.user_status(ANN)["reason_code"] == "service_cannot_sign"
    assert _denials(cloud) == [("provision-users", "iam.serviceAccounts.signBlob",
                                cloud.delegated)]
    assert cloud.api_calls()["calendar.events.watch"] == watches


def test_publishing_and_decrypting_need_their_grants(cloud) -> None:
    active(cloud, BEN)
    insert(cloud, BEN, "Planning", "@webex")  # indexed (sealed) before the grants go
    cloud.settle()
    topic = f"projects/{cloud.project}/topics/calendar-changes"
    assert cloud.policy.revoke(_sa(cloud, "intake-push"), "roles/pubsub.publisher", topic) == 1
    key = cloud.environment("meetings-api")["HYBRIDCAL_KMS_KEY"]
    assert cloud.policy.revoke(_sa(cloud, "meetings-api"),
                               "roles/cloudkms.cryptoKeyEncrypterDecrypter", key) == 1

    patches = cloud.api_calls()["calendar.events.patch"]
    insert(cloud, BEN, "Review", "@webex")
    cloud.settle()  # Google retries the refused push with backoff, then gives up
    listed = requests.get(f"{cloud.url('meetings_api')}/users/{BEN}/meetings", timeout=60,
                          headers={"Authorization": f"Bearer {cloud.api_token('admin')}"})

    assert cloud.api_calls()["calendar.events.patch"] == patches
    assert listed.status_code >= 500, (listed.status_code, listed.text[:300])
    assert set(_denials(cloud)) == {
        ("intake-push", "pubsub.topics.publish", "calendar-changes"),
        ("meetings-api", "cloudkms.cryptoKeyVersions.useToDecrypt", "hybridcal-kek")}


def test_a_secret_without_its_accessor_grant_never_reaches_the_function(cloud) -> None:
    secret = f"projects/{cloud.project}/secrets/hybridcal-api-tokens"
    assert cloud.policy.revoke(_sa(cloud, "meetings-api"),
                               "roles/secretmanager.secretAccessor", secret) == 1
    cloud.api_token("device:room-1@example.com")  # a new version: meetings-api redeploys

    assert "HYBRIDCAL_API_TOKENS" not in cloud.environment("meetings-api")
    assert _denials(cloud) == [("meetings-api", "secretmanager.versions.access",
                                "hybridcal-api-tokens")]
