"""Deployment settings, from the environment. Defaults suit the embedded run command."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from adapters.config_files import CONFIG_DIR

DEFAULT_KEYS_FILE = Path(__file__).resolve().parent / ".data" / "payload-keys"  # made by `make run`


@dataclass(frozen=True)
class Settings:
    temporal_address: str = field(default_factory=lambda: os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"))
    temporal_namespace: str = field(default_factory=lambda: os.environ.get("TEMPORAL_NAMESPACE", "default"))
    task_queue: str = field(default_factory=lambda: os.environ.get("TASK_QUEUE", "overdue-cases"))
    provider: str = field(default_factory=lambda: os.environ.get("CHANNEL_PROVIDER", "sandbox"))
    gateway_url: str | None = field(default_factory=lambda: os.environ.get("GATEWAY_URL"))
    gateway_token: str | None = field(default_factory=lambda: os.environ.get("GATEWAY_TOKEN"))
    config_dir: Path = field(default_factory=lambda: Path(os.environ.get("CONFIG_DIR", CONFIG_DIR)))
    # Cases a worker keeps in memory between their steps (the rest replay from history when woken).
    worker_cache: int = field(default_factory=lambda: int(os.environ.get("WORKER_CACHE", "1000")))
    # Temporal Cloud (or any TLS server): an API key, or mTLS with a client certificate and key.
    api_key: str | None = field(default_factory=lambda: os.environ.get("TEMPORAL_API_KEY"))
    tls_cert: Path | None = field(default_factory=lambda: _path("TEMPORAL_TLS_CERT"))
    tls_key: Path | None = field(default_factory=lambda: _path("TEMPORAL_TLS_KEY"))
    tls: bool = field(default_factory=lambda: os.environ.get("TEMPORAL_TLS", "").lower() in ("1", "true", "yes"))

    def cloud_options(self) -> dict:
        """Connection options for Temporal Cloud, from configuration alone (none for a local server)."""
        from temporalio.service import TLSConfig

        if bool(self.tls_cert) != bool(self.tls_key):
            raise SystemExit("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (mTLS needs both)")
        if self.tls_cert and self.tls_key:
            return {"tls": TLSConfig(client_cert=self.tls_cert.read_bytes(),
                                     client_private_key=self.tls_key.read_bytes())}
        if self.api_key:
            return {"api_key": self.api_key, "tls": True}
        return {"tls": True} if self.tls else {}


def _path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


async def connect(settings: Settings | None = None, tracer=None):
    """A Temporal client with the project's data converter (the only way code here connects); with a
    tracer, traced end to end; with METRICS_ADDRESS set, the SDK's metrics served for Prometheus."""
    from temporalio.client import Client

    import telemetry
    from adapters.codec import codec_from_environment
    from adapters.converter import encrypted

    settings = settings or Settings()
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=encrypted(codec_from_environment(DEFAULT_KEYS_FILE)),
                                interceptors=telemetry.interceptors(tracer) if tracer else [],
                                runtime=telemetry.runtime(), **settings.cloud_options())
