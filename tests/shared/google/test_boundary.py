"""``shared/google`` is the one Google Workspace boundary.

Only modules in ``shared/google`` may import the Workspace-API and Google auth libraries
(``googleapiclient``, ``google.auth``, ``google.oauth2``, ``google_auth_httplib2``, ``httplib2``)
or execute a googleapiclient request. Everything else sees typed gateways, plain dicts and
project errors, so thread safety, retries and error translation live in one place (#17).

What is allowed outside, and why:

- ``google.cloud.*`` and ``google.api_core.exceptions``: the store, bus and key adapters
  (``shared/store/firestore.py``, ``shared/bus/pubsub.py``, ``shared/keys/kms.py``) use the
  Cloud client libraries for Firestore, Pub/Sub and KMS, which find the ambient credentials
  themselves, and catch their ``google.api_core`` errors. None of them imports ``google.auth``
  today; one that ever needs credentials of its own (e.g. anonymous ones for an emulator) is
  flagged here and must get them from ``shared.google``.
- ``.execute(sql, ...)``: DB-API execution (``shared/store/sqlite.py``). googleapiclient's
  ``HttpRequest.execute`` takes no positional argument (it is declared ``@positional(1)``:
  ``http`` and ``num_retries`` are keyword-only), while DB-API's ``execute`` takes the statement
  positionally. So any other mention of an attribute named ``execute`` is flagged, called or
  not: ``call_google(request.execute)`` executes a request just as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCANNED = ("shared", "functions", "main.py")
BOUNDARY = ROOT / "shared" / "google"
RESTRICTED = ("googleapiclient", "google.auth", "google.oauth2", "google_auth_httplib2",
              "httplib2")


def _restricted(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in RESTRICTED)


def offences(source: str) -> list[str]:
    """``"line: what"`` for every restricted import or request execution in ``source``."""
    tree = ast.parse(source)
    calls_with_statement = {id(node.func) for node in ast.walk(tree)
                            if isinstance(node, ast.Call) and node.args}
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # "from google import auth" imports google.auth
            names = ([node.module] if _restricted(node.module)
                     else [f"{node.module}.{alias.name}" for alias in node.names])
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Name) and node.func.id == "__import__")
                   or (isinstance(node.func, ast.Attribute)
                       and node.func.attr == "import_module"))):
            names = [node.args[0].value]
        elif (isinstance(node, ast.Attribute) and node.attr == "execute"
              and id(node) not in calls_with_statement):
            found.append(f"{node.lineno}: executes a Google request (.execute)")
        found.extend(f"{node.lineno}: imports {name}" for name in names if _restricted(name))
    return sorted(set(found), key=lambda text: int(text.split(":")[0]))


def _modules() -> list[Path]:
    paths: list[Path] = []
    for entry in SCANNED:
        path = ROOT / entry
        paths.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return [p for p in paths if BOUNDARY not in p.parents and ".venv" not in p.parts]


def test_only_shared_google_talks_to_workspace_apis():
    modules = _modules()
    assert len(modules) > 50  # the walk found the code base

    found = {str(path.relative_to(ROOT)): offences(path.read_text(encoding="utf-8"))
             for path in modules}

    assert {path: what for path, what in found.items() if what} == {}


@pytest.mark.parametrize(("source", "expected"), [
    ("import googleapiclient.discovery", ["1: imports googleapiclient.discovery"]),
    ("from google.auth.transport.requests import Request",
     ["1: imports google.auth.transport.requests"]),
    ("from google import auth", ["1: imports google.auth"]),
    ("from google.oauth2 import id_token", ["1: imports google.oauth2"]),
    ("import httplib2, json", ["1: imports httplib2"]),
    ("def f():\n    import google_auth_httplib2", ["2: imports google_auth_httplib2"]),
    ("importlib.import_module('google.auth')", ["1: imports google.auth"]),
    ("service.events().get(calendarId='primary', eventId=e).execute()",
     ["1: executes a Google request (.execute)"]),
    ("call_google(request.execute, sleep=s)", ["1: executes a Google request (.execute)"]),
    ("request.execute(num_retries=3)", ["1: executes a Google request (.execute)"]),
    # allowed
    ("conn.execute('SELECT 1', params)", []),
    ("from google.cloud import firestore\nfrom google.api_core import exceptions", []),
    ("import google.cloud.pubsub_v1 as pubsub_v1", []),
    ("from shared.google.errors import call_google", []),
    ("import googleapiclientx", []),
])
def test_the_rule_itself(source, expected):
    assert offences(source) == expected
