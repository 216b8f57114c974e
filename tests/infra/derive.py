"""What each deployed function does, derived from the code: topics, KMS, delegation, settings.

``infra/`` grants each function's service account what its code does and nothing more. This
module reads that off the source with ``ast``, so the expectations in ``test_code_agreement``
are not a second hand-kept list (the first one locked in missing grants, issue 18):

- a **deployment** starts at its handler: for an HTTP function the entry point; for a
  Pub/Sub-fed one the route its trigger topic selects in the entry point's ``ROUTES``, plus
  ``functions._events.handle`` (dead-lettering), because one entry point serves two
  deployments with different routes;
- the **call graph** follows every reference to a function, class or module-level value of
  ``functions/`` and ``shared/`` (calls, functions passed as values, module-level imports and
  imports inside functions); a whole nested function or class counts as part of what refers
  to it. It over-approximates (a branch never taken still counts), never under-approximates
  a direct reference;
- **effects** found on the way: ``<x>.bus.publish(Topics.NAME, ...)`` (``Topics.dead_letter``
  = the dead-letter topic of the deployment's trigger); ``<x>.workspace.calendar(...)`` /
  ``.gmail(...)`` (a delegated client: the JWT is signed as the delegated account);
  ``<x>.sealer.<method>(...)`` where that ``Sealer`` method reaches the key-encryption key
  (``self._kek.wrap``/``unwrap``: a Cloud KMS call; ``shred_user`` does not); ``<x>.config.<attr>``
  for every ``Config`` field (the settings a function reads); and store writes whose document
  carries ``expire_at`` (the collections that need a Firestore TTL policy).

What cannot be seen statically (a topic or collection name computed at run time) fails loudly
instead of being skipped. The grants themselves (publish, sign, KMS, secrets) are checked by
evidence, on CloudStack (``tests/cloudstack/test_grants_evidence.py``); this derivation
remains for what a run shows no grant for: settings, uses that are settings only, TTLs.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("functions", "shared")
DEAD_LETTER = "<trigger>-dead-letter"


# -- the code base as modules and nodes -----------------------------------------------------------


@dataclass
class Module:
    name: str
    tree: ast.Module
    defs: dict[str, ast.AST] = field(default_factory=dict)  # functions, classes, assignments
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)


def _imports(nodes: list[ast.stmt] | Iterator[ast.AST],
             package: str) -> dict[str, tuple[str, str | None]]:
    """Local name -> (module, attribute or None for the module itself)."""
    found: dict[str, tuple[str, str | None]] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found[alias.asname] = (alias.name, None)
                else:  # ``import a.b`` binds ``a``
                    top = alias.name.split(".")[0]
                    found[top] = (top, None)
        elif isinstance(node, ast.ImportFrom) and node.module:
            # the code base imports absolutely; a relative import would be missed, so refuse it
            assert not node.level, f"{package}: relative import of {node.module}"
            for alias in node.names:
                found[alias.asname or alias.name] = (node.module, alias.name)
    return found


@functools.cache
def modules() -> dict[str, Module]:
    result: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join(parts)
            tree = ast.parse(path.read_text(), filename=str(path))
            module = Module(name, tree)
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    module.defs[node.name] = node
                elif isinstance(node, ast.Assign):
                    for target in node.targets:
                        if isinstance(target, ast.Name):
                            module.defs[target.id] = node
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    module.defs[node.target.id] = node
            module.imports = _imports(tree.body, name)
            result[name] = module
    return result


Node = tuple[str, str]  # (module, top-level name)


def _resolve(expr: ast.AST, module: Module,
             local: dict[str, tuple[str, str | None]]) -> Node | str | None:
    """A node for a reference to a top-level definition, a module name for a module, else None."""
    known = modules()
    if isinstance(expr, ast.Name):
        target = local.get(expr.id) or module.imports.get(expr.id)
        if target is not None:
            mod, attr = target
            if attr is None:
                return mod if mod in known else None
            if f"{mod}.{attr}" in known:
                return f"{mod}.{attr}"
            if mod in known and attr in known[mod].defs:
                return (mod, attr)
            return None
        if expr.id in module.defs:
            return (module.name, expr.id)
        return None
    if isinstance(expr, ast.Attribute):
        base = _resolve(expr.value, module, local)
        if isinstance(base, str):
            if f"{base}.{expr.attr}" in known:
                return f"{base}.{expr.attr}"
            if expr.attr in known[base].defs:
                return (base, expr.attr)
    return None


def _local_imports(node: ast.AST, module: Module) -> dict[str, tuple[str, str | None]]:
    return _imports((n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)),
                    module.name)


def references(node: Node) -> set[Node]:
    """Top-level definitions ``node``'s code refers to (in ``functions/`` and ``shared/``)."""
    module = modules()[node[0]]
    body = module.defs[node[1]]
    local = _local_imports(body, module)
    found: set[Node] = set()
    for sub in ast.walk(body):
        if isinstance(sub, ast.Name | ast.Attribute):
            target = _resolve(sub, module, local)
            if isinstance(target, tuple) and target != node:
                found.add(target)
    return found


