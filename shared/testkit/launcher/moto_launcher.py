#!/usr/bin/env python3
"""Secrets Manager emulator for the tests and the demo.

Runs moto's server and changes three things so that ``RotateSecret`` drives a
real rotation function the way the service does:

* Lambda invocations are not run by moto (that needs Docker): each step is
  POSTed to the function's Invoke endpoint,
  ``{invoke_url}/2015-03-31/functions/{name}/invocations``, where ``name`` is
  the function name in the rotation Lambda ARN (``cargo lambda watch`` serves
  that endpoint). A step that fails stops the rotation and fails
  ``RotateSecret`` with the function's error message.
* Labels are left to the function: moto moves AWSCURRENT itself after the
  steps; the service does not. ``RotateSecret`` is refused only when
  AWSPENDING sits on a version other than AWSCURRENT (moto refuses exactly
  the other way round).
* ``UpdateSecretVersionStage`` moving AWSCURRENT also moves moto's default
  version, so a plain ``GetSecretValue`` returns the new current value.
* ``PutSecretValue`` never changes a version that holds a value, as the
  service documents ("you can't modify an existing version"): the same value
  again succeeds and does nothing, a different one fails with
  ``ResourceExistsException``. Moto overwrites a version labelled AWSPENDING
  whatever it holds, so two createSecret steps racing on two instances left
  the value one of them did not store. The check and the write are atomic.
* ``ListSecretVersionIds`` gives each version's own ``CreatedDate`` (moto
  answers the time of the call for every version), in the whole seconds
  moto records (the service gives milliseconds).

* ``ListSecretVersionIds`` lists ``KmsKeyIds`` (``["DefaultEncryptionKey"]``,
  what the service shows for the AWS managed key) only for a version that
  holds a value: the service lists the keys that encrypted a version, and a
  version ``RotateSecret`` made whose createSecret never stored a value was
  encrypted by none. Moto lists no keys at all. ``rotation-ctl status`` reads
  this to tell an empty pending version from one holding a value.
* Lambda's ``Invoke`` API (``POST /2015-03-31/functions/{name}/invocations``)
  is forwarded to the function's Invoke endpoint like rotation steps, so one
  endpoint serves every AWS call of ``rotation-ctl``.
* The function's output (``{log_dir}/{name}.log``, written by the test kit)
  is copied into moto's CloudWatch Logs, log group ``/aws/lambda/{name}``,
  stream ``local``, as Lambda does, from the first invocation on (with
  ``--log-dir``).

Each event carries a ``RotationToken``; the launcher records whether the
function passed it on to ``PutSecretValue``.

``RotateSecret`` with ``RotateImmediately=false`` tests the configuration as
the service documents it: it makes an ``AWSPENDING`` version holding the
current value (as moto does, and as moto's maintainers checked against the
service), invokes only ``testSecret`` with it, then removes that version,
whatever the outcome; the rotation date does not change.

Remaining differences from the service, each on purpose:

* The steps run synchronously inside ``RotateSecret``, which fails with the
  failing step's error; the service answers at once and runs the steps
  asynchronously (a failure shows only in the function's logs and
  CloudTrail's ``RotationFailed``), retrying a failed rotation later. Tests
  need the outcome, so they get it from the call. ``{"async_rotation":
  true}`` (control endpoint) switches to the service's way: ``RotateSecret``
  answers at once and the steps run in the background.
* A failing step stops the rotation at once; the service retries it.
* Two ``RotateSecret`` calls of one secret can overlap (each in its own
  request thread); the service refuses the second sooner.
* Lambda's own timeout is not enforced here; the runtime API proxy
  (``runtime_proxy.py``) gives each invocation a real deadline and records
  when the function answered.

ElastiCache's ``ModifyUser`` is missing from moto; the launcher adds it as
the API reference documents it (up to two passwords of 16 to 128
characters, ``NoPasswordRequired``, ``AccessString`` and
``AppendAccessString``; ``UserNotFound`` for an unknown user,
``InvalidUserState`` unless the user is ``active``). A modified user is
``modifying`` for the next ``modifying_describes`` ``DescribeUsers`` calls
(default 1), then ``active`` again, so a function has to wait as it must on
the service.

Control endpoints (JSON), for tests:

* ``GET /_launcher/calls``: Secrets Manager calls counted by action, and the
  rotation tokens seen on ``PutSecretValue``.
* ``POST /_launcher/reset``: zero the counters.
* ``POST /_launcher/config``: ``{"steps": [...]}`` sets the steps
  ``RotateSecret`` invokes (default all four; ``[]`` only stages AWSPENDING so
  a test can invoke the steps itself); ``{"async_rotation": bool}`` whether
  ``RotateSecret`` answers before the steps run; ``{"function_aliases":
  {"name": "local-name"}}`` serves the function ``name`` (e.g. the one a
  stack made) by the local function ``local-name`` (``cargo lambda watch``
  serves only the workspace's binaries' names); ``{"modifying_describes": N}`` how
  many ``DescribeUsers`` calls a modified ElastiCache user stays
  ``modifying``.
* ``GET /_launcher/elasticache-users``: every ElastiCache user's id, status
  and passwords (the emulator's own state, for assertions).
* ``POST /_launcher/faults``: ``{"count": N, "kind": "500" | "throttle"}``:
  the next N Secrets Manager calls other than ``RotateSecret`` (the function's
  calls, while a rotation runs) fail with HTTP 500 ``InternalServiceError`` or
  HTTP 400 ``ThrottlingException``; ``GET /_launcher/calls`` reports how many
  were injected.
"""

