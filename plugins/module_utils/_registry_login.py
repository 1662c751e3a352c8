# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Log an edge host's Docker engine in to a registry, idempotently and without leaking the password.

Stored credentials that already match cost no network call. The engine verifies new credentials
(its /auth endpoint talks to the registry); the module then stores them the way the docker CLI does,
in config.json (mode 0600) or through the configured credential helper.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import tempfile
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils import _docker_api
from ansible_collections.speechops.edge.plugins.module_utils._catalog import CatalogError, split_registry
from ansible_collections.speechops.edge.plugins.module_utils._docker_api import (
    docker_client,
    engine_error,
    require_docker_sdk,
)
from ansible_collections.speechops.edge.plugins.module_utils._files import write_private_file
from ansible_collections.speechops.edge.plugins.module_utils._redact import redact_text

CERTS_D = "/etc/docker/certs.d"


def default_config_path() -> str:
    return os.path.join(os.environ.get("DOCKER_CONFIG") or os.path.expanduser("~/.docker"), "config.json")


def read_config(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ValueError("%s is not valid JSON (%s): fix or remove it" % (path, exc)) from None


def credential_helper(config: dict[str, Any], registry: str) -> str | None:
    return (config.get("credHelpers") or {}).get(registry) or config.get("credsStore")


def _helper(helper: str, action: str, payload: str) -> str:
    completed = subprocess.run(
        ["docker-credential-%s" % helper, action],
        input=payload.encode(),
        capture_output=True,
        check=False,
        timeout=30,
    )
    if completed.returncode != 0 and action != "get":
        raise RuntimeError(
            "credential helper docker-credential-%s %s failed: %s"
            % (helper, action, completed.stdout.decode(errors="replace").strip()[:200])
        )
    return completed.stdout.decode(errors="replace") if completed.returncode == 0 else ""


def stored_credentials(config: dict[str, Any], registry: str) -> tuple[str, str] | None:
    helper = credential_helper(config, registry)
    if helper:
        try:
            answer = json.loads(_helper(helper, "get", registry) or "{}")
        except (ValueError, OSError):
            return None
        return (answer["Username"], answer["Secret"]) if answer.get("Username") else None
    auth = ((config.get("auths") or {}).get(registry) or {}).get("auth")
    if not auth:
        return None
    try:
        username, _sep, password = base64.b64decode(auth).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return username, password


def store_credentials(path: str, config: dict[str, Any], registry: str, username: str, password: str) -> None:
    helper = credential_helper(config, registry)
    if helper:
        _helper(helper, "store", json.dumps({"ServerURL": registry, "Username": username, "Secret": password}))
        config.setdefault("auths", {}).setdefault(registry, {})
    else:
        token = base64.b64encode(("%s:%s" % (username, password)).encode()).decode()
        config.setdefault("auths", {})[registry] = {"auth": token}
    write_private_file(path, json.dumps(config, indent=2, sort_keys=True) + "\n")


def forget_credentials(path: str, config: dict[str, Any], registry: str) -> None:
    helper = credential_helper(config, registry)
    if helper:
        _helper(helper, "erase", registry)
    (config.get("auths") or {}).pop(registry, None)
    write_private_file(path, json.dumps(config, indent=2, sort_keys=True) + "\n")


def explain_login_error(message: str, registry: str, username: str) -> str:
    lowered = message.lower()
    ca_path = "%s/%s/ca.crt" % (CERTS_D, registry)
    if "x509" in lowered or "certificate" in lowered:
        return (
            "the Docker engine does not trust the TLS certificate of registry %s (%s): "
            "put the registry's CA certificate at %s (option ca_cert)" % (registry, message, ca_path)
        )
    if "401" in lowered or "unauthorized" in lowered or "incorrect username or password" in lowered:
        return "registry %s rejected the credentials of user %r (%s): check username and password" % (
            registry,
            username,
            message,
        )
    if any(word in lowered for word in ("connection refused", "no route", "timeout", "no such host", "unreachable")):
        return "registry %s is unreachable from the Docker engine (%s): check its address, port and firewall" % (
            registry,
            message,
        )
    return "login to registry %s failed: %s" % (registry, message)


def ensure_ca(registry: str, ca_cert: str, check_mode: bool) -> tuple[bool, str, str | None]:
    """(changed, path, previous sha256) for the registry CA the engine reads per request."""
    path = os.path.join(CERTS_D, registry, "ca.crt")
    content = ca_cert if ca_cert.endswith("\n") else ca_cert + "\n"
    try:
        with open(path, encoding="utf-8") as handle:
            current: str | None = handle.read()
    except FileNotFoundError:
        current = None
    previous = hashlib.sha256(current.encode()).hexdigest() if current is not None else None
    if current == content:
        return False, path, previous
    if not check_mode:
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".speechops-")
        with os.fdopen(handle, "w", encoding="utf-8") as output:
            output.write(content)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    return True, path, previous


def run_registry_login(module: Any) -> None:
    params = module.params
    require_docker_sdk(module)
    registry = params["registry"]
    try:
        host, prefix = split_registry(registry)
    except CatalogError as exc:
        module.fail_json(msg="registry: %s" % exc)
    if prefix:
        module.fail_json(msg="registry: %r has a path; log in to the host[:port] only (%s)" % (registry, host))
    password = params["password"] or ""
    config_path = params["config_path"] or default_config_path()
    try:
        config = read_config(config_path)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    stored = stored_credentials(config, host)
    result: dict[str, Any] = {"registry": host, "config_path": config_path, "changed": False, "action": "none"}
    before = {"registry": host, "logged_in": stored is not None, "username": stored[0] if stored else None}
    after = dict(before)

    if params["ca_cert"]:
        ca_changed, ca_path, ca_previous = ensure_ca(host, params["ca_cert"], module.check_mode)
        result.update(ca_path=ca_path, ca_changed=ca_changed)
        before["ca_sha256"] = ca_previous
        after["ca_sha256"] = hashlib.sha256(
            (params["ca_cert"] if params["ca_cert"].endswith("\n") else params["ca_cert"] + "\n").encode()
        ).hexdigest()
        result["changed"] = ca_changed

    if params["state"] == "absent":
        if stored is not None:
            result.update(changed=True, action="logout")
            after.update(logged_in=False, username=None)
            if not module.check_mode:
                forget_credentials(config_path, config, host)
    else:
        username = params["username"]
        if not username or not password:
            module.fail_json(msg="username and password are required with state=present (registry %s)" % host)
        if stored != (username, password) or params["reauthorize"]:
            result.update(changed=True, action="login")
            after.update(logged_in=True, username=username)
            if not module.check_mode:
                try:
                    client = docker_client(params["docker_host"], params["timeout"])
                except (_docker_api.DockerException, OSError) as exc:
                    module.fail_json(msg=engine_error(exc, params["docker_host"]))
                try:
                    client.login(username=username, password=password, registry=host, reauth=True)
                except (_docker_api.DockerException, OSError) as exc:
                    module.fail_json(msg=redact_text(explain_login_error(str(exc), host, username), [password]))
                try:
                    store_credentials(config_path, config, host, username, password)
                except (OSError, RuntimeError) as exc:
                    module.fail_json(msg=redact_text("storing credentials failed: %s" % exc, [password]))
        result["username"] = username
    if module._diff:
        result["diff"] = {"before": before, "after": after}
    module.exit_json(**result)
