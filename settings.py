"""Deployment settings: the only module that reads the environment. Defaults suit the embedded run
command (`make run`).

Each process builds the settings object it needs and passes the values on; nothing else in the code
reads an environment variable. Objects read the environment when they are built, so a test sets a
variable (monkeypatch) and builds a new one.

    Settings            Temporal connection and worker, ledger database, payload keys
    TelemetrySettings   traces, metrics, log level
    IntakeSettings      the HTTP intake service and the daily intake Schedule
    SelfServiceSettings the borrower's page, its links, e-mail (SMTP) and letters (print vendor)
    CodecServerSettings the codec server the Web UI decrypts through
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.config_files import CONFIG_DIR

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer
    from temporalio.client import Client

    from adapters.codec import EncryptionCodec

TASK_QUEUE = "overdue-cases"  # the task queue's one definition: workers poll it, cases start on it
DAILY_INTAKE_SCHEDULE_ID = "daily-intake"
DAILY_INTAKE_AT, DAILY_INTAKE_TIMEZONE = "06:00", "UTC"  # when the daily intake runs, unless configured
DEFAULT_KEYS_FILE = Path(__file__).resolve().parent / ".data" / "payload-keys"  # made by `make run`


def _env(name: str, default: str | None = None) -> str | None:
    """The variable's value; unset and empty both give the default."""
    return os.environ.get(name) or default


