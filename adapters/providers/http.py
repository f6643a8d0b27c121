"""The HTTP provider: posts each action to a gateway, `POST {base_url}/v1/{channel}`.

Body: `{"idempotency_key", "channel", "to", "body", "locale"}` (the borrower's language, for a voice
robot's speech), with the key also in the `Idempotency-Key`
header (the gateway deduplicates) and a bearer token when configured. Answer: `{"message_id",
"status"}` where status is one of `domain.enums.Outcome`. 4xx (but 408/429) is final; 5xx,
timeouts and connection errors raise for the activity to retry.
"""

from __future__ import annotations

import httpx

from adapters.providers.base import OutboundRequest, ProviderError, ProviderResponse
from domain.enums import Outcome


class HttpProvider:
    name = "http"

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 10.0,
                 client: httpx.AsyncClient | None = None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = client or httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    async def deliver(self, request: OutboundRequest) -> ProviderResponse:
        response = await self._client.post(
            f"/v1/{request.channel.value}",
            json=request.model_dump(mode="json", exclude_none=True),  # a robot call adds its `script`
            headers={"Idempotency-Key": request.idempotency_key},
        )
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            # the status only: a gateway's body may echo the number, and this message reaches logs
            raise ProviderError(f"gateway refused {request.channel.value}: HTTP {response.status_code}")
        response.raise_for_status()
        data = response.json()
        try:
            outcome = Outcome(data["status"])
            return ProviderResponse(provider=self.name, message_id=str(data["message_id"]), outcome=outcome,
                                    distress=bool(data.get("distress", False)))
        except (KeyError, ValueError) as e:
            raise ProviderError(f"gateway answered without a known message_id and status (keys: {sorted(data)})") from e

    async def aclose(self) -> None:
        await self._client.aclose()
