# Copyright: (c) 2026, speechops.edge contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host_check preflight's network checks, read-only and with the standard library only.

- Every planned image exists in its registry: a manifest request (HEAD, then GET) with the credentials and the
  CA the host's Docker engine uses for that registry, following the registry's 401 challenge (Basic, or the
  Bearer token flow) as docker does. No pull. An image the engine already has passes without a network call.
- Every billing endpoint answers TLS on its port from this host (what Microsoft's diagnostic container tests:
  articles/ai-services/containers/includes/diagnostics-container.md in MicrosoftDocs/azure-ai-docs, included by
  speech-service/speech-container-howto.md: "The container will test for network connectivity to the billing
  endpoint"), through the container's HTTP proxy when it has one, within a short deadline.
- Every bind address is an address of this host (or 0.0.0.0 / ::): Docker cannot publish on any other.

Checks of several images and endpoints run concurrently, so the preflight costs about its slowest check.
"""

from __future__ import annotations

import base64
import bisect
import difflib
import glob
import ipaddress
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from ansible_collections.speechops.edge.plugins.module_utils._catalog import (
    CatalogError,
    image_reference,
    registry_of,
)
from ansible_collections.speechops.edge.plugins.module_utils._container_spec import WILDCARD_ADDRESSES
from ansible_collections.speechops.edge.plugins.module_utils._host_facts import Unmet
from ansible_collections.speechops.edge.plugins.module_utils._registry_login import (
    CERTS_D,
    default_config_path,
    read_config,
    stored_credentials,
)

DEFAULT_BILLING_TIMEOUT = 5.0
DEFAULT_REGISTRY_TIMEOUT = 10.0
# What docker asks for when it resolves a tag (Docker v2 manifest and manifest list, OCI manifest and index):
# distribution's docs/spec/manifest-v2-2.md and the OCI image-spec media types.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)
# Docker Hub's names: config.json keys its credentials by the v1 index URL; the v2 API lives elsewhere.
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_CONFIG_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")
MAX_SUGGESTED_TAGS = 5
# Pages of /tags/list followed at most (a registry pages with Link: <...>; rel="next").
MAX_TAG_PAGES = 10
MAX_WORKERS = 16
_CHALLENGE_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')
_LINK_NEXT_RE = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_VERSION_PART_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")


# --- the planned containers, as this module needs them -----------------------------------------------------
@dataclass
class Target:
    """One planned container's image, billing endpoint, proxy and bind address."""

    name: str
    image: str | None
    billing: str | None
    http_proxy: str | None
    http_proxy_creds: str | None
    bind_address: str


def resolve_targets(
    entries: Sequence[Mapping[str, Any]],
    registry: str | None = None,
    billing: str | None = None,
    bind_address: str | None = None,
) -> list[Target]:
    """Each entry with its image reference (the catalog's image_reference()) and the fleet-wide defaults applied.

    Raises CatalogError naming every entry that cannot give an image (reachability[i].field: problem).
    """
    targets: list[Target] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        name = str(entry.get("name") or "%s-%d" % (entry.get("kind") or "container", index))
        image = entry.get("image")
        if not image and entry.get("kind"):
            try:
                if not entry.get("version"):
                    raise CatalogError("version is missing: give the pinned version of the image")
                image = image_reference(
                    str(entry["kind"]),
                    str(entry["version"]),
                    entry.get("locale"),
                    entry.get("voice"),
                    registry=entry.get("registry") or registry or None,
                    preview=bool(entry.get("preview")),
                    containerpreview=bool(entry.get("containerpreview")),
                )
            except CatalogError as exc:
                problems.append("reachability[%d] (%s): %s" % (index, name, exc))
                continue
        targets.append(
            Target(
                name=name,
                image=str(image) if image else None,
                billing=entry.get("billing") or billing or None,
                http_proxy=entry.get("http_proxy") or None,
                http_proxy_creds=entry.get("http_proxy_creds") or None,
                bind_address=str(entry.get("bind_address") or bind_address or "0.0.0.0"),
            )
        )
    if problems:
        raise CatalogError("; ".join(problems))
    return targets


# --- image references ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageRef:
    reference: str
    registry: str  # as written in the reference (docker.io when none)
    repository: str
    tag: str  # a tag, or a digest (sha256:...) for references with @

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry


def parse_reference(reference: str) -> ImageRef:
    """Docker's reading of NAME[:TAG][@DIGEST]: the registry is the first part when it has '.' or ':' or is localhost."""
    name, _at, digest = reference.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    tag = "latest"
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    registry = registry_of(name)
    repository = name[len(registry) + 1 :] if name.startswith(registry + "/") else name
    if registry == DOCKER_HUB and "/" not in repository:
        repository = "library/" + repository
    return ImageRef(reference=reference, registry=registry, repository=repository, tag=digest or tag)


def local_references(repo_tags: Iterable[str]) -> set[str]:
    """The engine's RepoTags, with the docker.io names docker shortens (ubuntu:22.04) also in full."""
    references = set()
    for tag in repo_tags:
        references.add(tag)
        if registry_of(tag) == DOCKER_HUB:
            references.add(DOCKER_HUB + "/" + (tag if "/" in tag.split(":")[0] else "library/" + tag))
    return references


# --- what the engine uses for a registry: credentials and trust ----------------------------------------------
def registry_credentials(
    registry: str,
    config: Mapping[str, Any],
    fleet: tuple[str, str] | None = None,
) -> tuple[str, str] | None:
    """The credentials the engine will pull with: the fleet's (the rollout logs in with them), else config.json."""
    if fleet:
        return fleet
    keys = DOCKER_HUB_CONFIG_KEYS if registry == DOCKER_HUB else (registry,)
    for key in keys:
        found = stored_credentials(dict(config), key)
        if found:
            return found
    return None


def registry_ssl_context(registry: str, certs_dir: str = CERTS_D, ca_pem: str | None = None) -> ssl.SSLContext:
    """The system CAs plus what the engine trusts for this registry.

    Docker reads certs.d/HOST:PORT/*.crt as CAs and a *.cert with its *.key as the client certificate (Docker's
    "Verify repository client with certificates"). ca_pem is the fleet's registry CA, which the rollout writes
    there (registry_login) before it pulls.
    """
    context = ssl.create_default_context()
    directory = os.path.join(certs_dir, registry)
    if ca_pem:
        context.load_verify_locations(cadata=ca_pem)
    for path in sorted(glob.glob(os.path.join(directory, "*.crt"))):
        context.load_verify_locations(cafile=path)
    for cert in sorted(glob.glob(os.path.join(directory, "*.cert"))):
        key = cert[: -len(".cert")] + ".key"
        if os.path.exists(key):
            context.load_cert_chain(cert, key)
    return context


# --- a registry client: the v2 API with docker's authentication -----------------------------------------------
class RegistryError(Exception):
    """A registry that cannot be asked (unreachable, untrusted, refusing): kind is the requirement to report."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, but never carry the Authorization header to another host."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> Any:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.headers.pop("Authorization", None)
            new.unredirected_hdrs.pop("Authorization", None)
        return new


def _reason(exc: BaseException) -> str:
    """The innermost readable cause of a network error, on one line."""
    while isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    if isinstance(exc, ssl.SSLCertVerificationError):
        return exc.verify_message or str(exc)
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return "name does not resolve: %s" % (exc.strerror or exc)
    text = (getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


def _is_untrusted(exc: BaseException) -> bool:
    while isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    return isinstance(exc, ssl.SSLCertVerificationError)


class RegistryClient:
    """GET/HEAD on one registry's v2 API, answering 401 challenges the way docker does.

    Basic: the credentials in an Authorization header (htpasswd registries such as distribution's). Bearer: a token
    from the challenge's realm for its service and scope (with the credentials, when there are some), then the
    request again with Authorization: Bearer (distribution's docs/spec/auth/token.md).
    """

    def __init__(
        self,
        registry: str,
        api_host: str,
        context: ssl.SSLContext,
        credentials: tuple[str, str] | None,
        timeout: float,
        proxy: str | None = None,
    ) -> None:
        self.registry = registry
        self.base = "https://%s" % api_host
        self.credentials = credentials
        self.timeout = timeout
        # proxy: the engine's proxy URL, "" for none, None for the environment's (HTTPS_PROXY, NO_PROXY).
        handlers: list[Any] = [urllib.request.HTTPSHandler(context=context), _SameHostRedirects]
        if proxy is not None:
            handlers.append(urllib.request.ProxyHandler({"https": proxy} if proxy else {}))
        self.opener = urllib.request.build_opener(*handlers)
        self.authorization: str | None = None

    def _basic(self) -> str | None:
        if not self.credentials:
            return None
        return "Basic " + base64.b64encode(("%s:%s" % self.credentials).encode()).decode()

    def _send(self, method: str, url: str, headers: Mapping[str, str]) -> Answer:
        request = urllib.request.Request(url, method=method, headers=dict(headers))
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                return Answer(response.status, dict(response.headers.items()), response.read())
        except urllib.error.HTTPError as exc:
            body = exc.read() if exc.fp is not None else b""
            return Answer(exc.code, dict(exc.headers.items()) if exc.headers else {}, body)
        except (urllib.error.URLError, OSError) as exc:
            if _is_untrusted(exc):
                raise RegistryError("registry_trust", _reason(exc)) from None
            raise RegistryError("registry_unreachable", _reason(exc)) from None

    def _token(self, challenge: str) -> str:
        params = dict(_CHALLENGE_PARAM_RE.findall(challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise RegistryError("registry_auth", "its Bearer challenge names no realm (%s)" % challenge)
        query = urllib.parse.urlencode({key: value for key, value in params.items() if key in ("service", "scope")})
        headers = {"Authorization": self._basic()} if self.credentials else {}
        answer = self._send("GET", realm + ("&" if "?" in realm else "?") + query, headers)
        if answer.status in (401, 403):
            raise RegistryError(
                "registry_auth", "its token service %s refused the credentials (%d)" % (realm, answer.status)
            )
        if answer.status != 200:
            raise RegistryError("registry_auth", "its token service %s answered %d" % (realm, answer.status))
        try:
            document = json.loads(answer.body.decode("utf-8"))
        except ValueError:
            raise RegistryError("registry_auth", "its token service %s answered no JSON" % realm) from None
        token = document.get("token") or document.get("access_token")
        if not token:
            raise RegistryError("registry_auth", "its token service %s answered no token" % realm)
        return "Bearer " + token

    def request(self, method: str, path: str, headers: Mapping[str, str] | None = None) -> Answer:
        """One request; a 401 challenge is answered once (Basic or Bearer), and the answer reused afterwards."""
        url = path if "://" in path else self.base + path
        wanted = dict(headers or {})
        if self.authorization:
            wanted["Authorization"] = self.authorization
        answer = self._send(method, url, wanted)
        if answer.status != 401:
            return answer
        challenge = next((value for key, value in answer.headers.items() if key.lower() == "www-authenticate"), "")
        scheme = challenge.split(" ", 1)[0].lower()
        if scheme == "bearer":
            self.authorization = self._token(challenge)
        elif scheme == "basic" and self.credentials:
            self.authorization = self._basic()
        else:
            return answer
        wanted["Authorization"] = self.authorization
        return self._send(method, url, wanted)


# --- one image -------------------------------------------------------------------------------------------------
@dataclass
class ImageResult:
    image: str
    containers: list[str]
    # present (the engine has it), found, missing (tag), repository_missing, or the RegistryError kind
    status: str
    registry: str = ""
    repository: str = ""
    tag: str = ""
    digest: str | None = None
    detail: str = ""
    nearest_tags: list[str] = field(default_factory=list)
    # The suggested tags differ from the missing one in the version only (otherwise in the locale or voice).
    version_only: bool = False
    seconds: float = 0.0


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def nearest_tags(missing: str, tags: Sequence[str], limit: int = MAX_SUGGESTED_TAGS) -> tuple[list[str], bool]:
    """Tags to suggest for a missing one, and whether they differ from it only in the version.

    The same variant (what follows the version: amd64-en-us, amd64-preview) at the nearest versions; without one
    (an unknown locale or voice), the tags most similar in spelling.
    """
    version, _sep, variant = missing.partition("-")
    same_variant = sorted(
        (
            tag
            for tag in set(tags)
            if tag != missing and tag.partition("-")[2] == variant and _VERSION_PART_RE.match(tag.partition("-")[0])
        ),
        key=lambda tag: _version_key(tag.partition("-")[0]),
    )
    if same_variant and _VERSION_PART_RE.match(version):
        keys = [_version_key(tag.partition("-")[0]) for tag in same_variant]
        position = bisect.bisect_left(keys, _version_key(version))
        start = max(0, min(position - limit // 2, len(same_variant) - limit))
        return same_variant[start : start + limit], True
    if same_variant:
        return same_variant[-limit:], True
    return sorted(difflib.get_close_matches(missing, list(set(tags)), n=limit, cutoff=0.6)), False


def list_tags(client: RegistryClient, repository: str) -> tuple[int, list[str]]:
    """(status, tags) of GET /v2/<repository>/tags/list, following the registry's pages."""
    tags: list[str] = []
    path = "/v2/%s/tags/list" % repository
    status = 0
    for _page in range(MAX_TAG_PAGES):
        answer = client.request("GET", path, {"Accept": "application/json"})
        status = answer.status
        if status != 200:
            break
        try:
            tags.extend(json.loads(answer.body.decode("utf-8")).get("tags") or [])
        except (ValueError, AttributeError):
            break
        link = next((value for key, value in answer.headers.items() if key.lower() == "link"), "")
        match = _LINK_NEXT_RE.search(link)
        if not match:
            break
        path = urllib.parse.urljoin(client.base + "/", match.group(1))
    return status, tags


def check_image(ref: ImageRef, client: RegistryClient) -> ImageResult:
    """Whether the registry has ref's manifest: HEAD, then GET for registries that do not answer HEAD."""
    result = ImageResult(ref.reference, [], "found", ref.registry, ref.repository, ref.tag)
    path = "/v2/%s/manifests/%s" % (ref.repository, ref.tag)
    headers = {"Accept": ", ".join(MANIFEST_MEDIA_TYPES)}
    try:
        answer = client.request("HEAD", path, headers)
        if answer.status not in (200, 401, 403, 404):
            answer = client.request("GET", path, headers)
        if answer.status == 200:
            result.digest = next(
                (value for key, value in answer.headers.items() if key.lower() == "docker-content-digest"), None
            )
            return result
        if answer.status in (401, 403):
            result.status = "registry_auth"
            if client.credentials:
                result.detail = "it refused the credentials of user %r for %s (%d)" % (
                    client.credentials[0],
                    ref.repository,
                    answer.status,
                )
            else:
                result.detail = "it needs a login for %s (%d) and this host has no credentials for it" % (
                    ref.repository,
                    answer.status,
                )
            return result
        if answer.status != 404:
            result.status = "registry_error"
            result.detail = "it answered %d to the manifest request for %s:%s" % (
                answer.status,
                ref.repository,
                ref.tag,
            )
            return result
        # HEAD has no body: the tag list tells an unknown repository (404 NAME_UNKNOWN) from an unknown tag.
        status, tags = list_tags(client, ref.repository)
        if status == 404:
            result.status = "repository_missing"
        else:
            result.status = "missing"
            result.nearest_tags, result.version_only = nearest_tags(ref.tag, tags)
        return result
    except RegistryError as exc:
        result.status = exc.kind
        result.detail = str(exc)
        return result


# --- one billing endpoint ----------------------------------------------------------------------------------------
@dataclass
class BillingResult:
    endpoint: str
    containers: list[str]
    host: str = ""
    port: int = 443
    # host:port of the proxy, without credentials
    proxy: str | None = None
    reachable: bool = False
    detail: str = ""
    # unreachable, untrusted, proxy, invalid
    problem: str = ""
    seconds: float = 0.0


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


class _ProxyRefused(Exception):
    """The proxy answered CONNECT with something other than 200."""


def _tunnel(sock: socket.socket, host: str, port: int, authorization: str | None, deadline: float) -> None:
    """HTTP CONNECT through a proxy (RFC 9110 9.3.6), as the containers' HTTP_PROXY setting does."""
    target = "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)
    lines = ["CONNECT %s HTTP/1.1" % target, "Host: %s" % target]
    if authorization:
        lines.append("Proxy-Authorization: %s" % authorization)
    sock.settimeout(_remaining(deadline))
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    reply = b""
    while b"\r\n\r\n" not in reply:
        sock.settimeout(_remaining(deadline))
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the proxy closed the connection")
        reply += chunk
        if len(reply) > 65536:
            raise ConnectionError("the proxy's answer has no end")
    status_line = reply.split(b"\r\n", 1)[0].decode("latin-1", "replace")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or parts[1] != "200":
        raise _ProxyRefused(status_line)


def check_billing(
    endpoint: str,
    ca_file: str | None = None,
    http_proxy: str | None = None,
    http_proxy_creds: str | None = None,
    timeout: float = DEFAULT_BILLING_TIMEOUT,
) -> BillingResult:
    """A TLS handshake with the endpoint's host (certificate verified: system CAs plus ca_file) within timeout."""
    result = BillingResult(endpoint=endpoint, containers=[])
    started = time.monotonic()
    deadline = started + timeout
    try:
        parsed = urllib.parse.urlsplit(endpoint)
        result.host, result.port = parsed.hostname or "", parsed.port or 443
    except ValueError as exc:
        result.problem, result.detail = "invalid", "it is not a URL (%s)" % exc
        return result
    if parsed.scheme != "https" or not result.host:
        result.problem, result.detail = "invalid", "it is not an https URL with a host"
        return result
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            result.problem, result.detail = "invalid", "the CA file %s cannot be read (%s)" % (ca_file, _reason(exc))
            return result
    connect_to = (result.host, result.port)
    authorization = None
    if http_proxy:
        try:
            proxy = urllib.parse.urlsplit(http_proxy if "://" in http_proxy else "http://" + http_proxy)
            connect_to = (proxy.hostname or "", proxy.port or 80)
        except ValueError as exc:
            result.problem, result.detail = "invalid", "its proxy is not a URL (%s)" % exc
            return result
        result.proxy = "%s:%d" % connect_to
        user = (
            "%s:%s" % (urllib.parse.unquote(proxy.username), urllib.parse.unquote(proxy.password or ""))
            if proxy.username
            else http_proxy_creds
        )
        if user:
            authorization = "Basic " + base64.b64encode(user.encode()).decode()
    sock = None
    try:
        sock = socket.create_connection(connect_to, timeout=_remaining(deadline))
        if http_proxy:
            _tunnel(sock, result.host, result.port, authorization, deadline)
        sock.settimeout(_remaining(deadline))
        # wrap_socket makes the handshake (and verifies the certificate) within the socket's timeout.
        with context.wrap_socket(sock, server_hostname=result.host):
            sock = None  # closed with the TLS socket
        result.reachable = True
    except ssl.SSLCertVerificationError as exc:
        result.problem, result.detail = "untrusted", _reason(exc)
    except _ProxyRefused as exc:
        result.problem, result.detail = "proxy", "the proxy %s refused to connect to it (%s)" % (result.proxy, exc)
    except (OSError, ssl.SSLError) as exc:
        result.problem = "unreachable"
        result.detail = ("through the proxy %s: " % result.proxy if result.proxy else "") + _reason(exc)
        if isinstance(exc, (TimeoutError, socket.timeout)):
            result.detail += " after %g s" % timeout
    finally:
        if sock is not None:
            sock.close()
        result.seconds = round(time.monotonic() - started, 3)
    return result


# --- the host's addresses --------------------------------------------------------------------------------------
def parse_ip_json(text: str) -> dict[str, str]:
    """address -> interface from `ip -j addr show` (iproute2's JSON)."""
    addresses: dict[str, str] = {}
    try:
        links = json.loads(text)
    except ValueError:
        return addresses
    for link in links if isinstance(links, list) else []:
        for info in link.get("addr_info") or []:
            if info.get("local"):
                addresses[_normal(info["local"])] = str(link.get("ifname") or "")
    return addresses


def parse_fib_trie(text: str) -> dict[str, str]:
    """IPv4 addresses of the host from /proc/net/fib_trie: a "|-- ADDRESS" line followed by "/32 host LOCAL"."""
    addresses: dict[str, str] = {}
    last = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|--"):
            last = stripped[3:].strip()
        elif last and "/32 host LOCAL" in stripped:
            addresses[_normal(last)] = ""
    return addresses


def parse_if_inet6(text: str) -> dict[str, str]:
    """IPv6 addresses of the host from /proc/net/if_inet6: 32 hex digits, index, prefix, scope, flags, interface."""
    addresses: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 6 and len(fields[0]) == 32:
            try:
                address = ipaddress.IPv6Address(bytes.fromhex(fields[0]))
            except ValueError:
                continue
            addresses[address.compressed] = fields[5]
    return addresses


def _normal(address: str) -> str:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).compressed
    except ValueError:
        return address


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def host_addresses(ip_command: str | None = "ip", proc_net: str = "/proc/net") -> dict[str, str]:
    """address -> interface ('' when unknown) of every address of this host: `ip -j addr`, else /proc/net.

    IPv6 link-local addresses are left out: they need a zone, which Docker cannot publish on (address_problem).
    """
    executable = shutil.which(ip_command) if ip_command else None
    addresses: dict[str, str] = {}
    if executable:
        try:
            completed = subprocess.run(
                [executable, "-j", "addr", "show"], capture_output=True, check=False, timeout=5, text=True
            )
            addresses = parse_ip_json(completed.stdout) if completed.returncode == 0 else {}
        except (OSError, subprocess.SubprocessError):
            addresses = {}
    if not addresses:
        addresses = parse_fib_trie(_read(os.path.join(proc_net, "fib_trie")))
        addresses.update(parse_if_inet6(_read(os.path.join(proc_net, "if_inet6"))))
    return {address: name for address, name in addresses.items() if not _link_local(address)}


def _link_local(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_link_local and ":" in address
    except ValueError:
        return False


def judge_bind_addresses(targets: Sequence[Target], addresses: Mapping[str, str]) -> list[Unmet]:
    unmet = []
    shown = ", ".join(
        "%s (%s)" % (address, interface) if interface else address for address, interface in sorted(addresses.items())
    )
    for target in targets:
        wanted = target.bind_address
        if wanted in WILDCARD_ADDRESSES or _normal(wanted) in addresses:
            continue
        unmet.append(
            Unmet(
                "bind_address",
                "container %s: bind_address %s is not an address of this host (its addresses: %s): give one of "
                "them, or 0.0.0.0 / :: for every address" % (target.name, wanted, shown or "none found"),
                wanted,
                sorted(addresses),
            )
        )
    return unmet


# --- all checks, concurrently ----------------------------------------------------------------------------------
@dataclass
class ReachabilityOptions:
    check_images: bool = True
    check_billing: bool = True
    check_bind_address: bool = True
    registry: str | None = None  # the fleet's registry (host[:port][/path]); its credentials and CA are below
    registry_credentials: tuple[str, str] | None = None
    registry_ca_cert: str | None = None
    registry_config_path: str | None = None
    registry_certs_dir: str = CERTS_D
    registry_timeout: float = DEFAULT_REGISTRY_TIMEOUT
    # The engine's proxies ({"http", "https", "no"}, docker info), or None for the module's environment.
    registry_proxies: Mapping[str, str] | None = None
    billing_ca_file: str | None = None
    billing_timeout: float = DEFAULT_BILLING_TIMEOUT


@dataclass
class Reachability:
    images: list[ImageResult] = field(default_factory=list)
    billing: list[BillingResult] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    unmet: list[Unmet] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "images": [asdict(item) for item in self.images],
            "billing": [asdict(item) for item in self.billing],
            "addresses": self.addresses,
        }


def _grouped(targets: Sequence[Target], key: Callable[[Target], str | None]) -> dict[str, list[str]]:
    """value -> names of the containers that have it, in plan order."""
    groups: dict[str, list[str]] = {}
    for target in targets:
        value = key(target)
        if value:
            groups.setdefault(value, []).append(target.name)
    return groups


def _clients(
    refs: Iterable[ImageRef], options: ReachabilityOptions
) -> tuple[dict[str, RegistryClient], dict[str, str]]:
    """One client per registry (its answer to a challenge is shared), or the reason the registry cannot be asked."""
    fleet_host = options.registry.split("/", 1)[0] if options.registry else None
    config: Mapping[str, Any] = {}
    config_error = None
    try:
        config = read_config(options.registry_config_path or default_config_path())
    except ValueError as exc:
        config_error = str(exc)
    clients: dict[str, RegistryClient] = {}
    errors: dict[str, str] = {}
    for ref in refs:
        if ref.registry in clients or ref.registry in errors:
            continue
        fleet = options.registry_credentials if ref.registry == fleet_host else None
        try:
            context = registry_ssl_context(
                ref.registry,
                options.registry_certs_dir,
                options.registry_ca_cert if ref.registry == fleet_host else None,
            )
        except (OSError, ssl.SSLError, ValueError) as exc:
            errors[ref.registry] = "its CA or client certificate cannot be loaded (%s)" % _reason(exc)
            continue
        if config_error and not fleet:
            errors[ref.registry] = config_error
            continue
        clients[ref.registry] = RegistryClient(
            ref.registry,
            ref.api_host,
            context,
            registry_credentials(ref.registry, config, fleet),
            options.registry_timeout,
            engine_proxy(ref.api_host, options.registry_proxies),
        )
    return clients, errors


def engine_proxy(host: str, proxies: Mapping[str, str] | None) -> str | None:
    """The proxy the engine pulls from host through: "" for none, None to use the module's environment.

    A proxy whose password docker info masked (xxxxx) cannot be used: the module's environment then.
    """
    if proxies is None:
        return None
    proxy = proxies.get("https") or proxies.get("http") or ""
    if not proxy or urllib.request.proxy_bypass_environment(host.split(":")[0], {"no": proxies.get("no") or ""}):
        return ""
    return None if ":xxxxx@" in proxy else proxy


def _ask_registry(ref: ImageRef, clients: Mapping[str, RegistryClient], errors: Mapping[str, str]) -> ImageResult:
    started = time.monotonic()
    if ref.registry in errors:
        result = ImageResult(ref.reference, [], "registry_config", ref.registry, ref.repository, ref.tag)
        result.detail = errors[ref.registry]
    else:
        result = check_image(ref, clients[ref.registry])
    result.seconds = round(time.monotonic() - started, 3)
    return result


def run_checks(
    targets: Sequence[Target],
    options: ReachabilityOptions,
    local_images: set[str] | None = None,
    addresses: Callable[[], Mapping[str, str]] = host_addresses,
) -> Reachability:
    """Every check the options ask for, the network ones concurrently; unmet requirements in plan order."""
    report = Reachability()
    images = _grouped(targets, lambda target: target.image) if options.check_images else {}
    endpoints: dict[tuple[str, str | None, str | None], list[str]] = {}
    if options.check_billing:
        for target in targets:
            if target.billing:
                endpoints.setdefault((target.billing, target.http_proxy, target.http_proxy_creds), []).append(
                    target.name
                )
            else:
                report.notes.append(
                    "container %s has no billing endpoint (disconnected), so billing reachability is not checked"
                    % target.name
                )
    local = local_references(local_images or ())
    to_ask = [parse_reference(image) for image in images if image not in local]
    for image, names in images.items():
        if image in local:
            report.images.append(ImageResult(image, names, "present", *_ref_fields(image)))
    clients, errors = _clients(to_ask, options)
    workers = min(MAX_WORKERS, len(to_ask) + len(endpoints)) or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        asked = [pool.submit(_ask_registry, ref, clients, errors) for ref in to_ask]
        reached = [
            pool.submit(check_billing, endpoint, options.billing_ca_file, proxy, creds, options.billing_timeout)
            for endpoint, proxy, creds in endpoints
        ]
        for future in asked:
            result = future.result()
            result.containers = images[result.image]
            report.images.append(result)
        for future, names in zip(reached, endpoints.values(), strict=True):
            result = future.result()
            result.containers = names
            report.billing.append(result)
    order = list(images)
    report.images.sort(key=lambda result: order.index(result.image))
    report.unmet.extend(judge_images(report.images, options))
    report.unmet.extend(judge_billing(report.billing, options))
    if options.check_bind_address and targets:
        found = addresses()
        report.addresses = sorted(found)
        report.unmet.extend(judge_bind_addresses(targets, found))
    return report


def _ref_fields(image: str) -> tuple[str, str, str]:
    ref = parse_reference(image)
    return ref.registry, ref.repository, ref.tag


def _containers(names: Sequence[str]) -> str:
    return ("container %s" if len(names) == 1 else "containers %s") % ", ".join(names)


def judge_images(results: Sequence[ImageResult], options: ReachabilityOptions) -> list[Unmet]:
    """One unmet requirement per missing image; one per registry that cannot be asked, naming its images."""
    unmet: list[Unmet] = []
    registry_problems: dict[tuple[str, str, str], list[str]] = {}
    for result in results:
        where = "%s/%s" % (result.registry, result.repository)
        if result.status == "missing":
            if result.version_only:
                hint = "check the version (the registry lists %s)" % ", ".join(result.nearest_tags)
            elif result.nearest_tags:
                hint = "check the locale and voice (no tag differs only in the version; similar tags: %s)" % ", ".join(
                    result.nearest_tags
                )
            else:
                hint = "check the version, locale and voice (the registry lists no similar tag)"
            unmet.append(
                Unmet(
                    "image",
                    "%s: tag %s not found in %s: %s" % (_containers(result.containers), result.tag, where, hint),
                    result.image,
                    result.nearest_tags,
                )
            )
        elif result.status == "repository_missing":
            unmet.append(
                Unmet(
                    "image",
                    "%s: repository %s not found in %s: check the kind and the registry path (a mirror keeps "
                    "Microsoft's repository paths)"
                    % (_containers(result.containers), result.repository, result.registry),
                    result.image,
                    None,
                )
            )
        elif result.status not in ("present", "found"):
            registry_problems.setdefault((result.registry, result.status, result.detail), []).append(result.image)
    for (registry, kind, detail), refs in registry_problems.items():
        unmet.append(Unmet(kind, _registry_message(registry, kind, detail, refs, options), registry, None))
    return unmet


def _registry_message(registry: str, kind: str, detail: str, refs: Sequence[str], options: ReachabilityOptions) -> str:
    images = "; cannot check %s" % ", ".join(refs)
    if kind == "registry_unreachable":
        return "registry %s is unreachable from this host (%s)%s: check its address, DNS, firewall and proxy" % (
            registry,
            detail,
            images,
        )
    if kind == "registry_trust":
        return (
            "registry %s presents a certificate this host does not trust (%s)%s: give the registry's CA "
            "(speech_registry_ca_file), which the rollout installs at %s/%s/ca.crt"
            % (
                registry,
                detail,
                images,
                options.registry_certs_dir,
                registry,
            )
        )
    if kind == "registry_auth":
        return "registry %s: %s%s: check speech_registry_username and speech_registry_password" % (
            registry,
            detail,
            images,
        )
    return "registry %s: %s%s" % (registry, detail, images)


def judge_billing(results: Sequence[BillingResult], options: ReachabilityOptions) -> list[Unmet]:
    unmet = []
    for result in results:
        if result.reachable:
            continue
        names = _containers(result.containers)
        if result.problem == "untrusted":
            fix = (
                "the endpoint must present a certificate the containers trust; for a private CA (labs) give its "
                "file on the host with billing_ca_file (role edge_host: edge_host_billing_ca_file)"
                if not options.billing_ca_file
                else "check the endpoint and the CA file %s" % options.billing_ca_file
            )
            message = "%s: billing endpoint %s presents a certificate this host does not trust (%s): %s" % (
                names,
                result.endpoint,
                result.detail,
                fix,
            )
        elif result.problem == "invalid":
            message = "%s: billing endpoint %s cannot be checked: %s" % (names, result.endpoint, result.detail)
        else:
            message = (
                "%s: billing endpoint %s (%s:%d) is unreachable from this host (%s): the containers would not "
                "serve; open outbound HTTPS to it (firewall, DNS%s) or fix billing"
                % (
                    names,
                    result.endpoint,
                    result.host,
                    result.port,
                    result.detail,
                    ", http_proxy" if not result.proxy else ", the proxy",
                )
            )
        unmet.append(Unmet("billing", message, "%s:%d" % (result.host, result.port), result.detail))
    return unmet
