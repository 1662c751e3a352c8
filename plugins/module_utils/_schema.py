# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of a speech container, once: name, type, choices, default, kinds, secrecy, what is accepted.

Everything else is derived from CONTAINER_OPTIONS or checked against it:
- speech_containers' argument_spec (module_argument_spec, community.docker style);
- the plan filter's keys (MODULE_ENTRY_KEYS, DECLARATION_KEYS) and its shape checks (shape_problems);
- _container_spec's defaults (default_of);
- the module's DOCUMENTATION and the speech role's meta/argument_specs.yml, which Ansible cannot generate at
  runtime, by tests/unit/plugins/module_utils/test_schema.py.

shape_problems judges a value as it arrives, before Ansible converts it: wrong types, null, values YAML
turned into booleans, numbers or dates, choices and control characters, each with its field path, the value
as given (secrets as ********) and the fix. Pure standard library: the module runs it on the edge host.
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._catalog import KINDS, VERSION_RE
from ansible_collections.speechops.edge.plugins.module_utils._redact import REDACTED

CONTROL_CHARACTER_RE = re.compile(r"[\x00-\x1f\x7f]")
# What Ansible's bool conversion accepts as strings (ansible.module_utils.parsing.convert_bool.BOOLEANS).
BOOLEAN_STRINGS = ("yes", "on", "1", "true", "y", "t", "no", "off", "0", "false", "n", "f")
TYPE_NAMES = {
    "str": "a string",
    "path": "a path",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
}


# A container's name (what the "name" option accepts), also the gateway's service names and key labels.
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$")


def _kinds(predicate: Any) -> tuple[str, ...]:
    return tuple(name for name, kind in KINDS.items() if predicate(kind))


@dataclass(frozen=True)
class Option:
    """One option of a container entry (or, with module_level, of the module only)."""

    name: str
    type: str  # Ansible type: str, path, int, float, bool, dict
    accepts: str  # what is accepted, for messages ("a pinned version x.y.z, for example 5.1.0")
    default: Any = None
    choices: tuple[Any, ...] = ()
    # Kinds the option applies to; empty: every kind.
    kinds: tuple[str, ...] = ()
    # Why it does not apply to other kinds (completes "KIND ..."), for the message.
    other_kinds: str = ""
    secret: bool = False
    required: bool = False
    # Taken from the module-level option of the same name when the entry does not set it.
    inherited: bool = False
    # Default of the module-level option (inherited options only).
    module_default: Any = None
    # A key of the role's declaration only (speechops.edge.speech_plan), not a module option.
    plan_only: bool = False
    # A byte count is a valid value of this str option (memory).
    numbers_ok: bool = False


