"""Who may read which meetings list, decided directly by shared/meetings/auth.py (#22).

Found by mutation testing: which credentials ``meetings_api`` accepts (API tokens, Google-signed
ID tokens checked by the real google-auth against the Workspace simulator's certificates) and
what each caller may read or do. test_meetings_api.py and test_device_reads_only_its_room.py
run the same rules through the HTTP entry point on the embedded stack (about 2 s a test);
these are fast enough for the module's mutation run (mutation/config.toml).
"""

from __future__ import annotations

import dataclasses
import time

import pytest

from shared.errors import Forbidden, Unauthorized
from shared.meetings.auth import Principal, authenticate, in_org_domains
from tests.shared.users.direct import Env

ANN, BEN = "ann@example.com", "ben@example.com"
ROOM, OTHER_ROOM = "room-1@example.com", "room-2@example.com"
AUDIENCE = "https://hybridcal.example.com/meetings_api"
USER_TOKEN = "user-token-0123456789abcdef"
DEVICE_TOKEN = "device-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """One simulator for the module: only its ID-token certificates are used here."""
    running = Env(tmp_path_factory.mktemp("auth"), {
        "HYBRIDCAL_API_TOKENS": f"{USER_TOKEN}=user:Ann@Example.com,"
                                f"{DEVICE_TOKEN}=device:{ROOM},{ADMIN_TOKEN}=admin",
        "HYBRIDCAL_API_AUDIENCE": AUDIENCE, "HYBRIDCAL_API_ADMINS": "boss@example.com",
        "HYBRIDCAL_ORG_DOMAINS": "example.com"})
    running.config = running.config.replace(id_token_certs_url=running.sim.certs_url)
    running.services = dataclasses.replace(running.services, config=running.config)
    yield running
    running.close()


def _caller(stack, token, scheme="Bearer"):
    return authenticate(stack.services, {"authorization": f"{scheme} {token}"})


def _signed(stack, claims, *, lifetime=3600):
    """An ID token signed with the simulator's Google key, with exactly ``claims`` (Google
    leaves ``email`` out when the caller did not ask for the email scope)."""
    from google.auth import crypt, jwt

    issuer = stack.sim.id_tokens
    now = int(time.time())
    signer = crypt.RSASigner.from_string(issuer._pem, key_id=issuer.key_id)
    return jwt.encode(signer, {"iss": "https://accounts.google.com", "aud": AUDIENCE,
                               "sub": "1234", "iat": now, "exp": now + lifetime,
                               **claims}).decode()


# -- API tokens ---------------------------------------------------------------------------------

# The refusal's message is the 401/403 body's text: it tells the caller what to fix.
MISSING = r"^missing bearer credentials \(an ID token or an API token\)$"
UNKNOWN = r"^credentials not recognised$"
BAD_ID_TOKEN = r"^ID token invalid, expired or for another audience$"
NO_EMAIL = r"^ID token carries no verified email$"
OUTSIDE = r"^this account is not in the organisation's domains$"


def test_no_or_other_scheme_credentials_are_401(stack):
    with pytest.raises(Unauthorized, match=MISSING):
        authenticate(stack.services, {})
    with pytest.raises(Unauthorized, match=MISSING):
        _caller(stack, USER_TOKEN, scheme="Basic")
    with pytest.raises(Unauthorized, match=MISSING):
        _caller(stack, "")


@pytest.mark.parametrize("token", [
    "not-a-known-token", USER_TOKEN[:-1], USER_TOKEN + "x", USER_TOKEN[:-1] + "X",
    USER_TOKEN.upper(), "a.b.c.d"])
def test_an_unknown_or_altered_api_token_is_401(stack, token):
    with pytest.raises(Unauthorized, match=UNKNOWN):
        _caller(stack, token)


def test_a_user_token_reads_and_acts_only_for_its_user(stack):
    ann = _caller(stack, USER_TOKEN)
    assert ann == Principal("user", ANN)
    assert ann.may_read(ANN) and ann.may_read("ANN@example.COM")
    assert not ann.may_read(BEN) and not ann.may_read(ROOM)
    assert ann.may_act_for(ANN) and ann.may_act_for("Ann@Example.com")
    assert not ann.may_act_for(BEN)


def test_a_device_reads_only_its_own_room_and_never_acts(stack):
    device = _caller(stack, DEVICE_TOKEN)
    assert device == Principal("device", ROOM)
    assert device.may_read(ROOM) and device.may_read(ROOM.upper())
    assert not device.may_read(OTHER_ROOM)  # another workspace
    assert not device.may_read(ANN)  # a user
    assert not device.may_act_for(ROOM) and not device.may_act_for(ANN)


def test_an_admin_token_reads_and_acts_for_everyone(stack):
    admin = _caller(stack, ADMIN_TOKEN)
    assert admin.kind == "admin"
    assert admin.may_read(ANN) and admin.may_read(ROOM)
    assert admin.may_act_for(BEN)


def test_a_token_is_recognised_whatever_its_place_in_the_list(stack):
    # the scan compares every configured token, not the first one only
    assert _caller(stack, ADMIN_TOKEN).kind == "admin"
    assert _caller(stack, DEVICE_TOKEN).kind == "device"


def test_an_unknown_three_part_token_without_an_id_token_audience_is_401(stack):
    without = dataclasses.replace(stack.services, config=stack.config.replace(api_audience=None))
    token = stack.sim.id_tokens.issue(ANN, AUDIENCE)
    with pytest.raises(Unauthorized, match=UNKNOWN):
        authenticate(without, {"authorization": f"Bearer {token}"})
    # the API tokens still work there
    assert authenticate(without, {"authorization": f"Bearer {USER_TOKEN}"}).kind == "user"


# -- Google-signed ID tokens --------------------------------------------------------------------

def test_an_id_token_of_an_organisation_user_reads_only_their_own(stack):
    ann = _caller(stack, stack.sim.id_tokens.issue("Ann@Example.com", AUDIENCE))
    assert ann == Principal("user", ANN)
    assert ann.may_read(ANN) and not ann.may_read(BEN)


def test_an_id_token_of_a_listed_admin_reads_everyones(stack):
    boss = _caller(stack, stack.sim.id_tokens.issue("boss@example.com", AUDIENCE))
    assert boss == Principal("admin", "boss@example.com")
    assert boss.may_read(ANN)


@pytest.mark.parametrize("make", [
    lambda sim: sim.id_tokens.issue(ANN, "https://another.example.com/api"),  # audience
    lambda sim: sim.id_tokens.issue(ANN, AUDIENCE, lifetime=-120),  # expired
    lambda sim: sim.id_tokens.issue(ANN, AUDIENCE)[:-4] + "AAAA",  # signature altered
    lambda sim: type(sim.id_tokens)().issue(ANN, AUDIENCE),  # signed with another key
], ids=["other-audience", "expired", "altered", "forged"])
def test_a_bad_id_token_is_401(stack, make):
    with pytest.raises(Unauthorized, match=BAD_ID_TOKEN):
        _caller(stack, make(stack.sim))


def test_an_id_token_without_a_verified_email_is_403(stack):
    with pytest.raises(Forbidden, match=NO_EMAIL):
        _caller(stack, stack.sim.id_tokens.issue(ANN, AUDIENCE, verified=False))
    with pytest.raises(Forbidden, match=NO_EMAIL):
        _caller(stack, _signed(stack, {"email_verified": True}))  # no email claim at all
    with pytest.raises(Forbidden, match=NO_EMAIL):
        _caller(stack, _signed(stack, {"email": ANN}))  # verification not stated
    assert _caller(stack, _signed(stack, {"email": ANN, "email_verified": True})
                   ) == Principal("user", ANN)


@pytest.mark.parametrize("email", [
    "someone@gmail.com", "ann@sub.example.com", "ann@example.com.evil.test",
    "ann@notexample.com"])
def test_an_id_token_of_an_account_outside_the_organisation_is_401(stack, email):
    with pytest.raises(Unauthorized, match=OUTSIDE):
        _caller(stack, stack.sim.id_tokens.issue(email, AUDIENCE))


def test_organisation_domains_match_exactly_after_the_last_at():
    domains = ("example.com", "example.org")
    assert in_org_domains("ann@example.org", domains)
    assert in_org_domains('"a@b"@example.com', domains)
    assert not in_org_domains("ann@sub.example.com", domains)
    assert not in_org_domains("example.com@evil.test", domains)
    assert not in_org_domains("ann@", domains)
