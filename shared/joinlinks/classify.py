"""Which service a clean URL belongs to: a host-suffix index over the catalogue, then RE2.

The catalogue is compiled once, at import. A URL is classified by walking its host's
suffixes from the longest (``events.zoom.us`` before ``zoom.us``) and trying the few rows
indexed under each, then the rows indexed by host prefix (``meet.*``). Hosts longer than DNS
allows are refused, so the walk is bounded; each pattern is RE2, linear in the URL.

Host prefixes are how self-hosted products look (``meet.contoso.com`` for Skype for Business
Server), and anyone can name a host ``meet.attacker-phish.example``: a prefix row applies only
on the organisation's own domains (``HYBRIDCAL_ORG_DOMAINS``, passed in as ``org_domains``).
Elsewhere the URL is no meeting link, so it never becomes a Join button or a device's join
notification; the text around it still shows it as the plain link it is. Vendors' own hosts
(``meet.lync.com``, ``*.webex.com``) are suffix rows and unaffected.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import re2

from shared.joinlinks.catalogue import SERVICES, Service
from shared.joinlinks.cleanup import host_of

_MAX_HOST = 253
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


@dataclass(frozen=True)
class Verdict:
    """A URL's classification: the service it joins, or the vendor whose other page it is."""

    target: str  # "host/path?query#fragment", what the patterns see
    service: Service | None = None  # set when the URL is a meeting link
    vendor: Service | None = None  # set when the host is a known service's but the page is not
    foreign: Service | None = None  # a self-hosted service's URL outside the org's domains


@dataclass(frozen=True)
class _Row:
    service: Service
    pattern: re2._Regexp
    exclude: re2._Regexp | None

    def accepts(self, target: str) -> bool:
        return bool(self.pattern.match(target)) and not (self.exclude and self.exclude.match(target))


def _compile(expression: str) -> re2._Regexp:
    return re2.compile("(?i)(?:" + expression + ")", _OPTIONS)


def _build_index() -> tuple[dict[str, list[_Row]], dict[str, list[_Row]]]:
    by_suffix: dict[str, list[_Row]] = defaultdict(list)
    by_prefix: dict[str, list[_Row]] = defaultdict(list)
    for service in SERVICES:
        row = _Row(service, _compile(service.pattern),
                   _compile(service.exclude) if service.exclude else None)
        for domain in service.domains:
            if domain.endswith(".*"):
                by_prefix[domain[:-2]].append(row)
            else:
                by_suffix[domain].append(row)
    return dict(by_suffix), dict(by_prefix)


_BY_SUFFIX, _BY_PREFIX = _build_index()


def target_of(url: str) -> tuple[str, str] | None:
    """``(host, "host/path?query#fragment")`` of ``url``, or None if it has no usable host."""
    if "://" not in url:
        return None
    host, rest = host_of(url)
    if not host or len(host) > _MAX_HOST:
        return None
    return host, host + rest


def classify(url: str, org_domains: Iterable[str] = ()) -> Verdict | None:
    """The :class:`Verdict` for a clean URL; None when the URL has no usable host.
    ``org_domains``: where self-hosted (host-prefix) services may be recognised."""
    parsed = target_of(url)
    if parsed is None:
        return None
    host, target = parsed
    labels = host.split(".")
    rows: list[_Row] = []
    for index in range(len(labels)):
        rows.extend(_BY_SUFFIX.get(".".join(labels[index:]), ()))
    vendor = rows[0].service if rows else None  # host prefixes say nothing about the vendor
    for row in rows:
        if row.accepts(target):
            return Verdict(target, service=row.service)
    own = in_domains(host, org_domains)
    for row in _BY_PREFIX.get(labels[0], ()):
        if row.accepts(target):
            return Verdict(target, service=row.service) if own else \
                Verdict(target, vendor=vendor, foreign=row.service)
    return Verdict(target, vendor=vendor)


def in_domains(host: str, domains: Iterable[str]) -> bool:
    """``host`` is one of ``domains`` or a sub-domain of one (label-wise, so
    ``meet.notexample.com`` is not under ``example.com``)."""
    return any(host == domain or host.endswith("." + domain) for domain in domains)


