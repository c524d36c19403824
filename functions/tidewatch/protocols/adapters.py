"""The one place protocols are registered: slug -> adapter (see `tidewatch.protocols.adapter`)."""

from __future__ import annotations

from tidewatch.errors import NotFound
from tidewatch.protocols import aave, compound, eigenlayer
from tidewatch.protocols.adapter import ProtocolAdapter

ADAPTERS: dict[str, ProtocolAdapter] = {
    a.slug: a
    for a in (
        aave.ADAPTER,
        compound.ADAPTER,
        eigenlayer.ADAPTER,
    )
}


def adapter_for(slug: str) -> ProtocolAdapter:
    try:
        return ADAPTERS[slug]
    except KeyError:
        raise NotFound(f"no adapter for protocol {slug!r}") from None


def all_adapters() -> list[ProtocolAdapter]:
    return list(ADAPTERS.values())