import argparse
import io
import json
import sys
import threading
import time
import urllib.error
import urllib.request
import re
import urllib.parse
import uuid

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)
from moto.secretsmanager import models as sm
from moto.secretsmanager.exceptions import (
    InvalidParameterException,
    InvalidRequestException,
    ResourceExistsException,
    ResourceNotFoundException,
    SecretNotFoundException,
)
from moto.elasticache import models as elasticache_models
from moto.elasticache import responses as elasticache_responses
from moto.elasticache.exceptions import (
    ElastiCacheException,
    InvalidParameterCombinationException,
    InvalidParameterValueException,
    UserNotFound,
)
from werkzeug.serving import run_simple

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
ALL_STEPS = ["createSecret", "setSecret", "testSecret", "finishSecret"]

STATE = {
    "invoke_url": None,
    "steps": list(ALL_STEPS),
    "calls": {},
    "issued_rotation_tokens": set(),
    "put_rotation_tokens": [],
    "faults": {"count": 0, "kind": "500", "injected": 0},
    "modifying_describes": 1,
    "async_rotation": False,
    "log_dir": None,
    "shipping": set(),
    "aliases": {},
}
LOCK = threading.Lock()


def function_name(arn):
    """The local function serving a Lambda ARN (or name): the name in it,
    or the function it is an alias of (``function_aliases``)."""
    parts = arn.split(":")
    name = parts[6] if len(parts) >= 7 and parts[5] == "function" else arn
    return STATE["aliases"].get(name, name)


def ship_logs(name):
    """Copies the function's output into moto's CloudWatch Logs, group
    /aws/lambda/{name}, from now on (a thread per function, started once)."""
    if STATE["log_dir"] is None:
        return
    with LOCK:
        if name in STATE["shipping"]:
            return
        STATE["shipping"].add(name)
    from moto.logs.models import logs_backends

    backend = logs_backends["123456789012"]["us-east-1"]
    group, stream = "/aws/lambda/%s" % name, "local"
    try:
        backend.create_log_group(group, tags={})
    except Exception:  # it exists
        pass
    try:
        backend.create_log_stream(group, stream)
    except Exception:
        pass
    path = "%s/%s.log" % (STATE["log_dir"], name)

    def follow():
        offset, partial = 0, ""
        while True:
            try:
                with open(path, "r", errors="replace") as log:
                    log.seek(offset)
                    text = log.read()
                    offset = log.tell()
            except OSError:
                text = ""
            text = partial + text
            lines = text.split("\n")
            partial = lines.pop()
            events = [
                {"timestamp": int(time.time() * 1000), "message": line}
                for line in lines
                if line.strip()
            ]
            if events:
                try:
                    backend.put_log_events(group, stream, events)
                except Exception as error:  # keep shipping
                    print("log shipping: %s" % error, file=sys.stderr, flush=True)
            time.sleep(0.2)

    threading.Thread(target=follow, daemon=True).start()


