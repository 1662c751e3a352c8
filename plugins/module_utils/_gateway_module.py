# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""speech_gateway: the gateway's files validated as a set, installed, and HAProxy started or reloaded seamlessly."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._gateway import (
    AccessKey,
    GatewayError,
    GatewayFiles,
    GatewaySwitch,
    HaproxyService,
    RuntimeUpdate,
    Service,
    certificate_bundle,
    certificate_facts,
    certificate_problems,
    haproxy_installed,
    keys_problems,
    render_config,
    render_defaults,
    render_keys,
    restore,
    run_process,
    services_problems,
)
from ansible_collections.speechops.edge.plugins.module_utils._gateway_layout import (
    CERTIFICATE_PATH,
    CONFIG_PATH,
    DEFAULTS_PATH,
    KEYS_PATH,
    gateway_files,
)

MODES = {CONFIG_PATH: 0o600, KEYS_PATH: 0o600, CERTIFICATE_PATH: 0o600, DEFAULTS_PATH: 0o644}
# Files the running worker takes at run time (RuntimeUpdate): a change of these alone needs no reload.
RUNTIME_FILES = {KEYS_PATH, CERTIFICATE_PATH}


def _services(params: dict[str, Any]) -> list[Service]:
    services = []
    for entry in params["services"]:
        services.append(Service(entry["name"], entry["port"], entry["ready_path"], tuple(params["open_paths"])))
    return services


def _keys(params: dict[str, Any]) -> list[AccessKey]:
    return [AccessKey(entry["label"], entry["sha256"]) for entry in params["access_keys"]]


def _labels(text: str | None) -> list[str]:
    """The key labels of a keys file (never the digests)."""
    if not text:
        return []
    return sorted(line.split()[1] for line in text.splitlines() if line.strip() and not line.startswith("#"))


def _certificate_digest(text: str | None) -> str | None:
    """SHA-256 of the certificate part of the bundle: what a diff may show of it."""
    if not text:
        return None
    certificate = text.split("-----BEGIN", 2)
    return hashlib.sha256(("-----BEGIN" + certificate[1]).encode()).hexdigest() if len(certificate) > 1 else None


