"""Read ``infra/`` as Terraform would plan it: a small HCL evaluator for CloudStack.

CloudStack builds its topology (functions, topics, subscriptions, Scheduler jobs, IAM grants)
from what ``infra/*.tf`` declares, never from a second list. The structure *and* the
expressions matter: grants, environments and subscriptions are computed by ``for``
expressions, ``merge(...)`` with ``...`` expansion, conditionals and module calls. So this
module parses HCL into expression trees and evaluates them lazily, like ``terraform plan``
with a handful of computed attributes modelled (service account emails, topic ids, ...):

    plan = Plan(Path("infra"), {"project_id": "hybridcal-local", ...})  # the tfvars
    plan.locals.get("functions")                        # the catalogue, evaluated
    plan.instances("google_pubsub_topic_iam_member")    # {address: attributes}
    plan.module_instances("function")["intake-push"].resource("google_pubsub_subscription", "push")

Why not python-hcl2's dict output (``tests/infra/tf.py`` uses it for text checks): it turns
expressions back into strings and loses part of them (``merge(a, [for ...]...)`` comes back
without its ``...``), and the installed ``hcl2`` package is shared with ``bc-python-hcl2``
(checkov), whose files overwrite python-hcl2's. The grammar below is HCL's native syntax with
its operator precedence (python-hcl2's grammar has none), built on ``lark`` like python-hcl2.

Not supported, because ``infra/`` does not use them: template directives (``%{ if }``),
provider-defined functions, ``self``; ``validation``/``check`` blocks are not evaluated.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer, v_args

# -- grammar ----------------------------------------------------------------------------------

_GRAMMAR = r"""
start: body
body: (attribute | block)*
attribute: IDENT "=" expr
block: IDENT label* "{" body "}"
?label: IDENT | STRING

?expr: conditional
?conditional: or_expr
    | or_expr "?" expr ":" expr          -> cond
?or_expr: and_expr
    | or_expr OR and_expr                -> binop
?and_expr: eq_expr
    | and_expr AND eq_expr               -> binop
?eq_expr: cmp_expr
    | eq_expr EQOP cmp_expr              -> binop
?cmp_expr: add_expr
    | cmp_expr CMPOP add_expr            -> binop
?add_expr: mul_expr
    | add_expr ADDOP mul_expr            -> binop
    | add_expr MINUS mul_expr            -> binop
?mul_expr: unary
    | mul_expr MULOP unary               -> binop
?unary: postfix
    | "!" unary                          -> not_
    | MINUS unary                        -> neg
?postfix: primary
    | postfix "." IDENT                  -> getattr
    | postfix "." INT                    -> legacy_index
    | postfix "[" expr "]"               -> index
    | postfix "[" "*" "]"                -> splat
    | postfix ".*"                       -> splat
?primary: INT                            -> number
    | FLOAT                              -> number
    | STRING                             -> template
    | HEREDOC                            -> heredoc
    | TRUE                               -> true
    | FALSE                              -> false
    | NULL                               -> null
    | IDENT                              -> variable
    | IDENT "(" [args] ")"               -> call
    | "(" expr ")"
    | "[" [expr ("," expr)* [","]] "]"   -> tuple
    | "{" [objelem (","? objelem)* [","]] "}" -> object
    | "[" FOR IDENT ["," IDENT] IN expr ":" expr [IF expr] "]"                    -> for_tuple
    | "{" FOR IDENT ["," IDENT] IN expr ":" expr "=>" expr [ELLIPSIS] [IF expr] "}" -> for_object
args: expr ("," expr)* ["," | ELLIPSIS]
objelem: objkey ("=" | ":") expr
?objkey: IDENT                           -> key_name
    | STRING                             -> key_template
    | "(" expr ")"                       -> key_expr