def reachable(starts: list[Node]) -> set[Node]:
    seen: set[Node] = set()
    todo = list(starts)
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo.extend(references(node) - seen)
    return seen


# -- effects --------------------------------------------------------------------------------------


def _attr_chain(expr: ast.AST) -> list[str]:
    """``services.bus.publish`` -> ["services", "bus", "publish"] (names and attributes only)."""
    chain: list[str] = []
    while isinstance(expr, ast.Attribute):
        chain.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        chain.append(expr.id)
    return chain[::-1]


@functools.cache
def kms_sealer_methods() -> frozenset[str]:
    """``Sealer`` methods that reach the key-encryption key (``self._kek.wrap/unwrap``)."""
    sealer = modules()["shared.crypto.sealer"].defs["Sealer"]
    assert isinstance(sealer, ast.ClassDef)
    methods = {m.name: m for m in sealer.body if isinstance(m, ast.FunctionDef)}
    calls: dict[str, set[str]] = {}
    direct: set[str] = set()
    for name, method in methods.items():
        calls[name] = set()
        for sub in ast.walk(method):
            chain = _attr_chain(sub) if isinstance(sub, ast.Attribute) else []
            if chain[:2] == ["self", "_kek"] and chain[2:] and chain[2] in ("wrap", "unwrap"):
                direct.add(name)
            if len(chain) == 2 and chain[0] == "self" and chain[1] in methods:
                calls[name].add(chain[1])
    reaching = set(direct)
    changed = True
    while changed:
        changed = False
        for name, callees in calls.items():
            if name not in reaching and callees & reaching:
                reaching.add(name)
                changed = True
    return frozenset(reaching)


@functools.cache
def config_fields() -> frozenset[str]:
    from shared.config import Config

    return frozenset(Config.__dataclass_fields__)


def _topic(arg: ast.AST) -> str:
    from shared.bus.base import Topics

    chain = _attr_chain(arg.func) if isinstance(arg, ast.Call) else _attr_chain(arg)
    if chain == ["Topics", "dead_letter"]:
        return DEAD_LETTER
    if len(chain) == 2 and chain[0] == "Topics" and hasattr(Topics, chain[1]):
        return str(getattr(Topics, chain[1]))
    raise AssertionError(f"publish to a topic not named as Topics.X: {ast.unparse(arg)}")


def _collection(arg: ast.AST, module: Module) -> str | None:
    """``names.X`` or a module-level alias of it (``COLLECTION = names.X``)."""
    from shared.store import names

    chain = _attr_chain(arg)
    if len(chain) == 2 and chain[0] == "names":
        return str(getattr(names, chain[1]))
    if len(chain) == 1 and isinstance(module.defs.get(chain[0]), ast.Assign):
        return _collection(module.defs[chain[0]].value, module)  # type: ignore[attr-defined]
    return None


def _carries_expiry(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Constant) and n.value == "expire_at" for n in ast.walk(node))


@dataclass
class Effects:
    publishes: set[str] = field(default_factory=set)
    workspace: bool = False  # delegated Calendar/Gmail clients: signs as the delegated account
    sealer: set[str] = field(default_factory=set)  # Sealer methods called
    config: set[str] = field(default_factory=set)  # Config fields read
    expiring: set[str] = field(default_factory=set)  # collections written with expire_at

    @property
    def kms(self) -> bool:
        return bool(self.sealer & kms_sealer_methods())


