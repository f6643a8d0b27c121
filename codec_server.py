"""The codec server: lets the Temporal Web UI and CLI show decrypted payloads to those allowed to.

    PAYLOAD_KEYS=... python codec_server.py --port 8081 --origin http://127.0.0.1:8233

The UI calls `POST /decode` (and `/encode` when a person starts or signals from it) with
`{"payloads": [{"metadata": {...base64}, "data": base64}]}`, after a CORS preflight, from the exact
origins given. Who may call it (`settings.CodecServerSettings`):

* a shared bearer token, `CODEC_TOKEN` (24+ random characters): `Authorization: Bearer <token>`,
  for the CLI (`temporal workflow show --codec-endpoint ... --codec-auth "Bearer $CODEC_TOKEN"`);
* OIDC: the Web UI forwards the signed-in person's access token (`TEMPORAL_CODEC_PASS_ACCESS_TOKEN`,
  to an https endpoint only), verified here against the issuer's published keys
  (`CODEC_OIDC_ISSUER`, `CODEC_OIDC_AUDIENCE`, `CODEC_OIDC_JWKS_URL`);
* nobody else. Without either, the server only listens on loopback (`make run`: the dev UI and the
  CLI on the same machine), and refuses to start on any other address.

Every decode and encode, allowed or not, is one JSON line in the access log (`CODEC_ACCESS_LOG`, a
file, or `-` for stdout): when, who, the namespace, how many payloads, the outcome; never a payload,
a key or a token. A request is answered only once its line is written.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import ipaddress
import json
import os
import socket
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import jwt
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from adapters.codec import ENCODING, EncryptionCodec, PayloadKeyError, new_key_line
from settings import CodecServerSettings

MAX_BODY = 32 * 1024 * 1024  # bytes in one request; the UI sends one event's payloads at a time
# Asymmetric only: a key published by the issuer can never be used as an HMAC secret (RFC 8725 2.1).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
LEEWAY = 30  # seconds of clock skew allowed on exp/nbf/iat
MIN_TOKEN = 24


class Unauthorized(Exception):
    """The request is refused (401); the message says what is missing or wrong, never the token."""


class KeysUnavailable(Exception):
    """The issuer's keys could not be fetched (503): nothing is decoded on an unverified token."""


@dataclass(frozen=True)
class Caller:
    who: str  # the token's `sub`, "token:<sha256 prefix>" for the shared token, "local" on loopback
    auth: str  # "oidc", "token" or "none"


def is_loopback(host: str) -> bool:
    """True when every address `host` resolves to is a loopback address ('' and 0.0.0.0 are not)."""
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def addressed_to_loopback(host_header: str) -> bool:
    """The Host header names `localhost` or a loopback address (not a name that merely resolves to one)."""
    try:
        name = urlsplit(f"//{host_header}").hostname or ""
        return name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check(settings: CodecServerSettings, host: str) -> None:
    """Refuse a configuration that would let anyone decrypt: SystemExit with what to set."""
    oidc = {"CODEC_OIDC_ISSUER": settings.oidc_issuer, "CODEC_OIDC_AUDIENCE": settings.oidc_audience,
            "CODEC_OIDC_JWKS_URL": settings.oidc_jwks_url}
    if any(oidc.values()) and not all(oidc.values()):
        missing = ", ".join(name for name, value in oidc.items() if not value)
        raise SystemExit(f"OIDC for the codec server needs issuer, audience and keys: set {missing}")
    if settings.oidc_jwks_url:
        jwks = urlsplit(settings.oidc_jwks_url)
        if jwks.scheme != "https" and not (jwks.scheme == "http" and is_loopback(jwks.hostname or "")):
            raise SystemExit("CODEC_OIDC_JWKS_URL must be https (http only on loopback): "
                             "the keys it serves decide who may read personal data")
    if is_loopback(host):
        return  # the same machine only: `make run`'s dev UI and CLI
    if not (settings.token or settings.oidc_issuer):
        raise SystemExit(f"the codec server decrypts personal data: on {host or 'all interfaces'} (not loopback) it "
                         "needs authentication. Set CODEC_TOKEN (24+ random characters) or OIDC "
                         "(CODEC_OIDC_ISSUER, CODEC_OIDC_AUDIENCE, CODEC_OIDC_JWKS_URL), or bind to 127.0.0.1")
    if settings.token and len(settings.token) < MIN_TOKEN:
        raise SystemExit(f"CODEC_TOKEN is too short: use at least {MIN_TOKEN} random characters")


