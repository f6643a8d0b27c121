"""Deployment settings, from the environment. Defaults suit the embedded run command."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from domain.policy import CONFIG_DIR

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


async def connect(settings: Settings | None = None):
    """A Temporal client with the project's data converter (the only way code here connects)."""
    from temporalio.client import Client

    from adapters.codec import codec_from_environment
    from adapters.converter import encrypted

    settings = settings or Settings()
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=encrypted(codec_from_environment(DEFAULT_KEYS_FILE)))