def _str(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {value!r}") from None


def _path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if not value:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class PayloadKeys:
    """Where the payload encryption keys come from: PAYLOAD_KEYS (`id:base64,...`, the first seals), else
    the file PAYLOAD_KEYS_FILE names, else the file `make run` made in `.data/`."""

    text: str | None = field(default_factory=lambda: _env("PAYLOAD_KEYS"))
    file: Path | None = field(default_factory=lambda: _path("PAYLOAD_KEYS_FILE"))

    def codec(self) -> EncryptionCodec:
        from adapters.codec import load_codec

        fallback = DEFAULT_KEYS_FILE if DEFAULT_KEYS_FILE.exists() else None
        return load_codec(self.text, self.file or fallback)


@dataclass(frozen=True)
class Settings:
    temporal_address: str = field(default_factory=lambda: _str("TEMPORAL_ADDRESS", "127.0.0.1:7233"))
    temporal_namespace: str = field(default_factory=lambda: _str("TEMPORAL_NAMESPACE", "default"))
    task_queue: str = field(default_factory=lambda: _str("TASK_QUEUE", TASK_QUEUE))
    provider: str = field(default_factory=lambda: _str("CHANNEL_PROVIDER", "sandbox"))
    gateway_url: str | None = field(default_factory=lambda: _env("GATEWAY_URL"))
    gateway_token: str | None = field(default_factory=lambda: _env("GATEWAY_TOKEN"))
    config_dir: Path = field(default_factory=lambda: _path("CONFIG_DIR") or CONFIG_DIR)
    # Cases a worker keeps in memory between their steps (the rest replay from history when woken).
    worker_cache: int = field(default_factory=lambda: _int("WORKER_CACHE", 1000))
    # Temporal Cloud (or any TLS server): an API key, or mTLS with a client certificate and key.
    api_key: str | None = field(default_factory=lambda: _env("TEMPORAL_API_KEY"))
    tls_cert: Path | None = field(default_factory=lambda: _path("TEMPORAL_TLS_CERT"))
    tls_key: Path | None = field(default_factory=lambda: _path("TEMPORAL_TLS_KEY"))
    tls: bool = field(default_factory=lambda: _flag("TEMPORAL_TLS"))
    # Starters (bulk, daily intake, HTTP) wait while more tasks than this wait on the task queue.
    start_max_backlog: int = field(default_factory=lambda: _int("START_MAX_BACKLOG", 100))
    # The ledger (PostgreSQL); `make run` sets it for the embedded server.
    database_url: str | None = field(default_factory=lambda: _env("DATABASE_URL"))
    # Trained propensity models (`train.py` writes there); unset or empty: the rules decide alone.
    model_dir: Path | None = field(default_factory=lambda: _path("MODEL_DIR"))
    payload_keys: PayloadKeys = field(default_factory=PayloadKeys)

    def cloud_options(self) -> dict[str, Any]:
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

    def require_database_url(self) -> str:
        if not self.database_url:
            raise RuntimeError("DATABASE_URL is not set (the run command sets it for embedded Postgres)")
        return self.database_url


@dataclass(frozen=True)
class TelemetrySettings:
    """OTEL_TRACES_EXPORTER = none | otlp | console (the OTLP endpoint comes from the exporter's own
    standard OTEL_EXPORTER_OTLP_* variables); unset, nothing is traced."""

    traces_exporter: str | None = field(default_factory=lambda: _env("OTEL_TRACES_EXPORTER"))
    service_name: str | None = field(default_factory=lambda: _env("OTEL_SERVICE_NAME"))
    metrics_address: str | None = field(default_factory=lambda: _env("METRICS_ADDRESS"))  # host:port for Prometheus
    log_level: str = field(default_factory=lambda: _str("LOG_LEVEL", "INFO"))


@dataclass(frozen=True)
class IntakeSettings:
    """The HTTP intake service (`python -m intake`) and the daily intake Schedule it keeps."""

    token: str | None = field(default_factory=lambda: _env("INTAKE_TOKEN"))
    hmac_secret: str | None = field(default_factory=lambda: _env("INTAKE_HMAC_SECRET"))
    signature_window: int = field(default_factory=lambda: _int("INTAKE_SIGNATURE_WINDOW", 300))  # seconds
    host: str = field(default_factory=lambda: _str("INTAKE_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: _int("INTAKE_PORT", 8090))
    schedule: bool = field(default_factory=lambda: _str("INTAKE_SCHEDULE", "on") != "off")
    schedule_at: str = field(default_factory=lambda: _str("INTAKE_AT", DAILY_INTAKE_AT))  # HH:MM, daily
    schedule_timezone: str = field(default_factory=lambda: _str("INTAKE_TIMEZONE", DAILY_INTAKE_TIMEZONE))

    def check(self) -> None:
        if not (self.token or self.hmac_secret):
            raise SystemExit("set INTAKE_TOKEN or INTAKE_HMAC_SECRET: the service never runs unauthenticated")
        for name, value in (("INTAKE_TOKEN", self.token), ("INTAKE_HMAC_SECRET", self.hmac_secret)):
            if value is not None and len(value) < 24:
                raise SystemExit(f"{name} is too short: use at least 24 random characters")


@dataclass(frozen=True)
class SelfServiceSettings:
    """SELF_SERVICE_SECRET (32+ random characters) signs the page's links, forms and reply routes; without it
    no link is issued and the page is not served. SELF_SERVICE_URL is the page's public address (links end
    there; HTTPS in production: its cookies are then `Secure` and `__Host-`). SMTP_HOST (and SMTP_PORT,
    SMTP_FROM, SMTP_USER, SMTP_PASSWORD, SMTP_STARTTLS) is the relay e-mails go through: unset, the channel
    provider records them. PRINT_VENDOR_URL (and PRINT_VENDOR_TOKEN): the print vendor's API; unset, the
    sandbox vendor keeps each letter's PDF in the ledger's database. SELF_SERVICE_CHECKOUT: where the page's
"Pay now" goes; `sandbox` (demos and tests: nothing is charged, yet the payment is applied) only when named,
never on an HTTPS page; unset, the page offers no payment (only a promise or a plan)."""

    secret: str | None = field(default_factory=lambda: _env("SELF_SERVICE_SECRET"))
    url: str = field(default_factory=lambda: _str("SELF_SERVICE_URL", "http://127.0.0.1:8090/s"))
    smtp_host: str | None = field(default_factory=lambda: _env("SMTP_HOST"))
    smtp_port: int = field(default_factory=lambda: _int("SMTP_PORT", 25))
    smtp_from: str = field(default_factory=lambda: _str("SMTP_FROM", "care@duecourse.invalid"))
    smtp_user: str | None = field(default_factory=lambda: _env("SMTP_USER"))
    smtp_password: str | None = field(default_factory=lambda: _env("SMTP_PASSWORD"))
    smtp_starttls: bool = field(default_factory=lambda: _flag("SMTP_STARTTLS"))
    print_vendor_url: str | None = field(default_factory=lambda: _env("PRINT_VENDOR_URL"))
    checkout: str | None = field(default_factory=lambda: _env("SELF_SERVICE_CHECKOUT"))
    print_vendor_token: str | None = field(default_factory=lambda: _env("PRINT_VENDOR_TOKEN"))

    def key(self, purpose: str) -> bytes | None:
        """A key of its own for each use of the secret (links, forms, reply routes)."""
        if not self.secret:
            return None
        if len(self.secret) < 32:
            raise SystemExit("SELF_SERVICE_SECRET is too short: use at least 32 random characters")
        return hmac.new(self.secret.encode(), purpose.encode(), hashlib.sha256).digest()

    @property
    def secure(self) -> bool:
        return self.url.startswith("https://")

    def sandbox_checkout(self) -> bool:
        """Whether the page's payments go to the sandbox checkout, which charges nothing."""
        if self.checkout not in (None, "sandbox"):
            raise SystemExit(f"SELF_SERVICE_CHECKOUT={self.checkout!r}: the only checkout built in is 'sandbox'")
        if self.checkout == "sandbox" and self.secure:
            raise SystemExit("SELF_SERVICE_CHECKOUT=sandbox charges nothing yet applies the payment: it is refused "
                             "on an HTTPS (production) page")
        return self.checkout == "sandbox"


@dataclass(frozen=True)
class CodecServerSettings:
    """Who may decrypt through the codec server, and where each request is recorded.

    CODEC_TOKEN (24+ random characters): a shared bearer token. CODEC_OIDC_ISSUER, CODEC_OIDC_AUDIENCE
    and CODEC_OIDC_JWKS_URL (all three): the Web UI's forwarded OIDC access tokens, verified against
    the issuer's published keys. With neither, `codec_server.py` listens on loopback only.
    CODEC_ACCESS_LOG: the access log (JSON lines), a file or `-` for stdout."""

    token: str | None = field(default_factory=lambda: _env("CODEC_TOKEN"))
    oidc_issuer: str | None = field(default_factory=lambda: _env("CODEC_OIDC_ISSUER"))
    oidc_audience: str | None = field(default_factory=lambda: _env("CODEC_OIDC_AUDIENCE"))
    oidc_jwks_url: str | None = field(default_factory=lambda: _env("CODEC_OIDC_JWKS_URL"))
    access_log: str = field(default_factory=lambda: _str("CODEC_ACCESS_LOG",
                                                         str(DEFAULT_KEYS_FILE.parent / "codec-access.log")))
    payload_keys: PayloadKeys = field(default_factory=PayloadKeys)


async def connect(settings: Settings | None = None, tracer: Tracer | None = None) -> Client:
    """A Temporal client with the project's data converter (the only way code here connects); with a
    tracer, traced end to end; with METRICS_ADDRESS set, the SDK's metrics served for Prometheus."""
    from temporalio.client import Client

    import telemetry
    from adapters.converter import encrypted

    settings = settings or Settings()
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=encrypted(settings.payload_keys.codec()),
                                interceptors=telemetry.interceptors(tracer) if tracer else [],
                                runtime=telemetry.runtime(), **settings.cloud_options())


def database_problem(error: Exception) -> str:
    """What an entry point says when the ledger at DATABASE_URL cannot be used: the driver's own reason,
    its first line (never the URL, which may carry a password)."""
    reason = getattr(error, "orig", None) or error
    return str(reason).splitlines()[0] if str(reason) else type(reason).__name__