def forward(name, payload):
    """POSTs ``payload`` (bytes) to the function ``name``; returns (status,
    body, X-Amz-Function-Error or None)."""
    ship_logs(name)
    url = "%s/2015-03-31/functions/%s/invocations" % (STATE["invoke_url"].rstrip("/"), name)
    request = urllib.request.Request(
        url, data=payload, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=900) as response:
            return (
                response.status,
                response.read().decode(errors="replace"),
                response.headers.get("X-Amz-Function-Error"),
            )
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace"), "HTTP %d" % error.code


def invoke(arn, event):
    """POSTs one event to the function; returns None or the error text."""
    name = function_name(arn)
    try:
        _status, body, function_error = forward(name, json.dumps(event).encode())
    except OSError as error:
        return "could not reach the rotation function %s at %s: %s" % (
            name,
            STATE["invoke_url"],
            error,
        )
    if function_error:
        try:
            payload = json.loads(body)
            return "%s: %s" % (
                payload.get("errorType", function_error),
                payload.get("errorMessage", body),
            )
        except ValueError:
            return "%s: %s" % (function_error, body)
    return None


def rotate_secret(
    self,
    secret_id,
    client_request_token=None,
    rotation_lambda_arn=None,
    rotation_rules=None,
    rotate_immediately=True,
):
    """RotateSecret as the service does it, invoking the function over HTTP."""
    if not self._is_valid_identifier(secret_id):
        raise SecretNotFoundException()
    secret = self.secrets[secret_id]
    if secret.is_deleted():
        raise InvalidRequestException(
            "You tried to perform the operation on a secret that's currently marked deleted."
        )
    if rotation_lambda_arn and len(rotation_lambda_arn) > 2048:
        raise InvalidParameterException("RotationLambdaARN must <= 2048 characters long.")
    if rotation_rules and "AutomaticallyAfterDays" in rotation_rules:
        days = rotation_rules["AutomaticallyAfterDays"]
        if days < 1 or days > 1000:
            raise InvalidParameterException(
                "RotationRules.AutomaticallyAfterDays must be within 1-1000."
            )
        secret.auto_rotate_after_days = days
        secret.next_rotation_date = int(time.time()) + int(days) * 86400

    # The service refuses only when AWSPENDING sits on a version that is not
    # AWSCURRENT: that is a rotation still in progress.
    for version_id, version in secret.versions.items():
        stages = version["version_stages"]
        if "AWSPENDING" in stages and "AWSCURRENT" not in stages:
            raise InvalidRequestException(
                "A previous rotation isn't complete. That rotation will be reattempted."
            )

    if rotation_lambda_arn:
        secret.rotation_lambda_arn = rotation_lambda_arn
    if not secret.rotation_lambda_arn:
        raise InvalidRequestException("No Lambda rotation function ARN is associated with this secret.")
    secret.rotation_enabled = True
    secret.rotation_requested = True

    if client_request_token:
        self._client_request_token_validator(client_request_token)
        token = client_request_token
    else:
        token = str(uuid.uuid4())
    if not rotate_immediately:
        return test_rotation_configuration(secret, token)

    if token not in secret.versions:
        secret.remove_version_stages_from_old_versions(["AWSPENDING"])
        secret.versions[token] = {
            "createdate": int(time.time()),
            "version_id": token,
            "version_stages": ["AWSPENDING"],
        }

    steps = list(STATE["steps"])
    rotation_token = issue_rotation_token()

    def run_steps():
        for step in steps:
            event = {
                "Step": step,
                "SecretId": secret.arn,
                "ClientRequestToken": token,
                "RotationToken": rotation_token,
            }
            error = invoke(secret.rotation_lambda_arn, event)
            if error is not None:
                return "Rotation function failed at step %s: %s" % (step, error)
        secret.last_rotation_date = int(time.time())
        return None

    if STATE["async_rotation"]:
        threading.Thread(target=run_steps, daemon=True).start()
        return secret.to_short_dict(version_id=token)
    error = run_steps()
    if error is not None:
        raise InvalidRequestException(error)
    return secret.to_short_dict(version_id=token)


