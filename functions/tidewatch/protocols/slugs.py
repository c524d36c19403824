"""The protocols Tidewatch supports, by slug: the one list that markets, positions, intents and
routes refer to (an adapter's `protocol` and the `markets.protocol` column hold these values)."""

from __future__ import annotations

from typing import Literal, get_args

ProtocolSlug = Literal["aave-v3", "compound-v3", "eigenlayer"]

PROTOCOL_SLUGS: tuple[ProtocolSlug, ...] = get_args(ProtocolSlug)
