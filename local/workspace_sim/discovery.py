"""Requests and responses checked against Google's own discovery documents.

The Calendar v3 and Gmail v1 discovery documents ship inside google-api-python-client
(``googleapiclient/discovery_cache/documents``): they are what the client builds its methods
from, so they are the most authoritative description of "Google's API" at hand. Every request
the simulator serves is checked against its method there (query parameters, their types and
enums, body fields) and every answer against the method's response schema, so "the simulator
speaks Google's API" is checked mechanically instead of remembered.

A request Google would not understand is refused as Google refuses it (400, "Invalid JSON
payload received. Unknown name ..."). An answer that strays from the schema is the simulator's
own bug: it is recorded (``WorkspaceSimulator.discovery_violations``) and the test fixtures
fail on it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

# Parameters every Google API accepts besides the discovery document's own list (the
# transport's: ``alt``, ``fields``, ``prettyPrint``, ``quotaUser`` ... and system parameters).
_SYSTEM_PARAMETERS = frozenset({"$.xgafv", "access_token", "callback", "upload_protocol",
                                "uploadType"})
_DOCUMENTS = {"calendar": "calendar.v3.json", "gmail": "gmail.v1.json"}


@cache
def _document(api: str) -> dict[str, Any]:
    import googleapiclient

    folder = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
    loaded: dict[str, Any] = json.loads((folder / _DOCUMENTS[api]).read_text())
    return loaded


@cache
def _methods(api: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}

    def walk(resources: dict[str, Any]) -> None:
        for resource in resources.values():
            for method in (resource.get("methods") or {}).values():
                found[method["id"]] = method
            walk(resource.get("resources") or {})

    walk(_document(api).get("resources") or {})
    return found


def method(key: str) -> dict[str, Any] | None:
    """The discovery method for a route key such as ``calendar.events.list``."""
    api = key.split(".", 1)[0]
    if api not in _DOCUMENTS:
        return None
    return _methods(api).get(key)


def check_request(key: str, path_params: dict[str, str], query: dict[str, list[str]],
                  body: Any) -> list[str]:
    """What in this request Google's discovery document does not know (empty: nothing)."""
    found = method(key)
    if found is None:
        return []
    api = key.split(".", 1)[0]
    doc = _document(api)
    params = {**doc.get("parameters", {}), **found.get("parameters", {})}
    problems: list[str] = []
    for name, values in query.items():
        spec = params.get(name)
        if spec is None:
            if name not in _SYSTEM_PARAMETERS:
                problems.append(f'Unknown name "{name}": Cannot bind query parameter.')
            continue
        if spec.get("location") == "path":
            problems.append(f'"{name}" is a path parameter, not a query parameter.')
            continue
        if len(values) > 1 and not spec.get("repeated"):
            problems.append(f'"{name}" given {len(values)} times; it is not repeated.')
        for value in values:
            problem = _scalar_problem(spec, value)
            if problem:
                problems.append(f'Invalid value at "{name}" ({problem}).')
    for name, spec in params.items():
        if spec.get("required") and spec.get("location") == "path" and name not in path_params \
                and not _path_alias(name, path_params):
            problems.append(f'Missing path parameter "{name}".')
        if spec.get("required") and spec.get("location") == "query" and name not in query:
            problems.append(f'Required parameter: {name}')
    request_ref = (found.get("request") or {}).get("$ref")
    if request_ref:
        problems += _object_problems(doc, request_ref, body, "", request=True)
    elif body not in (None, {}, b""):
        problems.append("This method takes no request body.")
    return problems


def check_response(key: str, body: Any) -> list[str]:
    """What in this answer Google's discovery document does not describe."""
    found = method(key)
    if found is None or body is None:
        return []
    response_ref = (found.get("response") or {}).get("$ref")
    if not response_ref:
        return [f"{key} answers no body, but the simulator sent one"] if body else []
    return _object_problems(_document(key.split(".", 1)[0]), response_ref, body, "",
                            request=False)


def _path_alias(name: str, path_params: dict[str, str]) -> bool:
    """The router names path segments briefly (``cal`` for ``calendarId``)."""
    aliases = {"calendarId": "cal", "eventId": "eid", "ruleId": "rule", "setting": "setting",
               "userId": "uid"}
    return aliases.get(name, name) in path_params


def _scalar_problem(spec: dict[str, Any], value: str) -> str | None:
    kind = spec.get("type")
    if kind == "integer":
        try:
            number = int(value)
        except ValueError:
            return "not an integer"
        if "minimum" in spec and number < int(spec["minimum"]):
            return f"below the minimum {spec['minimum']}"
        if "maximum" in spec and number > int(spec["maximum"]):
            return f"above the maximum {spec['maximum']}"
    elif kind == "boolean" and value not in ("true", "false"):
        return "not a boolean"
    elif spec.get("enum") and value not in spec["enum"]:
        return "not one of " + ", ".join(spec["enum"])
    return None


def _object_problems(doc: dict[str, Any], ref: str, value: Any, where: str, *,
                     request: bool) -> list[str]:
    schema = doc["schemas"][ref]
    return _value_problems(doc, schema, value, where or ref, request=request, depth=0)


def _value_problems(doc: dict[str, Any], schema: dict[str, Any], value: Any, where: str, *,
                    request: bool, depth: int) -> list[str]:
    if depth > 12 or value is None:  # null clears a field in a patch: always allowed
        return []
    if "$ref" in schema:
        schema = doc["schemas"][schema["$ref"]]
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        problems: list[str] = []
        for name, item in value.items():
            if properties and name in properties:
                problems += _value_problems(doc, properties[name], item, f"{where}.{name}",
                                            request=request, depth=depth + 1)
            elif extra is not None:
                problems += _value_problems(doc, extra, item, f"{where}.{name}",
                                            request=request, depth=depth + 1)
            else:
                problems.append(f'Unknown name "{name}" at "{where}": Cannot find field.')
        return problems
    if kind == "array":
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        problems = []
        for index, item in enumerate(value):
            problems += _value_problems(doc, schema.get("items") or {}, item,
                                        f"{where}[{index}]", request=request, depth=depth + 1)
        return problems
    if kind == "string":
        # int64 and dates travel as strings; clients may send numbers for int64 (the client
        # library does), Google accepts both in requests
        if isinstance(value, str) or (request and isinstance(value, int | float)
                                      and schema.get("format") in ("int64", "uint64")):
            return []
        return [f"{where}: expected a string"]
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return []
        if request and isinstance(value, str) and value.lstrip("-").isdigit():
            return []
        return [f"{where}: expected an integer"]
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{where}: expected a boolean"]
    if kind == "any" or kind is None:
        return []
    if kind == "number":
        return [] if isinstance(value, int | float) else [f"{where}: expected a number"]
    return []
