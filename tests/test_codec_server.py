"""The codec server over real HTTP on 127.0.0.1: nobody decrypts anonymously off loopback, a shared
token or an OIDC access token (verified against a JWKS served locally) is required when configured,
and every decode and encode is one line in the access log, without a payload, a key or a token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from temporalio.api.common.v1 import Payload

import codec_server
from adapters.codec import EncryptionCodec, parse_keys
from settings import CodecServerSettings
from testkit.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "codec-test-token-0123456789abcdef"  # 32 characters
UI = "http://127.0.0.1:8233"
ISSUER, AUDIENCE = "https://idp.test/realms/duecourse", "duecourse-codec"
PLAIN = b'"Test Borrower 13800138050"'
CODEC_ENV = ("CODEC_TOKEN", "CODEC_OIDC_ISSUER", "CODEC_OIDC_AUDIENCE", "CODEC_OIDC_JWKS_URL", "CODEC_ACCESS_LOG")


@pytest.fixture
def env(payload_keys, monkeypatch, tmp_path) -> Path:
    """PAYLOAD_KEYS set, no codec authentication, the access log in tmp_path (returned)."""
    for name in CODEC_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAYLOAD_KEYS", payload_keys)
    monkeypatch.setenv("CODEC_ACCESS_LOG", str(tmp_path / "codec-access.log"))
    return tmp_path / "codec-access.log"


@pytest.fixture
def start() -> Iterator[Callable[..., str]]:
    """start(host=...) -> the base URL of a codec server configured from the environment."""
    servers: list[codec_server.CodecServer] = []

    def _start(host: str = "127.0.0.1") -> str:
        server = codec_server.serve(0, {UI}, host)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield _start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sealed(payload_keys) -> dict[str, Any]:
    """A decode request body: one payload sealed with the test keys, one plain JSON (as the UI sends)."""
    payload = EncryptionCodec(*parse_keys(payload_keys)).seal(Payload(metadata={"encoding": b"json/plain"},
                                                                      data=PLAIN))
    return {"payloads": [
        {"metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
         "data": base64.b64encode(payload.data).decode()},
        {"metadata": {"encoding": base64.b64encode(b"json/plain").decode()}, "data": base64.b64encode(b"1").decode()},
    ]}


def decode(url: str, body: dict[str, Any], token: str | None = None, **headers: str) -> httpx.Response:
    headers = {"Origin": UI, "X-Namespace": "default"} | headers
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.post(f"{url}/decode?preserveStorageRefs=true", json=body, headers=headers, timeout=10)


def entries(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def assert_no_secrets(log: Path, body: dict[str, Any], *secrets: str) -> None:
    text = log.read_text()
    ciphertext = body["payloads"][0]["data"]
    for needle in (ciphertext, ciphertext[:16], PLAIN.decode(), "Test Borrower", "13800138050",
                   base64.b64encode(PLAIN).decode(), *secrets):
        assert needle not in text, f"{needle[:20]}... is in the access log"


# --- who may start it where ---------------------------------------------------------------------------------------

def test_off_loopback_it_refuses_to_start_without_authentication(env):
    with pytest.raises(SystemExit, match="needs authentication. Set CODEC_TOKEN"):
        codec_server.serve(free_port(), {UI}, "0.0.0.0")
    port = free_port()  # the real command: a clear error, a failing exit code, nothing listening
    run = subprocess.run([sys.executable, "codec_server.py", "--host", "0.0.0.0", "--port", str(port)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "needs authentication" in run.stderr and "CODEC_OIDC_ISSUER" in run.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_off_loopback_a_short_token_or_half_an_oidc_setup_is_refused(env, monkeypatch):
    monkeypatch.setenv("CODEC_TOKEN", "short")
    with pytest.raises(SystemExit, match="CODEC_TOKEN is too short"):
        codec_server.serve(free_port(), {UI}, "0.0.0.0")
    monkeypatch.delenv("CODEC_TOKEN")
    monkeypatch.setenv("CODEC_OIDC_ISSUER", ISSUER)
    with pytest.raises(SystemExit, match="set CODEC_OIDC_AUDIENCE, CODEC_OIDC_JWKS_URL"):
        codec_server.serve(free_port(), {UI}, "0.0.0.0")
    monkeypatch.setenv("CODEC_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("CODEC_OIDC_JWKS_URL", "http://idp.test/certs")  # keys in clear, off loopback
    with pytest.raises(SystemExit, match="must be https"):
        codec_server.serve(free_port(), {UI}, "0.0.0.0")


def test_on_all_interfaces_with_a_token_it_starts_and_requires_it(env, monkeypatch, start, sealed):
    monkeypatch.setenv("CODEC_TOKEN", TOKEN)
    url = start("0.0.0.0")
    assert httpx.get(f"{url}/healthz").json() == {"ok": True}  # health checks need no token and see no data
    assert decode(url, sealed).status_code == 401
    assert decode(url, sealed, TOKEN).status_code == 200


# --- the shared token ---------------------------------------------------------------------------------------------

def test_a_token_is_required_and_checked(env, monkeypatch, start, sealed):
    monkeypatch.setenv("CODEC_TOKEN", TOKEN)
    url = start()
    missing = decode(url, sealed)
    assert missing.status_code == 401 and "Authorization: Bearer <the shared CODEC_TOKEN>" in missing.json()["error"]
    assert missing.headers["www-authenticate"] == 'Bearer realm="codec"'
    assert missing.headers["access-control-allow-origin"] == UI  # the UI can show why
    wrong = decode(url, sealed, TOKEN[:-1] + "x")
    assert wrong.status_code == 401 and wrong.json() == {"error": "the bearer token is not valid"}
    assert 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert decode(url, sealed, Authorization=f"Basic {TOKEN}").status_code == 401
    for refused in (missing, wrong):
        assert sealed["payloads"][0]["data"] not in refused.text and "Test Borrower" not in refused.text
    ok = decode(url, sealed, TOKEN)
    assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
    assert base64.b64decode(ok.json()["payloads"][0]["data"]) == PLAIN

    who = entries(env)
    assert [(e["outcome"], e["status"], e["who"], e["auth"]) for e in who] == [
        ("denied", 401, None, None), ("denied", 401, None, None), ("denied", 401, None, None),
        ("ok", 200, codec_server.Authenticator(CodecServerSettings()).token_who, "token")]
    assert who[-1]["who"].startswith("token:") and len(who[-1]["who"]) == len("token:") + 8
    assert (who[-1]["namespace"], who[-1]["payloads"], who[-1]["decrypted"]) == ("default", 2, 1)
    assert who[0]["reason"].startswith("Authorization: Bearer") and who[1]["reason"] == "the bearer token is not valid"
    assert_no_secrets(env, sealed, TOKEN)


def test_encode_is_recorded_too(env, monkeypatch, start):
    monkeypatch.setenv("CODEC_TOKEN", TOKEN)
    url = start()
    body = {"payloads": [{"metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
                          "data": base64.b64encode(PLAIN).decode()}]}
    answer = httpx.post(f"{url}/encode", json=body, headers={"Authorization": f"Bearer {TOKEN}", "X-Namespace": "ns1"})
    assert answer.status_code == 200 and base64.b64decode(answer.json()["payloads"][0]["metadata"]["encoding"]) \
        == b"binary/encrypted"
    [entry] = entries(env)
    assert (entry["action"], entry["outcome"], entry["namespace"], entry["payloads"]) == ("encode", "ok", "ns1", 1)
    assert_no_secrets(env, {"payloads": [answer.json()["payloads"][0]]}, TOKEN)


# --- OIDC: the Web UI's forwarded access token --------------------------------------------------------------------

class Issuer:
    """An RSA key pair whose public half a local HTTP server publishes as a JWKS."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.fetches = 0
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        body = json.dumps({"keys": [jwk | {"kid": "key-1", "use": "sig", "alg": "RS256"}]}).encode()
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                issuer.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.jwks_url = f"http://127.0.0.1:{self.server.server_address[1]}/protocol/openid-connect/certs"

    def token(self, key: Any = None, kid: str = "key-1", algorithm: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "operator-7f3a", "iat": now, "exp": now + 300} | claims
        return jwt.encode({k: v for k, v in body.items() if v is not None}, key or self.key, algorithm=algorithm,
                          headers={"kid": kid})


