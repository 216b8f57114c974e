"""The catalogue table: breadth, exact slugs, every row recognising its own example."""

from __future__ import annotations

import pytest
import re2

from shared.joinlinks import SERVICES, JoinLink, find_join_link

REQUIRED_SLUGS = {"webex", "zoom", "zoom-gov", "microsoft-teams", "google-meet", "jitsi",
                  "gotomeeting", "gotowebinar", "bluejeans", "amazon-chime", "skype",
                  "skype-for-business", "whereby", "ringcentral", "zoho-meeting", "slack",
                  "discord", "lifesize", "vonage", "facetime", "around"}
KEBAB = re2.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def test_catalogue_has_at_least_60_services_with_unique_kebab_slugs() -> None:
    slugs = [service.slug for service in SERVICES]
    assert len(slugs) >= 60
    assert len(set(slugs)) == len(slugs)
    assert all(KEBAB.fullmatch(slug) for slug in slugs)


def test_issue_slugs_are_exact() -> None:
    assert REQUIRED_SLUGS <= {service.slug for service in SERVICES}


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.slug)
def test_every_service_recognises_its_example(service) -> None:
    assert find_join_link(location=service.example) == JoinLink(service.example, service.slug,
                                                                "location")


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.slug)
def test_no_service_claims_its_bare_vendor_domain(service) -> None:
    for domain in service.domains:
        if not domain.endswith(".*"):
            assert find_join_link(description=f"https://{domain}/") is None
            assert find_join_link(description=f"see https://{domain} for details") is None
