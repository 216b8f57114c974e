"""Google's JSON error bodies, as the Calendar and Gmail APIs send them."""

from __future__ import annotations

from typing import Any

_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
           404: "NOT_FOUND", 409: "ALREADY_EXISTS", 410: "FAILED_PRECONDITION",
           412: "FAILED_PRECONDITION", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
           503: "UNAVAILABLE"}


class ApiError(Exception):
    """Raised inside handlers; the server turns it into Google's error JSON."""

    def __init__(self, code: int, reason: str, message: str, domain: str = "global") -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.domain = code, reason, message, domain

    def body(self) -> dict[str, Any]:
        return {"error": {
            "code": self.code, "message": self.message,
            "errors": [{"domain": self.domain, "reason": self.reason, "message": self.message}],
            "status": _STATUS.get(self.code, "UNKNOWN"),
        }}


def not_found(what: str = "Not Found") -> ApiError:
    return ApiError(404, "notFound", what)


def rate_limited(user: bool) -> ApiError:
    if user:
        return ApiError(403, "userRateLimitExceeded", "User Rate Limit Exceeded", "usageLimits")
    return ApiError(403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")


def daily_limit(api: str) -> ApiError:
    """A used-up daily allowance. Gmail: 403 ``dailyLimitExceeded`` ("the courtesy API limit
    for your project has been reached", Gmail guide "Resolve errors"); Calendar: 403
    ``quotaExceeded`` ("Calendar usage limits exceeded", Calendar guide "Handle API errors")."""
    if api == "gmail":
        return ApiError(403, "dailyLimitExceeded", "Daily Limit Exceeded", "usageLimits")
    return ApiError(403, "quotaExceeded", "Calendar usage limits exceeded.", "usageLimits")