def issue_rotation_token():
    rotation_token = str(uuid.uuid4())
    with LOCK:
        STATE["issued_rotation_tokens"].add(rotation_token)
    return rotation_token


def test_rotation_configuration(secret, token):
    """RotateImmediately=false: testSecret on a copy of the current value."""
    if token in secret.versions:
        raise InvalidRequestException("ClientRequestToken %s is already a version of this secret." % token)
    current = secret.versions[secret.default_version_id]
    version = {
        "createdate": int(time.time()),
        "version_id": token,
        "version_stages": ["AWSPENDING"],
    }
    for field in ("secret_string", "secret_binary"):
        if current.get(field) is not None:
            version[field] = current[field]
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = version
    event = {
        "Step": "testSecret",
        "SecretId": secret.arn,
        "ClientRequestToken": token,
        "RotationToken": issue_rotation_token(),
    }
    try:
        error = invoke(secret.rotation_lambda_arn, event)
    finally:
        del secret.versions[token]
    if error is not None:
        raise InvalidRequestException("Rotation function failed at step testSecret: %s" % error)
    return secret.to_short_dict(version_id=token)


ORIGINAL_UPDATE_STAGE = sm.SecretsManagerBackend.update_secret_version_stage


def update_secret_version_stage(
    self, secret_id, version_stage, remove_from_version_id, move_to_version_id
):
    """Moto's version, plus: moving AWSCURRENT moves the default version too."""
    result = ORIGINAL_UPDATE_STAGE(
        self, secret_id, version_stage, remove_from_version_id, move_to_version_id
    )
    if version_stage == "AWSCURRENT" and move_to_version_id:
        self.secrets[secret_id].default_version_id = move_to_version_id
    return result


ORIGINAL_PUT_SECRET_VALUE = sm.SecretsManagerBackend.put_secret_value
PUT_LOCK = threading.Lock()


def put_secret_value(
    self, secret_id, secret_string, secret_binary, client_request_token, version_stages
):
    """Moto's version, except that a version holding a value never changes."""
    with PUT_LOCK:
        if self._is_valid_identifier(secret_id) and client_request_token:
            secret = self.secrets[secret_id]
            version = getattr(secret, "versions", {}).get(client_request_token)
            holds = version is not None and (
                version.get("secret_string") is not None or version.get("secret_binary") is not None
            )
            if holds:
                if (
                    version.get("secret_string") == secret_string
                    and version.get("secret_binary") == secret_binary
                ):
                    return secret.to_short_dict(
                        include_version_stages=True, version_id=client_request_token
                    )
                raise ResourceExistsException(
                    "You can't use ClientRequestToken %s because that value is already in use "
                    "for a version of secret %s." % (client_request_token, secret.arn)
                )
        return ORIGINAL_PUT_SECRET_VALUE(
            self, secret_id, secret_string, secret_binary, client_request_token, version_stages
        )


ORIGINAL_LIST_SECRET_VERSION_IDS = sm.SecretsManagerBackend.list_secret_version_ids


def list_secret_version_ids(self, secret_id):
    """Moto's answer, with each version's own creation time (whole seconds,
    as moto records it)."""
    answer = json.loads(ORIGINAL_LIST_SECRET_VERSION_IDS(self, secret_id))
    versions = self.secrets[secret_id].versions
    for version in answer.get("Versions", []):
        recorded = versions.get(version["VersionId"], {}).get("createdate")
        if recorded is not None:
            version["CreatedDate"] = recorded
        stored = versions.get(version["VersionId"], {})
        if stored.get("secret_string") is not None or stored.get("secret_binary") is not None:
            version["KmsKeyIds"] = ["DefaultEncryptionKey"]
    return json.dumps(answer)