CONTAINER_OPTIONS: tuple[Option, ...] = (
    Option("name", "str", "letters, digits, '_', '.', '-' (at most 63), for example stt-en-us", required=True),
    Option("kind", "str", "a speech container kind", choices=tuple(KINDS), required=True),
    Option("state", "str", "the desired state", default="started", choices=("started", "stopped", "absent")),
    Option("version", "str", "a pinned version x.y.z, for example 5.1.0"),
    Option(
        "locale",
        "str",
        "a locale like en-US, en-us or zh-CN-sichuan",
        kinds=_kinds(lambda kind: "locale" in kind.tag_parts),
        other_kinds="images have no locale in their tag",
    ),
    Option(
        "voice",
        "str",
        "a voice name like AriaNeural",
        kinds=_kinds(lambda kind: "voice" in kind.tag_parts),
        other_kinds="images have no voice in their tag",
    ),
    Option("preview", "bool", "true or false", default=False),
    Option("containerpreview", "bool", "true or false", default=False),
    Option("image", "str", "an image reference, for example registry.example.com/speech/stt:5.1.0"),
    Option(
        "registry",
        "str",
        "host[:port][/path] of a registry, for example registry.example.com:5000",
        inherited=True,
    ),
    Option("host_port", "int", "a TCP port from 1 to 65535"),
    Option(
        "bind_address",
        "str",
        "an IP address of the host, or 0.0.0.0 / ::",
        inherited=True,
        module_default="0.0.0.0",
    ),
    Option("cpus", "float", "a positive number of CPUs, for example 4 or 0.5"),
    Option("memory", "str", "a size in Docker's notation, for example 8g or 512m", numbers_ok=True),
    Option("allow_below_minimum", "bool", "true or false", inherited=True, module_default=False),
    Option("eula", "str", "exactly accept", inherited=True),
    Option(
        "billing",
        "str",
        "the https endpoint URI of the Speech resource, for example https://westeurope.api.cognitive.microsoft.com/",
        inherited=True,
    ),
    Option("api_key", "str", "the key of the Speech resource", secret=True, inherited=True),
    Option(
        "model_id",
        "str",
        "the GUID of a custom model, for example a3d8aab9-6f36-44cd-9904-b37389ce2bfa",
        kinds=_kinds(lambda kind: kind.needs_model),
        other_kinds="images carry their own model in /usr/local/models (a volume there shadows it)",
    ),
    Option(
        "model_path",
        "path",
        "an absolute host directory of its own",
        kinds=_kinds(lambda kind: kind.needs_model),
        other_kinds="images carry their own model in /usr/local/models (a volume there shadows it)",
    ),
    Option("output_path", "path", "an absolute host directory of its own"),
    # Disconnected containers (Microsoft's commitment tier): served without Billing/ApiKey from a license downloaded
    # (with billing and api_key) for each image; only kinds the catalog marks disconnected_supported.
    Option("disconnected", "bool", "true or false", inherited=True, module_default=False),
    Option("license_path", "path", "an absolute host directory of its own"),
    Option("disk_logging", "bool", "true or false", default=False),
    Option(
        "log_level",
        "str",
        "a console log level",
        choices=("Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"),
    ),
    Option("http_proxy", "str", "a proxy URL like http://proxy.example.com:3128"),
    Option("http_proxy_creds", "str", "proxy credentials user:password", secret=True),
    Option(
        "decoder_max_count",
        "int",
        "a whole number of decoders, 1 or more",
        kinds=_kinds(lambda kind: kind.decoder_env is not None),
        other_kinds="has no decoder count setting",
    ),
    Option(
        "gpus",
        "str",
        "the GPU request",
        choices=("all", "none"),
        kinds=_kinds(lambda kind: kind.needs_gpu),
        other_kinds="does not use a GPU",
    ),
    Option("settings", "dict", "a dictionary of documented settings"),
    Option(
        "restart_policy",
        "str",
        "a Docker restart policy",
        default="unless-stopped",
        choices=("no", "always", "unless-stopped", "on-failure"),
    ),
    Option("log_max_size", "str", "a size like 10m", default="10m"),
    Option("log_max_files", "int", "a whole number of files", default=3),
    Option("stop_timeout", "int", "a whole number of seconds", default=30),
    Option("ready_timeout", "int", "a whole number of seconds", default=600),
    Option("pids_limit", "int", "a whole number of processes", default=4096),
    # Keys of the role's declaration only (speechops.edge.speech_plan turns them into module options or uses them).
    Option("port", "int", "a TCP port from 1 to 65535", plan_only=True),
    Option("output", "bool", "true or false", plan_only=True),
    Option("license", "bool", "true or false", plan_only=True),
    Option("check", "bool", "true or false", default=True, plan_only=True),
    Option("ssml_voice", "str", "an SSML voice name like en-US-AriaNeural", plan_only=True),
    Option("concurrency", "int", "a positive whole number of concurrent sessions, for example 8", plan_only=True),
)
# Options of the module itself (not of an entry), besides the inherited ones.
MODULE_OPTIONS: tuple[Option, ...] = (
    Option("models_root", "path", "an absolute host directory", default="/var/lib/speechops/models"),
    Option("output_root", "path", "an absolute host directory", default="/var/lib/speechops/output"),
    Option("license_root", "path", "an absolute host directory", default="/var/lib/speechops/license"),
    Option("prune", "bool", "true or false", default=False),
    Option("pull", "str", "when to pull", default="missing", choices=("missing", "always")),
    Option("images_only", "bool", "true or false", default=False),
    Option("probe", "bool", "true or false", default=True),
    Option("gateway", "bool", "true or false", default=False),
    Option("drain_timeout", "int", "a whole number of seconds", default=600),
    Option("engine_restart_on_stale_port", "bool", "true or false", default=False),
)

# The container records (speech_records' options; speech_containers' keep_records writes them after a converge).
RECORDS_DIR = "/etc/speechops"
RECORDS_ARGUMENT_SPEC: dict[str, Any] = dict(
    path=dict(type="path", default=RECORDS_DIR),
    records=dict(
        type="list",
        elements="dict",
        default=[],
        options=dict(name=dict(type="str", required=True), content=dict(type="str", required=True)),
    ),
    remove=dict(type="list", elements="str", default=[]),
    prune=dict(type="bool", default=False),
)

