"""Channel providers: SMS gateway, voice robot, agent call tasks, visit dispatch, behind one interface.

`sandbox` (the default) records what would be sent and simulates outcomes deterministically;
`http` posts to a configured gateway. Activities take a provider, so tests swap the provider and
never a code path.
"""

from adapters.providers.base import CallScript, ChannelProvider, OutboundRequest, ProviderError, ProviderResponse

__all__ = ["CallScript", "ChannelProvider", "OutboundRequest", "ProviderError", "ProviderResponse"]