sm.SecretsManagerBackend.rotate_secret = rotate_secret
sm.SecretsManagerBackend.list_secret_version_ids = list_secret_version_ids
sm.SecretsManagerBackend.put_secret_value = put_secret_value
sm.SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage


class InvalidUserState(ElastiCacheException):
    code = "InvalidUserState"

    def __init__(self, user_id, status):
        super().__init__(
            "User %s is in %s state; it must be active to be modified." % (user_id, status)
        )


def modify_user(self):
    """ElastiCache ModifyUser, which moto lacks (see the module's documentation)."""
    params = self._get_params()
    user_id = params.get("UserId")
    backend = self.elasticache_backend
    user = backend.users.get(user_id)
    if user is None:
        raise UserNotFound(user_id)
    if user.status != "active":
        raise InvalidUserState(user_id, user.status)
    passwords = params.get("Passwords") or []
    mode = params.get("AuthenticationMode") or {}
    if passwords and mode.get("Passwords"):
        raise InvalidParameterCombinationException(
            "Passwords provided via multiple arguments. Use only one argument"
        )
    passwords = passwords or mode.get("Passwords") or []
    no_password = self._get_bool_param("NoPasswordRequired")
    if no_password and passwords:
        raise InvalidParameterCombinationException(
            "No password required flag is true but passwords were given"
        )
    if len(passwords) > 2:
        raise InvalidParameterValueException("A user can have at most 2 passwords.")
    if any(not 16 <= len(p) <= 128 for p in passwords):
        raise InvalidParameterValueException("Passwords length must be between 16-128 characters.")
    with LOCK:
        if passwords:
            user.passwords = list(passwords)
            user.no_password_required = False
            user.authentication_type = "password"
        elif no_password:
            user.passwords = []
            user.no_password_required = True
        if params.get("AccessString"):
            user.access_string = params["AccessString"]
        if params.get("AppendAccessString"):
            user.access_string = (user.access_string or "") + " " + params["AppendAccessString"]
        user.status = "modifying"
        user.modifying_left = STATE["modifying_describes"]
    return elasticache_responses.ActionResult(user)


ORIGINAL_DESCRIBE_USERS = elasticache_models.ElastiCacheBackend.describe_users


def describe_users(self, user_id):
    """Moto's version, plus: a modified user becomes active after a few looks."""
    users = ORIGINAL_DESCRIBE_USERS(self, user_id)
    with LOCK:
        for user in users:
            if user.status == "modifying":
                left = getattr(user, "modifying_left", 0)
                if left <= 0:
                    user.status = "active"
                else:
                    user.modifying_left = left - 1
    return users


elasticache_responses.ElastiCacheResponse.modify_user = modify_user
elasticache_models.ElastiCacheBackend.describe_users = describe_users


def elasticache_users():
    users = {}
    for account in elasticache_models.elasticache_backends.values():
        for region, backend in account.items():
            for user in backend.users.values():
                users[user.id] = {
                    "region": region,
                    "status": user.status,
                    "user_name": user.name,
                    "passwords": list(user.passwords or []),
                }
    return users


def json_response(start_response, payload, status="200 OK"):
    body = json.dumps(payload).encode()
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