OPTIONS = {option.name: option for option in CONTAINER_OPTIONS}
MODULE_ENTRY_KEYS = tuple(option.name for option in CONTAINER_OPTIONS if not option.plan_only)
DECLARATION_KEYS = tuple(option.name for option in CONTAINER_OPTIONS)
PLAN_ONLY_KEYS = tuple(option.name for option in CONTAINER_OPTIONS if option.plan_only)
SECRET_KEYS = tuple(option.name for option in CONTAINER_OPTIONS if option.secret)
INHERITED = tuple(option.name for option in CONTAINER_OPTIONS if option.inherited)


# The keys of a plan entry that host_check reads: the sizes it judges (containers), the image's parts, billing, proxy
# and bind address it reaches for (reachability). speech_select's preflight and reachability views give these.
HOST_CHECK_KEYS = ("name", "kind", "cpus", "memory", "containerpreview", "concurrency", "gpus")
REACHABILITY_KEYS = (
    "name",
    "kind",
    "version",
    "locale",
    "voice",
    "preview",
    "containerpreview",
    "image",
    "registry",
    "billing",
    "http_proxy",
    "http_proxy_creds",
    "bind_address",
)


def default_of(name: str) -> Any:
    """The default of an entry option (None: none, or taken from elsewhere)."""
    return OPTIONS[name].default