class Authenticator:
    """Who is calling, from the Authorization header; Unauthorized when nobody acceptable is."""

    def __init__(self, settings: CodecServerSettings):
        self.token = settings.token
        self.issuer, self.audience = settings.oidc_issuer, settings.oidc_audience
        self.jwks = (jwt.PyJWKClient(settings.oidc_jwks_url, timeout=5)  # the key set cached 5 minutes; an
                     if settings.oidc_jwks_url else None)                  # unknown kid refetches at most every 30 s
        self.token_who = f"token:{hashlib.sha256(self.token.encode()).hexdigest()[:8]}" if self.token else ""
        ways = (["the shared CODEC_TOKEN"] if self.token else []) + \
            ([f"an access token from {self.issuer} for {self.audience}"] if self.jwks else [])
        self.needed = f"Authorization: Bearer <{' or '.join(ways)}> is required"

    @property
    def required(self) -> bool:
        return bool(self.token or self.jwks)

    def caller(self, authorization: str | None) -> Caller:
        if not self.required:
            return Caller("local", "none")
        scheme, _, credential = (authorization or "").strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthorized(self.needed)
        if self.token and hmac.compare_digest(credential.encode(), self.token.encode()):
            return Caller(self.token_who, "token")
        if self.jwks and credential.count(".") == 2:
            return Caller(self._verify(credential), "oidc")
        raise Unauthorized("the bearer token is not valid")

    def _verify(self, credential: str) -> str:
        assert self.jwks is not None
        try:
            key = self.jwks.get_signing_key_from_jwt(credential)
        except jwt.PyJWKClientConnectionError:
            raise KeysUnavailable(f"the issuer's keys could not be fetched from {self.jwks.uri}") from None
        except jwt.PyJWKClientError:
            raise Unauthorized("the access token is signed with a key the issuer does not publish") from None
        except jwt.PyJWTError:
            raise Unauthorized("the access token is not a valid JWT") from None
        try:
            claims = jwt.decode(credential, key, algorithms=ALGORITHMS, audience=self.audience, issuer=self.issuer,
                                leeway=LEEWAY, options={"require": ["exp", "iss", "aud", "sub"],
                                                        "enforce_minimum_key_length": True})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized(f"the access token is not for this audience ({self.audience})") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized(f"the access token is not from the issuer {self.issuer}") from None
        except jwt.MissingRequiredClaimError as e:
            raise Unauthorized(f"the access token has no {e.claim!r} claim") from None
        except jwt.PyJWTError:
            raise Unauthorized("the access token does not verify") from None
        return str(claims["sub"])


class AccessLog:
    """JSON lines, one per decode or encode request; `-` writes them to stdout."""

    def __init__(self, target: str):
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        if target != "-":
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # operators' ids: not world-readable
            self._file = os.fdopen(fd, "a", encoding="utf-8")
        self.target = target

    def write(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False) + "\n"  # one line: a newline in a header stays escaped
        with self._lock:
            out = self._file or sys.stdout
            out.write(line)
            out.flush()

    def close(self) -> None:
        if self._file:
            self._file.close()


def _header(value: str | None, limit: int = 256) -> str | None:
    return value[:limit] if value else None