class Launcher:
    """WSGI wrapper: control endpoints, call counting, then moto."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_launcher/"):
            return self.control(path, environ, start_response)
        invoked = INVOKE_PATH.match(path)
        if invoked and environ.get("REQUEST_METHOD") == "POST":
            return self.invoke_api(invoked.group(1), environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("secretsmanager."):
            action = target.split(".", 1)[1]
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            with LOCK:
                fault = None
                if action != "RotateSecret" and STATE["faults"]["count"] > 0:
                    STATE["faults"]["count"] -= 1
                    STATE["faults"]["injected"] += 1
                    fault = STATE["faults"]["kind"]
            if fault == "throttle":
                return json_response(
                    start_response,
                    {"__type": "ThrottlingException", "message": "Rate exceeded (injected)"},
                    "400 Bad Request",
                )
            if fault is not None:
                return json_response(
                    start_response,
                    {"__type": "InternalServiceError", "message": "injected failure"},
                    "500 Internal Server Error",
                )
            with LOCK:
                STATE["calls"][action] = STATE["calls"].get(action, 0) + 1
                if action == "PutSecretValue":
                    try:
                        token = json.loads(body or b"{}").get("RotationToken")
                    except ValueError:
                        token = None
                    STATE["put_rotation_tokens"].append(
                        {
                            "given": token is not None,
                            "issued_by_rotation": token in STATE["issued_rotation_tokens"],
                        }
                    )
        return self.app(environ, start_response)

    def invoke_api(self, name, environ, start_response):
        """Lambda's Invoke, forwarded to the function (RequestResponse)."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = environ["wsgi.input"].read(length) if length else b"{}"
        name = function_name(urllib.parse.unquote(name))
        try:
            _status, body, function_error = forward(name, payload)
        except OSError as error:
            return json_response(
                start_response,
                {"__type": "ServiceException", "message": "could not reach %s: %s" % (name, error)},
                "500 Internal Server Error",
            )
        # As Lambda answers: 200, and a function's error as the payload
        # with X-Amz-Function-Error (cargo lambda answers it with HTTP 500).
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body.encode())))]
        if function_error:
            headers.append(("X-Amz-Function-Error", "Unhandled"))
        start_response("200 OK", headers)
        return [body.encode()]

    def control(self, path, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        with LOCK:
            if path == "/_launcher/calls":
                return json_response(
                    start_response,
                    {
                        "calls": STATE["calls"],
                        "put_rotation_tokens": STATE["put_rotation_tokens"],
                        "issued_rotation_tokens": sorted(STATE["issued_rotation_tokens"]),
                        "faults_injected": STATE["faults"]["injected"],
                    },
                )
            if path == "/_launcher/faults":
                config = json.loads(body or b"{}")
                kind = config.get("kind", "500")
                if kind not in ("500", "throttle"):
                    return json_response(
                        start_response, {"error": "kind must be 500 or throttle"}, "400 Bad Request"
                    )
                STATE["faults"] = {"count": int(config.get("count", 0)), "kind": kind, "injected": 0}
                return json_response(start_response, STATE["faults"])
            if path == "/_launcher/elasticache-users":
                return json_response(start_response, elasticache_users())
            if path == "/_launcher/reset":
                STATE["calls"] = {}
                STATE["put_rotation_tokens"] = []
                return json_response(start_response, {"ok": True})
            if path == "/_launcher/config":
                config = json.loads(body or b"{}")
                if "steps" in config:
                    unknown = [s for s in config["steps"] if s not in ALL_STEPS]
                    if unknown:
                        return json_response(
                            start_response, {"error": "unknown steps %s" % unknown}, "400 Bad Request"
                        )
                    STATE["steps"] = list(config["steps"])
                if "modifying_describes" in config:
                    STATE["modifying_describes"] = int(config["modifying_describes"])
                if "async_rotation" in config:
                    STATE["async_rotation"] = bool(config["async_rotation"])
                if "function_aliases" in config:
                    STATE["aliases"].update(config["function_aliases"])
                return json_response(
                    start_response,
                    {
                        "steps": STATE["steps"],
                        "modifying_describes": STATE["modifying_describes"],
                        "async_rotation": STATE["async_rotation"],
                    },
                )
        return json_response(start_response, {"error": "unknown path"}, "404 Not Found")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--invoke-url",
        required=True,
        help="base URL of the Lambda Invoke API, e.g. http://127.0.0.1:9000",
    )
    parser.add_argument(
        "--log-dir",
        help="directory of the functions' output ({name}.log), copied to CloudWatch Logs",
    )
    args = parser.parse_args()
    STATE["invoke_url"] = args.invoke_url
    STATE["log_dir"] = args.log_dir
    app = DomainDispatcherApplication(create_backend_app)
    print("moto launcher listening on %s:%d" % (args.host, args.port), file=sys.stderr, flush=True)
    run_simple(args.host, args.port, Launcher(app), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
