"""Read ``infra/`` with python-hcl2 into plain dicts the tests can query.

python-hcl2 wraps block attributes in one-element lists and keeps expressions as ``${...}``
strings; :func:`unwrap` removes the wrapping so tests read ``resource["x"]["y"]["name"]``.
No terraform binary is needed (none is available where the tests run).
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULE = INFRA / "modules" / "function"


def unwrap(value: Any) -> Any:
    """Drop python-hcl2's one-element list wrappers and its line-number keys, recursively."""
    while isinstance(value, list) and len(value) == 1 and not isinstance(value[0], str | int):
        value = value[0]
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str | int):
        return value[0]
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


@dataclass
class Config:
    """One Terraform module directory, merged across its files."""

    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        return self.resources[rtype][name]

    def all_text(self) -> str:
        return "\n".join(self.text.values())


def _locals_raw(doc: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in doc.get("locals", []):
        for key, value in block.items():
            if not key.startswith("__"):
                merged[key] = value
    return merged


@functools.cache
def load(directory: Path = INFRA) -> Config:
    config = Config()
    for path in sorted(directory.glob("*.tf")):
        text = path.read_text()
        config.text[path.name] = text
        doc = hcl2.loads(text)
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    config.resources.setdefault(rtype, {})[name] = unwrap(body)
        config.locals.update({k: unwrap(v) for k, v in _locals_raw(doc).items()})
        for block in doc.get("module", []):
            for name, body in block.items():
                config.modules[name] = unwrap(body)
        for block in doc.get("output", []):
            for name, body in block.items():
                config.outputs[name] = unwrap(body)
        for block in doc.get("variable", []):
            for name, body in block.items():
                config.variables[name] = unwrap(body)
    return config


def functions() -> dict[str, dict[str, Any]]:
    """The function catalogue (``local._functions``), keyed by function key."""
    return load().locals["_functions"]


# -- the code side ------------------------------------------------------------------------------


def entry_points() -> list[str]:
    """Names main.py exports, read with ``ast`` (importing it would pull in every handler)."""
    tree = ast.parse((ROOT / "main.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return [ast.literal_eval(elt) for elt in node.value.elts]  # type: ignore[attr-defined]
    return [
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("functions")
        for alias in node.names
    ]


def handler_module(entry_point: str) -> ast.Module:
    return ast.parse((ROOT / "functions" / f"{entry_point}.py").read_text())


def signature_type(entry_point: str) -> str:
    """``http`` or ``cloud_event``, from the functions_framework decorator on the handler."""
    for node in handler_module(entry_point).body:
        if isinstance(node, ast.FunctionDef) and node.name == entry_point:
            for deco in node.decorator_list:
                if isinstance(deco, ast.Attribute) and deco.attr in ("http", "cloud_event"):
                    return deco.attr
    raise AssertionError(f"functions/{entry_point}.py: no functions_framework decorator found")


def routed_topics(entry_point: str) -> set[str]:
    """Topics a CloudEvent handler dispatches on: the keys of its module-level ``ROUTES``."""
    from shared.bus.base import Topics

    for node in handler_module(entry_point).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "ROUTES" for t in node.targets
        ):
            assert isinstance(node.value, ast.Dict)
            topics = set()
            for key in node.value.keys:
                assert isinstance(key, ast.Attribute), "ROUTES keys must be Topics.X"
                topics.add(getattr(Topics, key.attr))
            return topics
    return set()