FOR: "for"
IN: "in"
IF: "if"
TRUE: "true"
FALSE: "false"
NULL: "null"
OR: "||"
AND: "&&"
EQOP: "==" | "!="
CMPOP: "<=" | ">=" | "<" | ">"
ADDOP: "+"
MINUS: "-"
MULOP: "*" | "/" | "%"
ELLIPSIS: "..."
IDENT: /[a-zA-Z_][a-zA-Z0-9_-]*/
INT: /[0-9]+/
FLOAT: /[0-9]+\.[0-9]+([eE][+-]?[0-9]+)?/
STRING: /"(?:[^"\\$]|\\.|\$(?!\{)|\$\{(?:[^{}"]|"(?:[^"\\]|\\.)*"|\{[^{}]*\})*\})*"/
HEREDOC: /<<-?(?P<tag>[A-Za-z_][A-Za-z0-9_]*)\n(?:.|\n)*?\n[ \t]*(?P=tag)(?=\s)/

COMMENT: /(#|\/\/)[^\n]*/
BLOCK_COMMENT: /\/\*(.|\n)*?\*\//
%ignore COMMENT
%ignore BLOCK_COMMENT
%ignore /[ \t\r\n]+/
"""


class TerraformError(Exception):
    """``infra/`` cannot be evaluated (a syntax error, an unknown reference or function)."""


class EvalError(TerraformError):
    """An expression failed the way ``try()`` catches (missing key or attribute, null, type)."""


# -- expression trees ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Node:
    kind: str
    args: tuple[Any, ...] = ()


@dataclass
class Body:
    """A block body: its attributes (expressions) and nested blocks, in file order."""

    attributes: dict[str, Node] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)

    def blocks_of(self, kind: str) -> list[Block]:
        return [b for b in self.blocks if b.kind == kind]


@dataclass
class Block:
    kind: str
    labels: tuple[str, ...]
    body: Body


def _unquote(raw: str) -> str:
    return raw[1:-1]


@v_args(inline=True)
class _ToTree(Transformer):  # type: ignore[type-arg]
    def start(self, body: Body) -> Body:
        return body

    def body(self, *items: Any) -> Body:
        result = Body()
        for item in items:
            if isinstance(item, Block):
                result.blocks.append(item)
            else:
                name, value = item
                result.attributes[name] = value
        return result

    def attribute(self, name: Token, value: Node) -> tuple[str, Node]:
        return str(name), value

    def block(self, kind: Token, *rest: Any) -> Block:
        *labels, body = rest
        return Block(str(kind), tuple(_unquote(str(x)) if str(x).startswith('"') else str(x)
                                      for x in labels), body)

    def cond(self, test: Node, yes: Node, no: Node) -> Node:
        return Node("cond", (test, yes, no))

    def binop(self, left: Node, op: Token, right: Node) -> Node:
        return Node("binop", (str(op), left, right))

    def not_(self, value: Node) -> Node:
        return Node("not", (value,))

    def neg(self, _minus: Token, value: Node) -> Node:
        return Node("neg", (value,))

    def getattr(self, target: Node, name: Token) -> Node:
        return Node("getattr", (target, str(name)))

    def legacy_index(self, target: Node, index: Token) -> Node:
        return Node("index", (target, Node("lit", (int(index),))))

    def index(self, target: Node, key: Node) -> Node:
        return Node("index", (target, key))

    def splat(self, target: Node) -> Node:
        return Node("splat", (target,))

    def number(self, token: Token) -> Node:
        text = str(token)
        return Node("lit", (int(text) if text.isdigit() else float(text),))

    def template(self, token: Token) -> Node:
        return _template(_unquote(str(token)))

    def heredoc(self, token: Token) -> Node:
        text = str(token)
        header, _, rest = text.partition("\n")
        lines = rest.split("\n")[:-1]  # the closing tag's line
        if header.startswith("<<-"):
            indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()),
                         default=0)
            lines = [line[indent:] for line in lines]
        return _template("\n".join(lines) + "\n", escapes=False)

    def true(self, _token: Token) -> Node:
        return Node("lit", (True,))

    def false(self, _token: Token) -> Node:
        return Node("lit", (False,))

    def null(self, _token: Token) -> Node:
        return Node("lit", (None,))

    def variable(self, name: Token) -> Node:
        return Node("var", (str(name),))

    def call(self, name: Token, args: tuple[list[Node], bool] | None) -> Node:
        values, expand = args or ([], False)
        return Node("call", (str(name), tuple(values), expand))

    def args(self, *items: Any) -> tuple[list[Node], bool]:
        expand = bool(items) and isinstance(items[-1], Token) and str(items[-1]) == "..."
        return [i for i in items if isinstance(i, Node)], expand

    def tuple(self, *items: Any) -> Node:
        return Node("tuple", tuple(i for i in items if isinstance(i, Node)))

    def object(self, *items: Any) -> Node:
        return Node("object", tuple(i for i in items if isinstance(i, tuple)))

    def objelem(self, key: Node, value: Node) -> tuple[Node, Node]:
        return key, value

    def key_name(self, name: Token) -> Node:
        return Node("lit", (str(name),))

    def key_template(self, token: Token) -> Node:
        return _template(_unquote(str(token)))

    def key_expr(self, value: Node) -> Node:
        return value

    def for_tuple(self, _for: Token, first: Token, second: Token | None, _in: Token,
                  collection: Node, value: Node, _if: Token | None, cond: Node | None) -> Node:
        names = (str(first), str(second)) if second is not None else (None, str(first))
        return Node("for_tuple", (names, collection, value, cond))

    def for_object(self, _for: Token, first: Token, second: Token | None, _in: Token,
                   collection: Node, key: Node, value: Node, ellipsis: Token | None,
                   _if: Token | None, cond: Node | None) -> Node:
        names = (str(first), str(second)) if second is not None else (None, str(first))
        return Node("for_object", (names, collection, key, value, ellipsis is not None, cond))


@functools.cache
def _parser(start: str) -> Lark:
    return Lark(_GRAMMAR, start=start, parser="lalr", maybe_placeholders=True)


def parse(text: str) -> Body:
    """The top-level body of one ``.tf`` file."""
    try:
        tree = _parser("start").parse(text)
    except Exception as exc:  # lark's errors carry line and column
        raise TerraformError(f"cannot parse: {exc}") from None
    body: Body = _ToTree().transform(tree)
    return body


def parse_expression(text: str) -> Node:
    try:
        tree = _parser("expr").parse(text)
    except Exception as exc:
        raise TerraformError(f"cannot parse expression {text!r}: {exc}") from None
    node: Node = _ToTree().transform(tree)
    return node


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _template(raw: str, *, escapes: bool = True) -> Node:
    """A quoted string or heredoc: literal parts and ``${ expr }`` interpolations."""
    parts: list[Any] = []
    literal: list[str] = []
    i = 0
    while i < len(raw):
        char = raw[i]
        if escapes and char == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt == "u":
                literal.append(chr(int(raw[i + 2:i + 6], 16)))
                i += 6
                continue
            literal.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        if raw.startswith("$${", i):
            literal.append("${")
            i += 3
            continue
        if raw.startswith("${", i):
            end = _closing_brace(raw, i + 2)
            if literal:
                parts.append("".join(literal))
                literal = []
            inner = raw[i + 2:end].strip().lstrip("~").rstrip("~")
            parts.append(parse_expression(inner))
            i = end + 1
            continue
        literal.append(char)
        i += 1
    if literal:
        parts.append("".join(literal))
    if len(parts) == 1 and isinstance(parts[0], Node):
        return parts[0]  # "${x}" is x itself, keeping its type
    return Node("template", tuple(parts))


def _closing_brace(text: str, start: int) -> int:
    depth, i, quote = 1, start, False
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == '"':
                quote = False
        elif char == '"':
            quote = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise TerraformError(f"unclosed interpolation in {text!r}")


# -- values ---------------------------------------------------------------------------------------

class Unknown:
    """A value known only after apply (an attribute CloudStack does not model)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __repr__(self) -> str:
        return f"(known after apply: {self.what})"


class TfSet(list):  # type: ignore[type-arg]
    """A Terraform set: distinct values, iterated in sorted order (as Terraform does)."""

    @classmethod
    def of(cls, values: Iterable[Any]) -> TfSet:
        distinct: list[Any] = []
        for value in values:
            if value not in distinct:
                distinct.append(value)
        try:
            distinct.sort(key=lambda v: (str(type(v)), v))
        except TypeError:
            pass
        return cls(distinct)


class _Splat(list):  # type: ignore[type-arg]
    """The result of ``x[*]``: attribute and index access apply to every element."""


class Lazy:
    """An object whose attributes are computed on first access (resources, modules, each)."""

    def __init__(self, name: str, compute: Callable[[str], Any],
                 names: Callable[[], Iterable[str]] = lambda: ()) -> None:
        self._name = name
        self._compute = compute
        self._names = names
        self._cache: dict[str, Any] = {}

    def get(self, attr: str) -> Any:
        if attr not in self._cache:
            self._cache[attr] = self._compute(attr)
        return self._cache[attr]

    def to_dict(self) -> dict[str, Any]:
        return {name: self.get(name) for name in self._names()}

    def __repr__(self) -> str:
        return f"<{self._name}>"


def plain(value: Any) -> Any:
    """A value with every :class:`Lazy` expanded (for comparisons and printing)."""
    if isinstance(value, Lazy):
        return {k: plain(v) for k, v in value.to_dict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _tostring(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float | str):
        return str(value)
    if value is None:
        raise EvalError("cannot convert null to string")
    if isinstance(value, Unknown):
        raise EvalError(f"{value!r} in a string")
    raise EvalError(f"cannot convert {type(value).__name__} to string")


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise EvalError("a bool is not a number")
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                raise EvalError(f"{value!r} is not a number") from None
    raise EvalError(f"{type(value).__name__} is not a number")


def _tidy(number: float | int) -> int | float:
    return int(number) if isinstance(number, float) and number.is_integer() else number


def _items(collection: Any) -> list[tuple[Any, Any]]:
    if isinstance(collection, Lazy):
        collection = collection.to_dict()
    if isinstance(collection, dict):
        return sorted(collection.items())
    if isinstance(collection, list):
        if isinstance(collection, TfSet):
            return [(v, v) for v in collection]
        return list(enumerate(collection))
    if collection is None:
        raise EvalError("cannot iterate over null")
    raise EvalError(f"cannot iterate over {type(collection).__name__}")


def _merge(*maps: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for value in maps:
        if value is None:
            continue
        if isinstance(value, Lazy):
            value = value.to_dict()
        if not isinstance(value, dict):
            raise EvalError("merge() takes maps or objects")
        result.update(value)
    return result


def _lookup(mapping: Any, key: Any, *default: Any) -> Any:
    if isinstance(mapping, Lazy):
        mapping = mapping.to_dict()
    if key in mapping:
        return mapping[key]
    if default:
        return default[0]
    raise EvalError(f"lookup: no key {key!r}")


def _coalesce(*values: Any) -> Any:
    for value in values:
        if value is not None and value != "":
            return value
    raise EvalError("coalesce: no non-null, non-empty argument")


def _flatten(values: Any) -> list[Any]:
    result: list[Any] = []
    for value in values:
        if isinstance(value, list):
            result.extend(_flatten(value))
        else:
            result.append(value)
    return result


def _one(values: Any) -> Any:
    if values is None or len(values) == 0:
        return None
    if len(values) == 1:
        return values[0]
    raise EvalError("one(): more than one element")


def _setproduct(*sets: Any) -> list[list[Any]]:
    result: list[list[Any]] = [[]]
    for values in sets:
        result = [[*prefix, value] for prefix in result for value in values]
    return result


def _format(spec: str, *values: Any) -> str:
    converted = re.sub(r"%([-0-9.]*)([sdvq])", lambda m: "%" + m.group(1) + (
        "s" if m.group(2) in "svq" else "d"), spec)
    return converted % tuple(_tostring(v) if not isinstance(v, int) else v for v in values)


def _jsonencode(value: Any) -> str:
    return json.dumps(plain(value), separators=(",", ":"), sort_keys=True)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "tostring": _tostring,
    "tonumber": _number,
    "tobool": lambda v: v if isinstance(v, bool) else {"true": True, "false": False}[v],
    "tolist": lambda v: list(v),
    "toset": lambda v: TfSet.of(v),
    "tomap": lambda v: dict(v),
    "sort": lambda v: TfSet(sorted(v)) if isinstance(v, TfSet) else sorted(v),
    "keys": lambda v: sorted((v.to_dict() if isinstance(v, Lazy) else v).keys()),
    "values": lambda v: [x for _, x in sorted((v.to_dict() if isinstance(v, Lazy)
                                               else v).items())],
    "length": lambda v: len(v.to_dict() if isinstance(v, Lazy) else v),
    "merge": _merge,
    "lookup": _lookup,
    "contains": lambda collection, value: value in collection,
    "coalesce": _coalesce,
    "concat": lambda *lists: [x for values in lists for x in values],
    "distinct": lambda v: list(TfSet.of(v)) if not isinstance(v, TfSet) else v,
    "flatten": _flatten,
    "one": _one,
    "setproduct": _setproduct,
    "setunion": lambda *sets: TfSet.of(x for values in sets for x in values),
    "setintersection": lambda first, *rest: TfSet.of(x for x in first
                                                     if all(x in r for r in rest)),
    "join": lambda sep, values: sep.join(_tostring(v) for v in values),
    "split": lambda sep, text: text.split(sep),
    "replace": lambda text, old, new: text.replace(old, new),
    "lower": lambda text: text.lower(),
    "upper": lambda text: text.upper(),
    "trimspace": lambda text: text.strip(),
    "startswith": lambda text, prefix: text.startswith(prefix),
    "endswith": lambda text, suffix: text.endswith(suffix),
    "format": _format,
    "floor": lambda n: math.floor(_number(n)),
    "ceil": lambda n: math.ceil(_number(n)),
    "min": lambda *n: _tidy(min(_number(x) for x in n)),
    "max": lambda *n: _tidy(max(_number(x) for x in n)),
    "abs": lambda n: abs(_number(n)),
    "base64encode": lambda text: base64.b64encode(text.encode()).decode(),
    "base64decode": lambda text: base64.b64decode(text).decode(),
    "jsonencode": _jsonencode,
    "jsondecode": json.loads,
    "alltrue": lambda values: all(values),
    "anytrue": lambda values: any(values),
    "regex": lambda pattern, text: _regex(pattern, text),
}


def _regex(pattern: str, text: str) -> Any:
    match = re.search(pattern, text)
    if match is None:
        raise EvalError("regex: no match")
    if match.groupdict():
        return match.groupdict()
    return list(match.groups()) if match.groups() else match.group(0)


# -- evaluation ------------------------------------------------------------------------------------

class Scope:
    """Names visible to an expression: ``var``, ``local``, resources, ``each``, loop names."""

    def __init__(self, module: ModuleInstance, names: dict[str, Any] | None = None) -> None:
        self.module = module
        self.names = names or {}

    def with_names(self, **names: Any) -> Scope:
        return Scope(self.module, {**self.names, **names})

    def lookup(self, name: str) -> Any:
        if name in self.names:
            return self.names[name]
        return self.module.root_name(name)


def evaluate(node: Node, scope: Scope) -> Any:
    kind, args = node.kind, node.args
    if kind == "lit":
        return args[0]
    if kind == "template":
        pieces = []
        for part in args:
            value = part if isinstance(part, str) else evaluate(part, scope)
            if isinstance(value, Unknown):
                return value
            pieces.append(_tostring(value))
        return "".join(pieces)
    if kind == "var":
        return scope.lookup(args[0])
    if kind == "getattr":
        return _getattr(evaluate(args[0], scope), args[1])
    if kind == "index":
        return _index(evaluate(args[0], scope), evaluate(args[1], scope))
    if kind == "splat":
        value = evaluate(args[0], scope)
        if value is None:
            return _Splat()
        if isinstance(value, dict) or not isinstance(value, list):
            return _Splat([value])
        return _Splat(value)
    if kind == "cond":
        test = evaluate(args[0], scope)
        if not isinstance(test, bool):
            raise EvalError(f"condition is {type(test).__name__}, not bool")
        return evaluate(args[1] if test else args[2], scope)
    if kind == "binop":
        return _binop(args[0], args[1], args[2], scope)
    if kind == "not":
        return not evaluate(args[0], scope)
    if kind == "neg":
        return -_number(evaluate(args[0], scope))
    if kind == "tuple":
        return [evaluate(item, scope) for item in args]
    if kind == "object":
        return {_tostring(evaluate(k, scope)): evaluate(v, scope) for k, v in args}
    if kind == "call":
        return _call(args[0], args[1], args[2], scope)
    if kind == "for_tuple":
        (key_name, value_name), collection, value, cond = args
        result = []
        for key, item in _items(evaluate(collection, scope)):
            inner = scope.with_names(**{value_name: item}, **({key_name: key} if key_name
                                                               else {}))
            if cond is None or evaluate(cond, inner):
                result.append(evaluate(value, inner))
        return result
    if kind == "for_object":
        (key_name, value_name), collection, key_node, value, group, cond = args
        result_map: dict[str, Any] = {}
        for key, item in _items(evaluate(collection, scope)):
            inner = scope.with_names(**{value_name: item}, **({key_name: key} if key_name
                                                               else {}))
            if cond is not None and not evaluate(cond, inner):
                continue
            out_key = _tostring(evaluate(key_node, inner))
            out_value = evaluate(value, inner)
            if group:
                result_map.setdefault(out_key, []).append(out_value)
            elif out_key in result_map:
                raise EvalError(f"duplicate key {out_key!r} in a for expression")
            else:
                result_map[out_key] = out_value
        return result_map
    raise TerraformError(f"unknown expression kind {kind}")


def _getattr(target: Any, name: str) -> Any:
    if isinstance(target, _Splat):
        return _Splat(_getattr(item, name) for item in target)
    if isinstance(target, Unknown):
        return target
    if isinstance(target, Lazy):
        return target.get(name)
    if isinstance(target, dict):
        if name not in target:
            raise EvalError(f"no attribute {name!r}")
        return target[name]
    if target is None:
        raise EvalError(f"attribute {name!r} of null")
    raise EvalError(f"attribute {name!r} of a {type(target).__name__}")


def _index(target: Any, key: Any) -> Any:
    if isinstance(target, _Splat):
        return _Splat(_index(item, key) for item in target)
    if isinstance(target, Unknown):
        return target
    if isinstance(target, Lazy):
        return target.get(_tostring(key))
    if isinstance(target, dict):
        key = _tostring(key)
        if key not in target:
            raise EvalError(f"no key {key!r}")
        return target[key]
    if isinstance(target, list):
        index = int(_number(key))
        if not 0 <= index < len(target):
            raise EvalError(f"index {index} out of range")
        return target[index]
    raise EvalError(f"cannot index a {type(target).__name__}")


def _binop(op: str, left_node: Node, right_node: Node, scope: Scope) -> Any:
    left = evaluate(left_node, scope)
    if op == "&&":
        return bool(left) and bool(evaluate(right_node, scope))
    if op == "||":
        return bool(left) or bool(evaluate(right_node, scope))
    right = evaluate(right_node, scope)
    if op == "==":
        return plain(left) == plain(right)
    if op == "!=":
        return plain(left) != plain(right)
    a, b = _number(left), _number(right)
    result: Any = {
        "<": lambda: a < b, "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,
        "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
        "/": lambda: a / b, "%": lambda: a % b,
    }[op]()
    return result if isinstance(result, bool) else _tidy(result)


def _call(name: str, arg_nodes: tuple[Node, ...], expand: bool, scope: Scope) -> Any:
    if name == "try":
        for node in arg_nodes:
            try:
                value = evaluate(node, scope)
            except EvalError:
                continue
            if not isinstance(value, Unknown):
                return value
        raise EvalError("try(): every argument failed")
    if name == "can":
        try:
            evaluate(arg_nodes[0], scope)
        except EvalError:
            return False
        return True
    function = FUNCTIONS.get(name)
    if function is None:
        raise TerraformError(f"function {name}() is not supported by local.cloudstack.terraform")
    values = [evaluate(node, scope) for node in arg_nodes]
    if expand:
        values = values[:-1] + list(values[-1])
    try:
        return function(*values)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise EvalError(f"{name}(): {exc}") from None


# -- resources, modules, the plan -----------------------------------------------------------------

# Attributes the provider computes, modelled as Google forms them. ``attr(name)`` reads a
# configured attribute of the same instance; ``plan`` gives project-level facts.
Computed = Callable[[Callable[[str], Any], "Plan"], Any]

PROJECT_NUMBER = "123456789012"


def _sa_email(attr: Callable[[str], Any], plan: Plan) -> str:
    return f"{attr('account_id')}@{attr('project')}.iam.gserviceaccount.com"


COMPUTED: dict[str, dict[str, Computed]] = {
    "google_service_account": {
        "email": _sa_email,
        "member": lambda attr, plan: f"serviceAccount:{_sa_email(attr, plan)}",
        "name": lambda attr, plan: f"projects/{attr('project')}/serviceAccounts/"
                                   f"{_sa_email(attr, plan)}",
        "id": lambda attr, plan: f"projects/{attr('project')}/serviceAccounts/"
                                 f"{_sa_email(attr, plan)}",
        "unique_id": lambda attr, plan: plan.unique_id(_sa_email(attr, plan)),
    },
    "google_project_service_identity": {
        "email": lambda attr, plan: f"service-{PROJECT_NUMBER}@gcp-sa-"
                                    f"{attr('service').split('.')[0]}.iam.gserviceaccount.com",
        "member": lambda attr, plan: f"serviceAccount:service-{PROJECT_NUMBER}@gcp-sa-"
                                     f"{attr('service').split('.')[0]}.iam.gserviceaccount.com",
    },
    "google_pubsub_topic": {
        "id": lambda attr, plan: f"projects/{attr('project')}/topics/{attr('name')}",
    },
    "google_pubsub_subscription": {
        "id": lambda attr, plan: f"projects/{attr('project')}/subscriptions/{attr('name')}",
    },
    "google_kms_key_ring": {
        "id": lambda attr, plan: f"projects/{attr('project')}/locations/{attr('location')}/"
                                 f"keyRings/{attr('name')}",
    },
    "google_kms_crypto_key": {
        "id": lambda attr, plan: f"{attr('key_ring')}/cryptoKeys/{attr('name')}",
    },
    "google_secret_manager_secret": {
        "id": lambda attr, plan: f"projects/{attr('project')}/secrets/{attr('secret_id')}",
        "name": lambda attr, plan: f"projects/{PROJECT_NUMBER}/secrets/{attr('secret_id')}",
    },
    "random_password": {
        "result": lambda attr, plan: plan.random_password(int(attr("length"))),
    },
    "google_cloudfunctions2_function": {
        "url": lambda attr, plan: f"https://{attr('location')}-{attr('project')}"
                                  f".cloudfunctions.net/{attr('name')}",
        "service_config": lambda attr, plan: [plan.service_config(attr)],
    },
}

DATA: dict[str, dict[str, Computed]] = {
    "google_project": {
        "number": lambda attr, plan: PROJECT_NUMBER,
        "project_id": lambda attr, plan: attr("project_id"),
    },
}


class ModuleInstance:
    """One module directory evaluated with its input variables (the root, or a module call)."""

    def __init__(self, plan: Plan, directory: Path, variables: dict[str, Any],
                 address: str = "") -> None:
        self.plan = plan
        self.directory = directory
        self.address = address
        self.body = Body()
        for path in sorted(directory.glob("*.tf")):
            parsed = parse(path.read_text())
            self.body.blocks.extend(parsed.blocks)
        self._inputs = variables
        self._variables: dict[str, Any] = {}
        self._locals: dict[str, Node] = {}
        for block in self.body.blocks_of("locals"):
            self._locals.update(block.body.attributes)
        self._local_values: dict[str, Any] = {}
        self._evaluating: set[str] = set()
        self._resources: dict[tuple[str, str], Block] = {
            (b.labels[0], b.labels[1]): b for b in self.body.blocks_of("resource")}
        self._data: dict[tuple[str, str], Block] = {
            (b.labels[0], b.labels[1]): b for b in self.body.blocks_of("data")}
        self._modules: dict[str, Block] = {b.labels[0]: b for b in self.body.blocks_of("module")}
        self._instances: dict[tuple[str, str], Any] = {}
        self._module_instances: dict[str, Any] = {}
        self.scope = Scope(self)

    # -- names -----------------------------------------------------------------------------
    def root_name(self, name: str) -> Any:
        if name == "var":
            return Lazy(f"{self.address}var", self.variable, self.variable_names)
        if name == "local":
            return Lazy(f"{self.address}local", self.local, lambda: list(self._locals))
        if name == "module":
            return Lazy(f"{self.address}module", self.module_call, lambda: list(self._modules))
        if name == "data":
            return Lazy("data", lambda rtype: Lazy(f"data.{rtype}", lambda rname: self.data(
                rtype, rname)))
        if name == "path":
            return {"module": str(self.directory), "root": str(self.plan.root),
                    "cwd": str(self.plan.root)}
        if name == "terraform":
            return {"workspace": "default"}
        if any(rtype == name for rtype, _ in self._resources):
            return Lazy(name, lambda rname: self.resource_value(name, rname))
        raise EvalError(f"unknown name {name!r} in {self.address or 'the root module'}")

    def variable_names(self) -> list[str]:
        return [b.labels[0] for b in self.body.blocks_of("variable")]

    def variable(self, name: str) -> Any:
        if name not in self._variables:
            block = next((b for b in self.body.blocks_of("variable") if b.labels[0] == name),
                         None)
            if block is None:
                raise EvalError(f"no variable {name!r}")
            if name in self._inputs:
                value = self._inputs[name]
            elif "default" in block.body.attributes:
                value = evaluate(block.body.attributes["default"], Scope(self))
            else:
                raise TerraformError(f"variable {name!r} has no value (pass it in variables=)")
            type_node = block.body.attributes.get("type")
            if type_node is not None and value is not None:
                value = _with_type_defaults(type_node, value, self.scope)
            nullable = block.body.attributes.get("nullable")
            if value is None and nullable is not None and not evaluate(nullable, self.scope) \
                    and "default" in block.body.attributes:
                value = evaluate(block.body.attributes["default"], Scope(self))
            self._variables[name] = value
        return self._variables[name]

    def local(self, name: str) -> Any:
        if name not in self._local_values:
            if name not in self._locals:
                raise EvalError(f"no local {name!r}")
            if name in self._evaluating:
                raise TerraformError(f"local.{name} refers to itself")
            self._evaluating.add(name)
            try:
                self._local_values[name] = evaluate(self._locals[name], self.scope)
            finally:
                self._evaluating.discard(name)
        return self._local_values[name]

    # -- resources ---------------------------------------------------------------------------
    def resource_types(self) -> list[tuple[str, str]]:
        return list(self._resources)

    def instances(self, rtype: str, rname: str) -> dict[Any, Lazy]:
        """Every instance of a resource, by its for_each key or count index (None: single)."""
        key = (rtype, rname)
        if key not in self._instances:
            block = self._resources.get(key)
            if block is None:
                raise EvalError(f"no resource {rtype}.{rname}")
            self._instances[key] = self._expand(block, rtype, f"{rtype}.{rname}", COMPUTED)
        result: dict[Any, Lazy] = self._instances[key]
        return result

    def resource_value(self, rtype: str, rname: str) -> Any:
        block = self._resources.get((rtype, rname))
        if block is None:
            raise EvalError(f"no resource {rtype}.{rname}")
        instances = self.instances(rtype, rname)
        if "for_each" in block.body.attributes:
            return dict(instances)
        if "count" in block.body.attributes:
            return [instances[i] for i in sorted(instances)]
        return instances[None]

    def data(self, rtype: str, rname: str) -> Any:
        block = self._data.get((rtype, rname))
        if block is None:
            raise EvalError(f"no data source {rtype}.{rname}")
        return self._expand(block, rtype, f"data.{rtype}.{rname}", DATA)[None]

    def _expand(self, block: Block, rtype: str, address: str,
                computed: dict[str, dict[str, Computed]]) -> dict[Any, Lazy]:
        attributes = block.body.attributes
        if "for_each" in attributes:
            collection = evaluate(attributes["for_each"], self.scope)
            pairs = _items(collection)
            return {key: self._instance(block, rtype, f'{address}["{key}"]', computed,
                                        self.scope.with_names(each={"key": key, "value": value}))
                    for key, value in pairs}
        if "count" in attributes:
            count = int(_number(evaluate(attributes["count"], self.scope)))
            return {i: self._instance(block, rtype, f"{address}[{i}]", computed,
                                      self.scope.with_names(count={"index": i}))
                    for i in range(count)}
        return {None: self._instance(block, rtype, address, computed, self.scope)}

    def _instance(self, block: Block, rtype: str, address: str,
                  computed: dict[str, dict[str, Computed]], scope: Scope) -> Lazy:
        models = computed.get(rtype, {})
        body = block.body
        project = self.plan.project

        def declared(name: str) -> Any:
            if name in body.attributes:
                return evaluate(body.attributes[name], scope)
            nested = body.blocks_of(name) + _dynamic_blocks(body, name)
            if nested:
                return [block_value(b, s) for b, s in _expand_blocks(body, name, scope)]
            if name == "project":
                return project
            return _ABSENT

        def attr(name: str) -> Any:
            if name in models:
                return models[name](declared, self.plan)
            value = declared(name)
            if value is not _ABSENT:
                return value
            if name in _COMPUTED_BY_DEFAULT:
                return Unknown(f"{address}.{name}")
            return None  # an optional argument left unset

        def names() -> list[str]:
            kinds = {b.kind for b in body.blocks if b.kind not in ("lifecycle", "dynamic")}
            kinds |= {b.labels[0] for b in body.blocks_of("dynamic")}
            return [n for n in body.attributes if n not in _META] + sorted(kinds)

        lazy = Lazy(address, attr, names)
        lazy.rtype = rtype  # type: ignore[attr-defined]
        lazy.address = address  # type: ignore[attr-defined]
        return lazy

    # -- modules ---------------------------------------------------------------------------------
    def module_call(self, name: str) -> Any:
        instances = self.module_instances(name)
        block = self._modules[name]
        if "for_each" in block.body.attributes:
            return {key: inst.outputs_lazy() for key, inst in instances.items()}
        if "count" in block.body.attributes:
            return [instances[i].outputs_lazy() for i in sorted(instances)]
        return instances[None].outputs_lazy()

    def module_instances(self, name: str) -> dict[Any, ModuleInstance]:
        if name not in self._module_instances:
            block = self._modules.get(name)
            if block is None:
                raise EvalError(f"no module {name!r}")
            source = evaluate(block.body.attributes["source"], self.scope)
            directory = (self.directory / source).resolve()
            attributes = {k: v for k, v in block.body.attributes.items() if k not in _META}
            if "for_each" in block.body.attributes:
                scopes = [(key, self.scope.with_names(each={"key": key, "value": value}))
                          for key, value in _items(evaluate(block.body.attributes["for_each"],
                                                            self.scope))]
            else:
                scopes = [(None, self.scope)]
            self._module_instances[name] = {
                key: ModuleInstance(self.plan, directory, _LazyInputs(attributes, scope),
                                    f'{self.address}module.{name}["{key}"].')
                for key, scope in scopes}
        result: dict[Any, ModuleInstance] = self._module_instances[name]
        return result

    def output(self, name: str) -> Any:
        block = next((b for b in self.body.blocks_of("output") if b.labels[0] == name), None)
        if block is None:
            raise EvalError(f"no output {name!r}")
        return evaluate(block.body.attributes["value"], self.scope)

    def outputs_lazy(self) -> Lazy:
        return Lazy(f"{self.address}outputs", self.output,
                    lambda: [b.labels[0] for b in self.body.blocks_of("output")])

    def resource(self, rtype: str, rname: str, key: Any = None) -> Lazy:
        """One instance (``key`` for for_each/count resources)."""
        return self.instances(rtype, rname)[key]


_ABSENT = object()
_META = {"for_each", "count", "depends_on", "provider", "lifecycle", "source"}
# Attributes every resource has once created; unmodelled ones are unknown, not null.
_COMPUTED_BY_DEFAULT = {"id", "name", "self_link", "email", "member", "unique_id", "uri", "url",
                        "number", "etag", "output_md5", "output_path"}


def block_value(block: Block, scope: Scope) -> Lazy:
    """A nested block as an object (its attributes and, recursively, its nested blocks)."""
    body = block.body

    def attr(name: str) -> Any:
        if name in body.attributes:
            return evaluate(body.attributes[name], scope)
        nested = _expand_blocks(body, name, scope)
        if nested:
            return [block_value(b, s) for b, s in nested]
        return None

    def names() -> list[str]:
        kinds = {b.kind for b in body.blocks if b.kind != "dynamic"}
        kinds |= {b.labels[0] for b in body.blocks_of("dynamic")}
        return list(body.attributes) + sorted(kinds)

    return Lazy(f"block {block.kind}", attr, names)


def _dynamic_blocks(body: Body, name: str) -> list[Block]:
    return [b for b in body.blocks_of("dynamic") if b.labels[0] == name]


def _expand_blocks(body: Body, name: str, scope: Scope) -> list[tuple[Block, Scope]]:
    result = [(b, scope) for b in body.blocks_of(name)]
    for dynamic in _dynamic_blocks(body, name):
        iterator = name
        if "iterator" in dynamic.body.attributes:
            node = dynamic.body.attributes["iterator"]
            iterator = node.args[0] if node.kind == "var" else iterator
        content = next(iter(dynamic.body.blocks_of("content")))
        for key, value in _items(evaluate(dynamic.body.attributes["for_each"], scope)):
            result.append((content, scope.with_names(**{iterator: {"key": key,
                                                                    "value": value}})))
    return result


class _LazyInputs(dict):  # type: ignore[type-arg]
    """A module call's arguments, each evaluated when the module reads it."""

    def __init__(self, nodes: dict[str, Node], scope: Scope) -> None:
        super().__init__()
        self._nodes, self._scope = nodes, scope

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    def __getitem__(self, name: str) -> Any:
        if not dict.__contains__(self, name):
            dict.__setitem__(self, name, evaluate(self._nodes[name], self._scope))
        return dict.__getitem__(self, name)


def _with_type_defaults(type_node: Node, value: Any, scope: Scope) -> Any:
    """Apply ``optional(type, default)`` defaults of an ``object({...})`` type constraint."""
    if value is None or isinstance(value, Unknown):
        return value
    if type_node.kind != "call":
        return value
    name, args, _ = type_node.args
    if name == "object" and args and args[0].kind == "object" and isinstance(value, dict | Lazy):
        result = dict(value.to_dict() if isinstance(value, Lazy) else value)
        for key_node, attr_type in args[0].args:
            key = evaluate(key_node, scope)
            if attr_type.kind == "call" and attr_type.args[0] == "optional":
                inner = attr_type.args[1]
                if key not in result or result[key] is None:
                    result[key] = evaluate(inner[1], scope) if len(inner) > 1 else None
                if result[key] is not None:
                    result[key] = _with_type_defaults(inner[0], result[key], scope)
            elif key in result:
                result[key] = _with_type_defaults(attr_type, result[key], scope)
        return result
    if name == "map" and args and isinstance(value, dict):
        return {k: _with_type_defaults(args[0], v, scope) for k, v in value.items()}
    if name in ("list", "set") and args and isinstance(value, list):
        return [_with_type_defaults(args[0], v, scope) for v in value]
    return value


class Plan:
    """``infra/`` evaluated with ``variables`` (the tfvars), like a plan without a provider.

    ``service_config`` models what a 2nd-gen function reports once it exists: its ``uri`` is
    given by ``function_uri(name)`` (CloudStack passes its local front's address).
    """

    def __init__(self, root: Path, variables: dict[str, Any], *,
                 function_uri: Callable[[str], str] = lambda name: f"https://{name}.a.run.app",
                 unique_ids: dict[str, str] | None = None,
                 random: Callable[[int], str] | None = None) -> None:
        self.root = root
        self.project = variables.get("project_id")
        self._function_uri = function_uri
        self._unique_ids = dict(unique_ids or {})
        self._random = random or _random_text
        self._passwords: dict[int, str] = {}
        self.module = ModuleInstance(self, root, dict(variables))

    def unique_id(self, email: str) -> str:
        if email not in self._unique_ids:
            self._unique_ids[email] = str(100000000000000000000 + len(self._unique_ids) + 1)
        return self._unique_ids[email]

    def random_password(self, length: int) -> str:
        return self._random(length)

    def service_config(self, attr: Callable[[str], Any]) -> dict[str, Any]:
        declared = attr("service_config")
        config = plain(declared[0]) if isinstance(declared, list) and declared else {}
        return {**config, "uri": self._function_uri(attr("name"))}

    # -- convenient views ----------------------------------------------------------------------
    @property
    def locals(self) -> Lazy:
        return self.module.root_name("local")  # type: ignore[no-any-return]

    def variable(self, name: str) -> Any:
        return self.module.variable(name)

    def instances(self, rtype: str, rname: str | None = None) -> dict[str, Lazy]:
        """Every instance of resources of ``rtype`` in the root module, by address."""
        result: dict[str, Lazy] = {}
        for kind, name in self.module.resource_types():
            if kind == rtype and rname in (None, name):
                for instance in self.module.instances(kind, name).values():
                    result[instance.address] = instance  # type: ignore[attr-defined]
        return result

    def module_instances(self, name: str) -> dict[Any, ModuleInstance]:
        return self.module.module_instances(name)

    def walk(self) -> Iterator[tuple[ModuleInstance, str, str, Lazy]]:
        """Every resource instance of every module: (module, type, name, instance)."""
        def visit(module: ModuleInstance) -> Iterator[tuple[ModuleInstance, str, str, Lazy]]:
            for rtype, rname in module.resource_types():
                for instance in module.instances(rtype, rname).values():
                    yield module, rtype, rname, instance
            for call in module._modules:
                for child in module.module_instances(call).values():
                    yield from visit(child)
        yield from visit(self.module)


def _random_text(length: int) -> str:
    import secrets
    import string

    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))
