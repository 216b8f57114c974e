"""Verifying Google-signed ID tokens behind the boundary, against the simulator's issuer and
certificates endpoint (real google-auth, real HTTP)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from local.workspace_sim import WorkspaceSimulator
from shared.errors import PermanentError, TransientError
from shared.google import id_tokens
from shared.google.errors import GoogleTransientError, InvalidIdToken

pytestmark = pytest.mark.integration

AUDIENCE = "https://hybridcal.example/meetings_api"
ANN = "ann@example.com"


@pytest.fixture(scope="module")
def sim() -> Iterator[WorkspaceSimulator]:
    with WorkspaceSimulator() as running:
        yield running


def test_a_valid_token_answers_its_claims(sim):
    claims = id_tokens.verify(sim.id_tokens.issue(ANN, AUDIENCE), audience=AUDIENCE,
                              certs_url=sim.certs_url)

    assert claims["email"] == ANN and claims["email_verified"] is True
    assert claims["aud"] == AUDIENCE and isinstance(claims, dict)


@pytest.mark.parametrize("make", [
    lambda sim: sim.id_tokens.issue(ANN, "https://elsewhere.example"),
    lambda sim: sim.id_tokens.issue(ANN, AUDIENCE, lifetime=-600),
    lambda sim: (lambda good: good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB"))(
        sim.id_tokens.issue(ANN, AUDIENCE)),
    lambda sim: "not.a.token",
    lambda sim: "a" * 40,
], ids=["other audience", "expired", "forged signature", "garbage", "no dots"])
def test_a_bad_token_is_invalid_and_says_nothing_of_its_claims(sim, make):
    with pytest.raises(InvalidIdToken) as raised:
        id_tokens.verify(make(sim), audience=AUDIENCE, certs_url=sim.certs_url)

    assert isinstance(raised.value, PermanentError)
    assert raised.value.problem  # the kind, for the security log
    assert ANN not in str(raised.value) and "elsewhere" not in str(raised.value)


def test_an_audience_is_required():
    with pytest.raises(ValueError):  # google-auth would skip the audience check
        id_tokens.verify("a.b.c", audience="", certs_url="http://127.0.0.1:9/certs")


def test_unreachable_certificates_are_transient_not_the_callers_fault(sim):
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]

    with pytest.raises(GoogleTransientError) as raised:
        id_tokens.verify(sim.id_tokens.issue(ANN, AUDIENCE), audience=AUDIENCE,
                         certs_url=f"http://127.0.0.1:{port}/oauth2/v1/certs")

    assert isinstance(raised.value, TransientError)
    assert "127.0.0.1" not in str(raised.value)


def test_a_certificates_endpoint_that_fails_is_transient(sim):
    with pytest.raises(GoogleTransientError):
        id_tokens.verify(sim.id_tokens.issue(ANN, AUDIENCE), audience=AUDIENCE,
                         certs_url=sim.url + "oauth2/v1/no-such-certs")


def test_forty_concurrent_verifications_share_the_transport(sim):
    tokens = [sim.id_tokens.issue(f"u{n}@example.com", AUDIENCE) for n in range(40)]

    with ThreadPoolExecutor(max_workers=40) as pool:
        emails = list(pool.map(lambda token: id_tokens.verify(
            token, audience=AUDIENCE, certs_url=sim.certs_url)["email"], tokens))

    assert emails == [f"u{n}@example.com" for n in range(40)]