def effects_of(node: Node) -> Effects:
    module = modules()[node[0]]
    body = module.defs[node[1]]
    nested = {n.name: n for n in ast.walk(body)
              if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    found = Effects()
    for sub in ast.walk(body):
        if isinstance(sub, ast.Attribute):
            chain = _attr_chain(sub)
            if len(chain) >= 2 and chain[-2] == "config" and chain[-1] in config_fields():
                found.config.add(chain[-1])
        if not isinstance(sub, ast.Call):
            continue
        chain = _attr_chain(sub.func)
        if chain[-2:] == ["bus", "publish"]:
            found.publishes.add(_topic(sub.args[0]))
        elif len(chain) >= 2 and chain[-2] == "workspace" and chain[-1] in ("calendar", "gmail"):
            found.workspace = True
        elif len(chain) >= 2 and chain[-2] == "sealer":
            found.sealer.add(chain[-1])
        elif len(chain) >= 2 and chain[-2] == "store" and sub.args:
            collection = _collection(sub.args[0], module)
            values = [*sub.args[1:], *(k.value for k in sub.keywords)]
            if any(_carries_expiry(v) for v in values) or any(
                    isinstance(v, ast.Name) and v.id in nested and _carries_expiry(nested[v.id])
                    for v in values):
                assert collection, f"{node}: expiring write to an unnamed collection"
                found.expiring.add(collection)
    return found


def effects(starts: list[Node]) -> Effects:
    total = Effects()
    for node in reachable(starts):
        one = effects_of(node)
        total.publishes |= one.publishes
        total.workspace |= one.workspace
        total.sealer |= one.sealer
        total.config |= one.config
        total.expiring |= one.expiring
    return total


# -- deployments ----------------------------------------------------------------------------------


def routes(entry_point: str) -> dict[str, str]:
    """Topic -> route function name, from ``ROUTES`` in ``functions/<entry point>.py``."""
    from shared.bus.base import Topics

    module = modules()[f"functions.{entry_point}"]
    assign = module.defs.get("ROUTES")
    if not isinstance(assign, ast.Assign) or not isinstance(assign.value, ast.Dict):
        return {}
    result = {}
    for key, value in zip(assign.value.keys, assign.value.values, strict=True):
        assert isinstance(key, ast.Attribute) and isinstance(value, ast.Name)
        result[str(getattr(Topics, key.attr))] = value.id
    return result


def deployment_starts(entry_point: str, trigger: str | None) -> list[Node]:
    module = f"functions.{entry_point}"
    if trigger is None:
        return [(module, entry_point)]
    return [(module, routes(entry_point)[trigger]), ("functions._events", "handle")]


@dataclass(frozen=True)
class Deployed:
    """What one deployed function does, in the vocabulary of ``local._functions``."""

    publishes: frozenset[str]
    uses: frozenset[str]
    config: frozenset[str]


# ``uses`` entries of the catalogue and the code that makes a function need each one.
USES_BY_SETTING = {
    "webex": {"webex_token"},  # the Webex token secret
    "api-auth": {"api_tokens", "api_audience", "api_admins"},  # meetings_api's callers
    "rooms": {"workspace_admin", "room_reader"},  # workspaces: room sharing
    "booking": {"scheduling_account", "device_booking_provider"},  # rooms booked by devices
}


def deployed(entry_point: str, trigger: str | None) -> Deployed:
    found = effects(deployment_starts(entry_point, trigger))
    publishes = {trigger + "-dead-letter" if t == DEAD_LETTER else t for t in found.publishes
                 if not (t == DEAD_LETTER and trigger is None)}
    uses = {use for use, settings in USES_BY_SETTING.items() if found.config & settings}
    if found.workspace:
        uses.add("workspace")
    if found.kms:
        uses.add("kms")
    return Deployed(frozenset(publishes), frozenset(uses), frozenset(found.config))


def expiring_collections() -> set[str]:
    """Every collection some code writes with ``expire_at`` (whatever the entry point)."""
    nodes = [(m.name, name) for m in modules().values() for name in m.defs]
    return set().union(*(effects_of(node).expiring for node in nodes))