def _argument(option: Option, default: Any, required: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": option.type}
    if required:
        spec["required"] = True
    if default is not None:
        spec["default"] = default
    if option.choices:
        spec["choices"] = list(option.choices)
    if option.secret:
        spec["no_log"] = True
    return spec


def module_argument_spec(engine_spec: Mapping[str, Any]) -> dict[str, Any]:
    """speech_containers' argument_spec: the entry options, the inherited ones once more at module level."""
    entry = {
        option.name: _argument(option, option.default, option.required)
        for option in CONTAINER_OPTIONS
        if not option.plan_only
    }
    spec: dict[str, Any] = {"containers": dict(type="list", elements="dict", required=True, options=entry)}
    for option in CONTAINER_OPTIONS:
        if option.inherited:
            spec[option.name] = _argument(option, option.module_default)
    for option in MODULE_OPTIONS:
        spec[option.name] = _argument(option, option.default)
    spec["keep_records"] = dict(type="dict", options=RECORDS_ARGUMENT_SPEC)
    spec.update(engine_spec)
    return spec


def entry_view_spec(names: tuple[str, ...], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """The argument spec of some options of a container entry (host_check's containers and reachability): types,
    choices, defaults and no_log come from the schema, so these views of a plan entry cannot drift from it."""
    return {name: _argument(OPTIONS[name], OPTIONS[name].default, name in required) for name in names}


def shown(value: Any, secret: bool = False) -> str:
    """A value as given, for a message: secrets as ********, everything else as Python writes it."""
    if secret and value not in (None, ""):
        return REDACTED
    return repr(value)


def _yaml_reading(value: Any) -> str | None:
    """How YAML turned an unquoted scalar into something that is not a string, or None."""
    if isinstance(value, bool):
        tokens = "on, yes and true" if value else "off, no and false"
        return "YAML reads unquoted %s as the boolean %s" % (tokens, str(value).lower())
    if isinstance(value, (int, float)):
        return "YAML read %s as a number" % value
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "YAML read %s as a date" % value.isoformat()
    return None


def _is_number(value: Any, whole: bool) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int) or (isinstance(value, float) and not whole):
        return True
    if isinstance(value, str):
        try:
            int(value) if whole else float(value)
        except ValueError:
            return False
        return True
    return False


def value_problem(option: Option, value: Any) -> str | None:
    """Why a value cannot be this option's (type, null, YAML coercion, choices, control characters), or None."""
    given = shown(value, option.secret)
    if value is None:
        return (
            "null: the key is there without a value (YAML reads an empty value or ~ as null): give %s, "
            "or remove the key" % option.accepts
        )
    if option.type in ("str", "path"):
        if option.numbers_ok and _is_number(value, whole=True):
            return None
        reading = _yaml_reading(value)
        if reading is not None:
            return "%s is not a string: %s; quote it (%s: '%s'), giving %s" % (
                given,
                reading,
                option.name,
                REDACTED if option.secret else _unquoted(value),
                option.accepts,
            )
        if not isinstance(value, str):
            return "%s is %s, not a string: give %s" % (given, _type_name(value), option.accepts)
        if CONTROL_CHARACTER_RE.search(value):
            return (
                "%s contains a control character (a trailing newline often comes from a YAML block scalar | or >): "
                "remove it" % given
            )
    elif option.type in ("int", "float"):
        if not _is_number(value, whole=option.type == "int"):
            return "%s is not %s: give %s" % (given, TYPE_NAMES[option.type], option.accepts)
    elif option.type == "bool":
        if not (isinstance(value, bool) or (isinstance(value, str) and value.lower() in BOOLEAN_STRINGS)):
            return "%s is not true or false: give true or false" % given
    elif option.type == "dict":
        if not isinstance(value, Mapping):
            return "%s is %s, not a dictionary: give %s" % (given, _type_name(value), option.accepts)
        for key, item in value.items():
            if not isinstance(key, str) or CONTROL_CHARACTER_RE.search(key):
                return "the key %r is not a plain setting name: remove it" % (key,)
            if isinstance(item, str) and CONTROL_CHARACTER_RE.search(item):
                return "%s: %r contains a control character: remove it" % (key, item)
    if option.choices and value not in option.choices:
        return "%s is not one of %s" % (given, ", ".join(str(choice) for choice in option.choices))
    return None


def _unquoted(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, float) and VERSION_RE.match("%s.0" % value):
        return "%s.0" % value  # 5.1 -> 5.1.0: what a version meant
    return str(value)


def _type_name(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a dictionary"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return "a string"
    return "a %s" % type(value).__name__


def entry_place(where: str, name: Any) -> str:
    """speech_containers[2] (stt-de-de): an entry's place, with its name when it has one (control characters shown
    escaped, so that a name with a newline does not break the message)."""
    if not isinstance(name, str) or not name:
        return where
    return "%s (%s)" % (where, repr(name) if CONTROL_CHARACTER_RE.search(name) else name)


def shape_problems(
    entry: Any, where: str, keys: tuple[str, ...] = MODULE_ENTRY_KEYS, null_is_unset: bool = False
) -> list[str]:
    """Every problem of one entry's shape: a dictionary, known keys (with a hint), and each value's type.

    null_is_unset: after Ansible's conversion every option not given is None, so None cannot be reported there.
    """
    if not isinstance(entry, Mapping):
        if entry is None:
            return ["%s: null: an empty entry (a lone '-'): remove it, or give at least kind and version" % where]
        return [
            "%s: %s is %s, not a dictionary: give a dictionary with at least kind and version"
            % (where, repr(entry), _type_name(entry))
        ]
    problems = []
    for key in entry:
        if key not in keys:
            close = difflib.get_close_matches(str(key), keys, n=1)
            hint = "did you mean %s? " % close[0] if close else ""
            problems.append("%s.%s: unknown key: %svalid keys are %s" % (where, key, hint, ", ".join(keys)))
    for key in keys:
        if key in entry and not (null_is_unset and entry[key] is None):
            problem = value_problem(OPTIONS[key], entry[key])
            if problem:
                problems.append("%s.%s: %s" % (where, key, problem))
    return problems


def kind_problems(entry: Mapping[str, Any], where: str) -> list[str]:
    """Options set on an entry whose kind they do not apply to."""
    kind = entry.get("kind")
    if kind not in KINDS:
        return []
    problems = []
    for option in CONTAINER_OPTIONS:
        if option.kinds and kind not in option.kinds and entry.get(option.name) not in (None, ""):
            problems.append(
                "%s.%s: %s %s: remove %s (it applies to %s)"
                % (where, option.name, kind, option.other_kinds, option.name, ", ".join(option.kinds))
            )
    return problems


def list_problem(value: Any, what: str, example: str) -> str | None:
    """Why a declaration that must be a list is not one, or None."""
    if value is None:
        return (
            "%s: null: the key is there without a list (every entry below it commented out?): write %s: [] "
            "to declare no containers on purpose, or uncomment the entries" % (what, what)
        )
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        return "%s: %s is %s, not a list: give a list of entries, for example %s" % (
            what,
            repr(value),
            _type_name(value),
            example,
        )
    return None
