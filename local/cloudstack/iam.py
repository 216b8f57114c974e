"""Identities and IAM as ``infra/`` declares them, enforced where the call is made.

- :class:`Policy` holds every IAM binding the Terraform plan creates (``*_iam_member`` and
  ``*_iam_binding`` resources) and answers ``allows(member, permission, resource)`` with the
  permissions of the few predefined roles hybridcal uses. Every refusal is kept as a
  :class:`Denial` (function, permission, resource): ``CloudStack.iam_denials()``.
- :class:`MetadataServers` plays each function instance's metadata server: one port per
  service account (``GCE_METADATA_HOST``), so google-auth's own Compute Engine credentials in
  the function process get an access token that the local fakes map back to the account, as
  Google's APIs do with the real token.
- :class:`IamCredentials` serves ``signBlob``/``signJwt`` on
  ``/v1/projects/-/serviceAccounts/EMAIL``: the caller (its access token) needs
  ``iam.serviceAccounts.signBlob``/``signJwt`` on that account (Token Creator); a refusal is
  the 403 ``PERMISSION_DENIED`` with the ``IAM_PERMISSION_DENIED`` reason Google answers. It
  signs with the only key it holds: the delegated account's (the Workspace simulator's).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from local.quiet import QuietHandler

# The predefined roles infra/ grants, with the permissions CloudStack checks.
ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    "roles/pubsub.publisher": frozenset({"pubsub.topics.publish"}),
    "roles/pubsub.subscriber": frozenset({"pubsub.subscriptions.consume"}),
    "roles/cloudkms.cryptoKeyEncrypterDecrypter": frozenset({
        "cloudkms.cryptoKeyVersions.useToEncrypt", "cloudkms.cryptoKeyVersions.useToDecrypt"}),
    "roles/cloudkms.cryptoKeyEncrypter": frozenset({"cloudkms.cryptoKeyVersions.useToEncrypt"}),
    "roles/cloudkms.cryptoKeyDecrypter": frozenset({"cloudkms.cryptoKeyVersions.useToDecrypt"}),
    "roles/iam.serviceAccountTokenCreator": frozenset({
        "iam.serviceAccounts.signBlob", "iam.serviceAccounts.signJwt",
        "iam.serviceAccounts.getAccessToken", "iam.serviceAccounts.getOpenIdToken"}),
    "roles/iam.serviceAccountOpenIdTokenCreator": frozenset({
        "iam.serviceAccounts.getOpenIdToken"}),
    "roles/secretmanager.secretAccessor": frozenset({"secretmanager.versions.access"}),
    "roles/run.invoker": frozenset({"run.routes.invoke"}),
    "roles/datastore.user": frozenset({
        "datastore.entities.get", "datastore.entities.list", "datastore.entities.create",
        "datastore.entities.update", "datastore.entities.delete"}),
}
PUBLIC_MEMBERS = ("allUsers",)


@dataclass(frozen=True)
class Binding:
    resource: str  # full resource name: projects/P/topics/T, projects/P, ...
    role: str
    member: str


@dataclass(frozen=True)
class Denial:
    """A call a grant did not allow: who (the function, or the Google agent acting for it),
    which permission, on what."""

    function: str
    permission: str
    resource: str
    principal: str = ""


def _resource_of(rtype: str, attr: Callable[[str], Any], project: str) -> str | None:
    """The resource an IAM member/binding resource of ``rtype`` grants on."""
    def short(value: str, kind: str) -> str:
        return value.rsplit(f"/{kind}/", 1)[-1]

    if rtype.startswith("google_pubsub_topic_iam"):
        return f"projects/{attr('project') or project}/topics/{short(attr('topic'), 'topics')}"
    if rtype.startswith("google_pubsub_subscription_iam"):
        return (f"projects/{attr('project') or project}/subscriptions/"
                f"{short(attr('subscription'), 'subscriptions')}")
    if rtype.startswith("google_kms_crypto_key_iam"):
        return str(attr("crypto_key_id"))
    if rtype.startswith("google_service_account_iam"):
        return str(attr("service_account_id"))
    if rtype.startswith("google_secret_manager_secret_iam"):
        return (f"projects/{attr('project') or project}/secrets/"
                f"{short(attr('secret_id'), 'secrets')}")
    if rtype.startswith("google_project_iam"):
        return f"projects/{attr('project') or project}"
    if rtype.startswith("google_cloud_run_v2_service_iam") or \
            rtype.startswith("google_cloud_run_service_iam"):
        return (f"projects/{attr('project') or project}/locations/{attr('location')}/services/"
                f"{short(attr('name') or attr('service'), 'services')}")
    if rtype.startswith("google_cloudfunctions2_function_iam"):
        return (f"projects/{attr('project') or project}/locations/{attr('location')}/functions/"
                f"{short(attr('cloud_function'), 'functions')}")
    return None


class Policy:
    """Every binding of the plan; ``check`` records what it refuses, and which binding allowed
    each call it let through (the evidence that a grant is needed: :meth:`exercised`)."""

    def __init__(self, bindings: Iterable[Binding] = ()) -> None:
        self.bindings: list[Binding] = list(bindings)
        self._denials: list[Denial] = []
        self._used: dict[Binding, set[str]] = {}  # binding -> permissions it granted a call
        self._lock = threading.Lock()

    @classmethod
    def from_plan(cls, plan: Any) -> Policy:
        bindings: list[Binding] = []
        for _module, rtype, _name, instance in plan.walk():
            if not (rtype.endswith("_iam_member") or rtype.endswith("_iam_binding")):
                continue
            if instance.get("condition"):  # conditional grants: none that CloudStack checks
                continue
            resource = _resource_of(rtype, instance.get, plan.project)
            if resource is None:
                continue
            members = ([instance.get("member")] if rtype.endswith("_iam_member")
                       else list(instance.get("members") or []))
            for member in members:
                bindings.append(Binding(resource, str(instance.get("role")), str(member)))
        return cls(bindings)

    def allows(self, member: str, permission: str, resource: str) -> bool:
        return self._granting(member, permission, resource) is not None

    def _granting(self, member: str, permission: str, resource: str) -> Binding | None:
        """The binding that lets ``member`` use ``permission`` on ``resource`` (the member's
        own before a public one), or None."""
        public = None
        for binding in self.bindings:
            if binding.member != member and binding.member not in PUBLIC_MEMBERS:
                continue
            if permission not in ROLE_PERMISSIONS.get(binding.role, frozenset()):
                continue
            if resource == binding.resource or resource.startswith(binding.resource + "/"):
                if binding.member == member:
                    return binding
                public = public or binding
        return public

    def check(self, function: str, member: str, permission: str, resource: str) -> bool:
        """``allows``, and a :class:`Denial` recorded when not (the binding used when so)."""
        binding = self._granting(member, permission, resource)
        if binding is not None:
            with self._lock:
                self._used.setdefault(binding, set()).add(permission)
            return True
        self.deny(function, permission, resource, member)
        return False

    def exercised(self) -> dict[Binding, set[str]]:
        """Each binding that let a call through since the stack started (secrets are read when
        an instance starts), with the permissions those calls needed."""
        with self._lock:
            return {binding: set(permissions) for binding, permissions in self._used.items()}

    def deny(self, function: str, permission: str, resource: str, principal: str = "") -> None:
        with self._lock:
            denial = Denial(function, permission, resource, principal)
            if denial not in self._denials:
                self._denials.append(denial)

    def clear_denials(self) -> None:
        with self._lock:
            self._denials.clear()

    def denials(self) -> list[Denial]:
        with self._lock:
            return list(self._denials)

    def revoke(self, member: str, role: str, resource: str | None = None) -> int:
        """Remove ``member``'s ``role`` (on ``resource``, or everywhere), as if infra/ had not
        granted it; returns how many bindings went."""
        before = len(self.bindings)
        self.bindings = [b for b in self.bindings if not (
            b.member == member and b.role == role and resource in (None, b.resource))]
        return before - len(self.bindings)

    def members_with(self, permission: str, resource: str) -> list[str]:
        return sorted({b.member for b in self.bindings
                       if permission in ROLE_PERMISSIONS.get(b.role, frozenset())
                       and (resource == b.resource or resource.startswith(b.resource + "/"))})


# -- identities -----------------------------------------------------------------------------------

class Identities:
    """Access tokens handed out by the metadata servers, mapped back to their account."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, str, float]] = {}  # token -> (email, function, exp)
        self._lock = threading.Lock()

    def issue(self, email: str, function: str, lifetime: int = 3600) -> str:
        token = "ya29.cloudstack-" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (email, function, time.time() + lifetime)
        return token

    def caller(self, authorization: str) -> tuple[str, str] | None:
        """``(member, function)`` for an ``Authorization: Bearer`` header, or None."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self._lock:
            found = self._tokens.get(token.strip())
        if found is None or found[2] < time.time():
            return None
        return f"serviceAccount:{found[0]}", found[1]


class _Server:
    """A threaded werkzeug server on a free loopback port."""

    def __init__(self, app: Callable[..., Any], name: str) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name=name)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class MetadataServers:
    """The metadata server of each function instance (a port per service account)."""

    def __init__(self, identities: Identities, project: str, project_number: str,
                 id_token: Callable[[str, str], str] | None = None) -> None:
        self._identities = identities
        self._project, self._number = project, project_number
        self._id_token = id_token
        self._servers: dict[str, _Server] = {}

    def host_for(self, email: str, function: str) -> str:
        """``127.0.0.1:PORT`` of the metadata server that speaks for ``email``."""
        if function not in self._servers:
            self._servers[function] = _Server(self._app(email, function), f"metadata-{function}")
        return f"127.0.0.1:{self._servers[function].port}"

    def _app(self, email: str, function: str) -> Callable[..., Any]:
        @Request.application  # type: ignore[misc]
        def app(request: Request) -> Response:
            if request.headers.get("Metadata-Flavor") != "Google":
                return Response("Missing Metadata-Flavor:Google header.", status=403)
            path = request.path.rstrip("/")
            base = "/computeMetadata/v1/instance/service-accounts/"
            answer: Any = None
            if path == "":
                answer = ""
            elif path == "/computeMetadata/v1/project/project-id":
                answer = self._project
            elif path == "/computeMetadata/v1/project/numeric-project-id":
                answer = self._number
            elif path == "/computeMetadata/v1/universe/universe-domain":
                answer = "googleapis.com"
            elif path.startswith(base):
                account, _, leaf = path[len(base):].partition("/")
                if account not in ("default", email):
                    return Response("not found", status=404)
                if leaf == "":
                    answer = {"aliases": ["default"], "email": email,
                              "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
                elif leaf == "email":
                    answer = email
                elif leaf == "scopes":
                    answer = "https://www.googleapis.com/auth/cloud-platform"
                elif leaf == "token":
                    answer = {"access_token": self._identities.issue(email, function),
                              "expires_in": 3599, "token_type": "Bearer"}
                elif leaf == "identity" and self._id_token is not None:
                    answer = self._id_token(email, request.args.get("audience", ""))
            if answer is None:
                return Response("not found", status=404)
            response = Response(answer if isinstance(answer, str) else json.dumps(answer),
                                mimetype="text/plain" if isinstance(answer, str)
                                else "application/json")
            response.headers["Metadata-Flavor"] = "Google"
            return response

        return app  # type: ignore[no-any-return]

    def stop(self) -> None:
        threads = [threading.Thread(target=server.stop) for server in self._servers.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._servers.clear()


class IamCredentials:
    """IAM Credentials ``signBlob``/``signJwt`` for the delegated account (see the module
    docstring)."""

    def __init__(self, identities: Identities, policy: Policy, project: str,
                 keys: dict[str, dict[str, Any]]) -> None:
        self._identities, self._policy, self._project = identities, policy, project
        self._keys = keys  # service account email -> key info (Google's JSON key format)
        self.calls: list[tuple[str, str, str]] = []  # (function, verb, account)
        self._server = _Server(self._app, "iam-credentials")

    @property
    def base_url(self) -> str:
        """``_IAM_BASE_URL``'s local counterpart: ``.../v1/projects/-/serviceAccounts/{}``."""
        return f"{self._server.url}/v1/projects/-/serviceAccounts/{{}}"

    def stop(self) -> None:
        self._server.stop()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return self._handle(request)(environ, start_response)

    def _handle(self, request: Request) -> Response:
        prefix = "/v1/projects/-/serviceAccounts/"
        account, _, verb = request.path[len(prefix):].rpartition(":")
        if request.method != "POST" or not request.path.startswith(prefix) or \
                verb not in ("signBlob", "signJwt"):
            return _error(404, "NOT_FOUND", "Not found")
        caller = self._identities.caller(request.headers.get("Authorization", ""))
        if caller is None:
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication "
                          "credentials. Expected OAuth 2 access token, login cookie or other "
                          "valid authentication credential.")
        member, function = caller
        self.calls.append((function, verb, account))
        permission = f"iam.serviceAccounts.{verb}"
        resource = f"projects/{self._project}/serviceAccounts/{account}"
        key = self._keys.get(account)
        if key is None or not self._policy.check(function, member, permission, resource):
            return _error(403, "PERMISSION_DENIED", f"Permission '{permission}' denied on "
                          "resource (or it may not exist).", reason="IAM_PERMISSION_DENIED",
                          permission=permission)
        from google.auth import crypt

        body = request.get_json(silent=True) or {}
        signer = crypt.RSASigner.from_service_account_info(key)
        if verb == "signBlob":
            signature = signer.sign(base64.b64decode(body.get("payload", "")))
            return _json(200, {"keyId": key["private_key_id"],
                               "signedBlob": base64.b64encode(signature).decode()})
        from google.auth import jwt

        claims = json.loads(body.get("payload", "{}"))
        signed = jwt.encode(signer, claims).decode()
        return _json(200, {"keyId": key["private_key_id"], "signedJwt": signed})


def _json(status: int, payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _error(status: int, code: str, message: str, *, reason: str = "",
           permission: str = "") -> Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if reason:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                             "reason": reason, "domain": "iam.googleapis.com",
                             "metadata": {"permission": permission}}]
    return _json(status, {"error": error})
