"""Block-by-timestamp resolution: the first block at or after a time, for many times at once.

`BlockIndex.first_at_or_after(timestamps)` runs one binary search per timestamp, all searches in
lock-step: each round gathers the header every unresolved search needs next and fetches them in
JSON-RPC batches (`eth_getBlockByNumber`, no transactions), so resolving 720 hourly timestamps
costs about as many round trips as resolving one. Probes alternate between interpolation (from
the bracket's two timestamps: a few probes suffice on chains with regular blocks) and bisection,
so an irregular stretch (Ethereum's genesis is dated 1970) still converges in logarithmic rounds.
Headers are cached by number for the life of the index (a past block's timestamp never changes),
so overlapping windows and resumed runs re-fetch nothing they already read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from tidewatch.chain.rpc import ChainClient, RpcError
from tidewatch.errors import InvalidInput

DEFAULT_BATCH = 100  # JSON-RPC calls per HTTP request: within common providers' batch limits


@dataclass
class BlockIndex:
    client: ChainClient
    batch_size: int = DEFAULT_BATCH
    headers: dict[int, int] = field(default_factory=dict)  # block number -> timestamp
    _latest: int | None = None

    def latest(self) -> tuple[int, int]:
        """The chain head (number, timestamp), read once per index."""
        if self._latest is None:
            head = self.client.request("eth_getBlockByNumber", ["latest", False])
            number = int(head["number"], 16)
            self.headers[number] = int(head["timestamp"], 16)
            self._latest = number
        return self._latest, self.headers[self._latest]

    def timestamp(self, number: int) -> int:
        self._fetch([number])
        return self.headers[number]

    def first_at_or_after(self, timestamps: Sequence[int]) -> dict[int, int]:
        """timestamp -> number of the first block whose timestamp is >= it.

        A timestamp after the chain head is refused (`InvalidInput`): that block does not exist yet.
        """
        head, head_ts = self.latest()
        future = [t for t in timestamps if t > head_ts]
        if future:
            raise InvalidInput(
                f"chain {self.client.chain_id}: {max(future)} is after the chain head "
                f"(block {head} at {head_ts}); a backfill reads only past blocks",
                errors=[{"field": "end", "message": "in the future"}],
            )
        self._fetch([0])
        # Per target: lo has timestamp < t (or is -1), hi has timestamp >= t.
        searches: dict[int, list[int]] = {}
        out: dict[int, int] = {}
        for t in set(timestamps):
            if t <= self.headers[0]:
                out[t] = 0
            else:
                searches[t] = [0, head]
        rounds = 0
        while searches:
            probes: dict[int, int] = {}
            for t, (lo, hi) in searches.items():
                if hi - lo <= 1:
                    continue
                probes[t] = self._guess(t, lo, hi) if rounds % 2 == 0 else (lo + hi) // 2
            self._fetch(list(probes.values()))
            for t, probe in probes.items():
                bounds = searches[t]
                if self.headers[probe] >= t:
                    bounds[1] = probe
                else:
                    bounds[0] = probe
            rounds += 1
            for t in [t for t, (lo, hi) in searches.items() if hi - lo <= 1]:
                out[t] = searches.pop(t)[1]
        return out

    def _guess(self, t: int, lo: int, hi: int) -> int:
        lo_ts, hi_ts = self.headers[lo], self.headers[hi]
        if hi_ts <= lo_ts:
            return (lo + hi) // 2
        guess = lo + int((t - lo_ts) * (hi - lo) / (hi_ts - lo_ts))
        return min(hi - 1, max(lo + 1, guess))

    def _fetch(self, numbers: Sequence[int]) -> None:
        missing = sorted({n for n in numbers if n not in self.headers})
        for i in range(0, len(missing), self.batch_size):
            part = missing[i : i + self.batch_size]
            results = self.client.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part])
            for n, header in zip(part, results, strict=True):
                if header is None:
                    raise RpcError(f"chain {self.client.chain_id}: block {n} not found", chain_id=self.client.chain_id)
                self.headers[n] = int(header["timestamp"], 16)