def hmac_with_public_key(issuer: Issuer) -> str:
    """The algorithm-confusion attack: HS256 keyed with the issuer's public key, which anyone has."""
    def part(value: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")

    pem = issuer.key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    signing_input = part({"alg": "HS256", "typ": "JWT", "kid": "key-1"}) + b"." + part(
        {"iss": ISSUER, "aud": AUDIENCE, "sub": "attacker", "exp": int(time.time()) + 300})
    signature = base64.urlsafe_b64encode(hmac.new(pem, signing_input, hashlib.sha256).digest()).rstrip(b"=")
    return (signing_input + b"." + signature).decode()


@pytest.fixture
def issuer(env, monkeypatch) -> Iterator[Issuer]:
    idp = Issuer()
    monkeypatch.setenv("CODEC_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("CODEC_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("CODEC_OIDC_JWKS_URL", idp.jwks_url)
    yield idp
    idp.server.shutdown()
    idp.server.server_close()


def test_a_valid_access_token_decodes_as_its_subject(issuer, env, start, sealed):
    url = start("0.0.0.0")  # OIDC alone is enough off loopback
    token = issuer.token()
    answer = decode(url, sealed, token)
    assert answer.status_code == 200 and base64.b64decode(answer.json()["payloads"][0]["data"]) == PLAIN
    [entry] = entries(env)
    assert (entry["who"], entry["auth"], entry["outcome"], entry["payloads"]) == ("operator-7f3a", "oidc", "ok", 2)
    assert_no_secrets(env, sealed, token, token.split(".")[2])


def test_tokens_that_do_not_verify_are_refused_and_say_why(issuer, env, start, sealed):
    url = start()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    cases = {
        "expired": (issuer.token(iat=now - 3600, exp=now - 600), "the access token has expired"),
        "wrong audience": (issuer.token(aud="another-app"), f"not for this audience ({AUDIENCE})"),
        "wrong issuer": (issuer.token(iss="https://evil.test"), f"not from the issuer {ISSUER}"),
        "unknown kid": (issuer.token(key=stranger, kid="key-2"), "a key the issuer does not publish"),
        "known kid, another key": (issuer.token(key=stranger), "does not verify"),
        "no subject": (issuer.token(sub=None), "no 'sub' claim"),
        "no expiry": (issuer.token(exp=None), "no 'exp' claim"),
        "HMAC with the public key": (hmac_with_public_key(issuer), "does not verify"),
        "not a JWT": ("a.b.c", "not a valid JWT"),
        "no token": (None, f"an access token from {ISSUER} for {AUDIENCE}"),
    }
    for case, (token, why) in cases.items():
        answer = decode(url, sealed, token)
        assert answer.status_code == 401, case
        assert why in answer.json()["error"], (case, answer.json())
        assert "Test Borrower" not in answer.text and sealed["payloads"][0]["data"] not in answer.text
    log = entries(env)
    assert len(log) == len(cases) and {e["outcome"] for e in log} == {"denied"} and {e["who"] for e in log} == {None}
    assert [e["reason"] for e in log][0] == "the access token has expired"
    assert_no_secrets(env, sealed, *(t.split(".")[-1] for t, _ in cases.values() if t and len(t) > 20))
    assert issuer.fetches <= 2, "unknown key ids must not make it refetch the keys on every request"


def test_with_both_the_shared_token_and_oidc_either_is_accepted(issuer, env, monkeypatch, start, sealed):
    monkeypatch.setenv("CODEC_TOKEN", TOKEN)
    url = start()
    assert decode(url, sealed, TOKEN).status_code == 200
    assert decode(url, sealed, issuer.token(sub="operator-2")).status_code == 200
    assert "<the shared CODEC_TOKEN or an access token from" in decode(url, sealed).json()["error"]
    assert [e["auth"] for e in entries(env)] == ["token", "oidc", None]


def test_when_the_issuers_keys_cannot_be_fetched_nothing_is_decoded(env, monkeypatch, start, sealed):
    monkeypatch.setenv("CODEC_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("CODEC_OIDC_AUDIENCE", AUDIENCE)
    monkeypatch.setenv("CODEC_OIDC_JWKS_URL", f"http://127.0.0.1:{free_port()}/certs")  # nothing listens
    url = start()
    idp = Issuer()
    try:
        answer = decode(url, sealed, idp.token())
    finally:
        idp.server.shutdown()
        idp.server.server_close()
    assert answer.status_code == 503 and "could not be fetched" in answer.json()["error"]
    assert [(e["outcome"], e["who"]) for e in entries(env)] == [("error", None)]


# --- loopback without authentication (make run) -------------------------------------------------------------------

def test_on_loopback_without_auth_it_decodes_as_local_for_loopback_names_only(env, start, sealed):
    url = start()
    assert decode(url, sealed).status_code == 200
    assert decode(url.replace("127.0.0.1", "localhost"), sealed).status_code == 200
    rebound = decode(url, sealed, Host="attacker.example")  # a DNS-rebinding page reaching 127.0.0.1
    assert rebound.status_code == 403 and "Test Borrower" not in rebound.text
    log = entries(env)
    assert [(e["who"], e["auth"], e["outcome"]) for e in log] == [
        ("local", "none", "ok"), ("local", "none", "ok"), (None, None, "denied")]
    assert log[0]["client"] == "127.0.0.1" and log[0]["origin"] == UI and log[0]["workflow_id"] is None
    assert codec_server.addressed_to_loopback("[::1]:8081") and codec_server.addressed_to_loopback("127.0.0.2")
    assert not codec_server.addressed_to_loopback("127.0.0.1.nip.io:8081")
    assert not codec_server.addressed_to_loopback("[bad")


def test_every_request_is_recorded_whatever_its_outcome(env, start, sealed, monkeypatch):
    url = start()
    other_key = {"payloads": [dict(sealed["payloads"][0], metadata={
        "encoding": base64.b64encode(b"binary/encrypted").decode(),
        "encryption-key-id": base64.b64encode(b"retired").decode()})]}
    assert decode(url, other_key).status_code == 422
    assert httpx.post(f"{url}/decode", content=b"not json", headers={"X-Namespace": "default"}).status_code == 400
    forged = 'ns", "who": "someone-else'  # a header cannot forge a field: it stays one JSON string
    assert decode(url, sealed, **{"X-Workflow-Id": "case-EX-1001", "X-Namespace": forged}).status_code == 200
    lines = env.read_text().splitlines()
    assert len(lines) == 3
    log = [json.loads(line) for line in lines]
    assert [(e["outcome"], e["status"], e["payloads"]) for e in log] == [("refused", 422, 1), ("refused", 400, None),
                                                                          ("ok", 200, 2)]
    assert "retired" in log[0]["reason"] and log[2]["workflow_id"] == "case-EX-1001"
    assert (log[2]["namespace"], log[2]["who"]) == (forged, "local")
    assert all(e["time"].endswith("Z") for e in log)
    assert_no_secrets(env, sealed)
    assert oct(env.stat().st_mode & 0o777) == "0o600"