def make_handler(codec: EncryptionCodec, origins: set[str], auth: Authenticator, log: AccessLog,
                 check_host: bool = False) -> type[BaseHTTPRequestHandler]:
    """`check_host`: answer only requests addressed to a loopback name (no DNS rebinding onto an
    unauthenticated loopback server)."""

    class Handler(BaseHTTPRequestHandler):
        timeout = 30  # seconds a connection may idle mid-request

        def _cors(self) -> None:
            origin = self.headers.get("Origin")
            if origin in origins:  # the exact UI origin only; the UI fetches with credentials
                asked = self.headers.get("Access-Control-Request-Headers")
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
                self.send_header("Access-Control-Allow-Headers", asked or "Content-Type, X-Namespace, Authorization")
                self.send_header("Vary", "Origin")

        def _reply(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self._cors()
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")  # decrypted personal data: never cached
            self.end_headers()
            self.wfile.write(data)

        def _record(self, action: str, status: int, caller: Caller | None, reason: str | None = None,
                    payloads: int | None = None, decrypted: int | None = None) -> None:
            log.write({
                "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "action": action,
                "outcome": "ok" if status == 200 else "denied" if status in (401, 403) else
                           "error" if status >= 500 else "refused",
                "status": status,
                "who": caller.who if caller else None,
                "auth": caller.auth if caller else None,
                "namespace": _header(self.headers.get("X-Namespace")),
                "workflow_id": _header(self.headers.get("X-Workflow-Id")),  # the Web UI sends none
                "payloads": payloads,
                "decrypted": decrypted,
                "client": self.client_address[0],
                "origin": _header(self.headers.get("Origin")),
                "reason": reason,
            })

        def do_OPTIONS(self) -> None:  # noqa: N802 - the http.server API
            self.send_response(204)
            self._cors()
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            if urlsplit(self.path).path == "/healthz":  # for health checks: no keys, no data, no log
                return self._reply(200, {"ok": True})
            self._reply(404, {"error": "POST /decode or /encode"})

        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path  # the UI adds a query (?preserveStorageRefs=true)
            if path not in ("/decode", "/encode"):
                return self._reply(404, {"error": "POST /decode or /encode"})
            action = path[1:]
            if check_host and not addressed_to_loopback(self.headers.get("Host", "")):
                self._record(action, 403, None, "Host is not a loopback name")
                return self._reply(403, {"error": "this codec server answers on 127.0.0.1 or localhost only"})
            try:
                caller = auth.caller(self.headers.get("Authorization"))
            except Unauthorized as e:
                self._record(action, 401, None, str(e))
                error = ', error="invalid_token"' if self.headers.get("Authorization") else ""
                return self._reply(401, {"error": str(e)}, {"WWW-Authenticate": f'Bearer realm="codec"{error}'})
            except KeysUnavailable as e:
                self._record(action, 503, None, str(e))
                return self._reply(503, {"error": str(e)})
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._record(action, 413, caller, "no Content-Length, or over the limit")
                return self._reply(413, {"error": f"a body of at most {MAX_BODY} bytes, with its Content-Length"})
            try:
                payloads = json_format.Parse(self.rfile.read(length), Payloads())
            except (json_format.ParseError, ValueError) as e:
                self._record(action, 400, caller, "not a payloads document")
                return self._reply(400, {"error": f"not a payloads document: {e}"})
            count = len(payloads.payloads)
            sealed = sum(p.metadata.get("encoding") == ENCODING for p in payloads.payloads)
            try:
                convert = codec.open if action == "decode" else codec.seal
                out = Payloads(payloads=[convert(p) for p in payloads.payloads])
            except PayloadKeyError as e:  # names a key id, never a key
                self._record(action, 422, caller, str(e), count)
                return self._reply(422, {"error": str(e)})
            try:
                self._record(action, 200, caller, None, count, sealed if action == "decode" else None)
            except (OSError, ValueError):  # the log cannot be written: nothing leaves without its record
                return self._reply(503, {"error": "the access log could not be written; nothing is decoded without it"})
            self._reply(200, json_format.MessageToDict(out))

        def log_message(self, *args: Any) -> None:  # payloads are personal data: never logged
            pass

    return Handler


class CodecServer(ThreadingHTTPServer):
    daemon_threads = True
    access_log: AccessLog

    def server_close(self) -> None:
        super().server_close()
        self.access_log.close()


class CodecServer6(CodecServer):
    address_family = socket.AF_INET6


def serve(port: int, origins: set[str], host: str = "127.0.0.1",
          settings: CodecServerSettings | None = None) -> CodecServer:
    """Keys, authentication and access log as configured (`settings.CodecServerSettings`) unless
    given. SystemExit, before anything listens, when the address is not loopback and no
    authentication is configured."""
    settings = settings or CodecServerSettings()
    check(settings, host)
    auth = Authenticator(settings)
    codec = settings.payload_keys.codec()
    log = AccessLog(settings.access_log)
    handler = make_handler(codec, origins, auth, log, check_host=not auth.required)
    server = (CodecServer6 if ":" in host else CodecServer)((host, port), handler)
    server.access_log = log
    return server


def main() -> None:
    parser = argparse.ArgumentParser(prog="codec_server.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="the address to listen on; off loopback "
                        "CODEC_TOKEN or CODEC_OIDC_* must be set")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--origin", action="append", help="an allowed UI origin (repeat); default the dev UI")
    parser.add_argument("--new-key", metavar="ID", help="print a new key line `ID:<base64>` for PAYLOAD_KEYS and exit")
    args = parser.parse_args()
    if args.new_key:
        print(new_key_line(args.new_key))
        return
    origins = set(args.origin or ["http://127.0.0.1:8233", "http://localhost:8233"])
    settings = CodecServerSettings()
    server = serve(args.port, origins, args.host, settings)
    auth = " and ".join((["CODEC_TOKEN"] if settings.token else []) +
                        ([f"OIDC ({settings.oidc_issuer})"] if settings.oidc_issuer else [])) or "none (loopback)"
    print(f"codec server on http://{args.host}:{args.port} for {', '.join(sorted(origins))}; "
          f"authentication: {auth}; access log: {settings.access_log}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