def run_speech_gateway(module: Any) -> None:
    params = module.params
    result: dict[str, Any] = {"changed": False, "config_path": CONFIG_PATH}
    if params["state"] == "absent":
        _absent(module, result)
        return
    services = _services(params)
    keys = _keys(params)
    problems = services_problems(services) + keys_problems(keys)
    problems += certificate_problems(params["tls_certificate"] or "", params["tls_private_key"] or "")
    if params["require_key"] and not keys:
        problems.append("access_keys: empty while require_key=true: give at least one key, or set require_key=false")
    if params["hard_stop_after"] < params["drain_timeout"]:
        problems.append(
            "hard_stop_after: %d is shorter than drain_timeout=%d: a reload during a drain would cut its sessions; "
            "give at least the drain timeout" % (params["hard_stop_after"], params["drain_timeout"])
        )
    if problems:
        module.fail_json(msg="invalid gateway (nothing was changed): " + "; ".join(problems))
    if not haproxy_installed():
        if module.check_mode:  # the role installs it right before the gateway is configured
            module.exit_json(changed=True, action="start", files=sorted(MODES), certificate=None, **result)
        module.fail_json(
            msg="haproxy is not installed on this host: install the distribution's package (apt install haproxy)"
        )

    config = render_config(
        services,
        bind_address=params["bind_address"],
        require_key=params["require_key"],
        tunnel_timeout=params["tunnel_timeout"],
        hard_stop_after=params["hard_stop_after"],
    )
    files = GatewayFiles(
        {
            CONFIG_PATH: (config, MODES[CONFIG_PATH]),
            KEYS_PATH: (render_keys(keys), MODES[KEYS_PATH]),
            CERTIFICATE_PATH: (
                certificate_bundle(params["tls_certificate"], params["tls_private_key"]),
                MODES[CERTIFICATE_PATH],
            ),
            DEFAULTS_PATH: (render_defaults(), MODES[DEFAULTS_PATH]),
        }
    )
    service = HaproxyService(run_process)
    changed_files = files.changed()
    running = service.table()
    before = files.backup()
    # A package upgrade replaced the binary but (kept from restarting it) the old one serves: a reload re-executes the
    # master with the new binary, and connections in progress finish on the old workers.
    installed = service.installed_version() if running is not None else ""
    upgraded = bool(running and installed and running.version and installed != running.version)
    if running is None:
        action = "start"
    elif upgraded:
        action = "reload"
        result["upgrade"] = {"running": running.version, "installed": installed}
    elif not changed_files:
        action = "none"
    else:
        action = "update" if set(changed_files) <= RUNTIME_FILES else "reload"
    result.update(
        changed=bool(changed_files) or running is None or upgraded,
        files=changed_files,
        action=action,
        services=[
            {"name": item.name, "port": item.port, "slots": list(item.slots), "ready_path": item.ready_path}
            for item in services
        ],
        keys=[key.label for key in sorted(keys, key=lambda key: key.label)],
    )
    if module._diff:
        result["diff"] = [
            {
                "before_header": CONFIG_PATH,
                "after_header": CONFIG_PATH,
                "before": before[CONFIG_PATH] or "",
                "after": config,
            },
            {
                "before": {
                    "keys": _labels(before[KEYS_PATH]),
                    "certificate_sha256": _certificate_digest(before[CERTIFICATE_PATH]),
                    "running": running is not None,
                    "version": running.version if running is not None else None,
                },
                "after": {
                    "keys": result["keys"],
                    "certificate_sha256": _certificate_digest(files.files[CERTIFICATE_PATH][0]),
                    "running": True,
                    "version": installed or (running.version if running is not None else None),
                },
            },
        ]
    if result["changed"] and not module.check_mode:
        try:
            files.install(service)
        except GatewayError as exc:
            module.fail_json(msg=str(exc), **result)
        try:
            if running is None:
                service.start()
            elif action == "update":
                _update(keys, files.files[CERTIFICATE_PATH][0], changed_files, service, result)
            else:
                service.reload()
        except (GatewayError, OSError) as exc:
            restore(before, MODES)
            message = "%s; the previous gateway files are restored" % exc
            try:
                if running is not None:
                    service.reload()
            except (GatewayError, OSError) as again:
                message += " (reloading them failed too: %s)" % again
            module.fail_json(msg=message, **result)
    if not module.check_mode:
        # A new worker takes every slot as up: empty slots go to maintenance, so no request meets a closed port.
        result["slots"] = GatewaySwitch().sync_slots(services)
        result["changed"] = result["changed"] or bool(result["slots"])
    result["certificate"] = certificate_facts(CERTIFICATE_PATH) if not module.check_mode else None
    module.exit_json(**result)


def _update(
    keys: list[AccessKey], bundle: str, changed_files: list[str], service: HaproxyService, result: dict[str, Any]
) -> None:
    """Keys and certificate into the running worker; when the runtime API refuses, a seamless reload instead."""
    update = RuntimeUpdate()
    try:
        if KEYS_PATH in changed_files:
            update.keys(keys)
        if CERTIFICATE_PATH in changed_files:
            update.certificate(bundle)
    except (GatewayError, OSError) as exc:
        result["action"] = "reload"
        result["update_error"] = str(exc)
        service.reload()


def _absent(module: Any, result: dict[str, Any]) -> None:
    """Stop the gateway and remove its files (only a configuration this collection wrote)."""
    present = gateway_files()
    result.update(changed=bool(present), files=present, action="remove" if present else "none")
    if present and not module.check_mode:
        HaproxyService(run_process).stop()
        for path in present:
            os.unlink(path)
    module.exit_json(**result)
