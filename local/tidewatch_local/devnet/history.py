"""A month of life on a fresh devnet: hourly blocks from a past genesis up to the present.

`simulate_history(rpc, deployment, start, hours)` walks hour by hour with anvil's automine off.
Each hour moves the markets as `Simulator` does (a bounded mean-reverting price walk, the whale
borrowing or repaying a slice of a reserve or Comet to keep utilization in 40-95 %, restaking
rewards every few hours): its transactions are queued with explicit nonces and gas, then mined
together in one block exactly on the hour (`evm_mine` with the hour's timestamp), so every
hour of the devnet has a block at its start, as mainnet has hundreds. Raw JSON-RPC batches
(about three HTTP requests an hour over one kept-alive connection) keep a simulated month within seconds. One stress episode
runs at `stress_hour`: WETH drops 8 % in one hour, the seeded near-liquidation borrower
(bob-near-liquidation, health factor ~1.04) goes under 1 and a liquidator repays half his USDC
debt through Aave's real `liquidationCall`; prices then revert through the simulator's walk.

The chain's genesis must lie before `start` (anvil `--timestamp`), since block timestamps only
move forward. Tidewatch then backfills the simulated month through the same code path as mainnet.
"""

from __future__ import annotations

import http.client
import random
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from tidewatch.chain import abi
from tidewatch.chain.rpc import ChainClient, TransportError
from tidewatch_local.devnet import scenario
from tidewatch_local.devnet.deploy import Deployment
from tidewatch_local.devnet.simulator import utilization_move

HOUR = 3600
_GAS = hex(3_000_000)
_SET_ANSWER = abi.Function("setAnswer(int256)")
_BORROW = abi.Function("borrow(address,uint256,uint256,uint16,address)")
_REPAY = abi.Function("repay(address,uint256,uint256,address)")
_COMET_WITHDRAW = abi.Function("withdraw(address,uint256)")
_COMET_SUPPLY = abi.Function("supply(address,uint256)")
_MINT = abi.Function("mint(address,uint256)")
_BALANCE_OF = abi.Function("balanceOf(address)", (abi.U,))
STRESS_DROP = Decimal("0.92")  # WETH -8 % in one hour


@dataclass
class SimulatedHistory:
    start: int  # timestamp of the first hourly block
    hours: int
    transactions: int = 0
    liquidation: dict[str, object] = field(default_factory=dict)
    hour_blocks: list[int] = field(default_factory=list)  # block number mined at each hour mark


def mine_at(client: ChainClient, timestamp: int) -> None:
    """Mine one block (with whatever is queued) at exactly `timestamp`: one request, anvil's
    `evm_mine` with a timestamp (later blocks carry later times)."""
    client.request("evm_mine", [timestamp])


class KeepAliveTransport:
    """`tidewatch.chain.rpc.Transport` over one persistent HTTP/1.1 connection to a local node:
    a month of simulation is a few thousand small requests, each otherwise a new TCP connection."""

    def __init__(self) -> None:
        self._connections: dict[str, http.client.HTTPConnection] = {}

    def __call__(self, url: str, body: bytes, timeout: float) -> bytes:
        for attempt in range(2):  # a connection the node closed meanwhile is opened again once
            connection = self._connection(url, timeout)
            try:
                connection.request("POST", "/", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException) as exc:
                connection.close()
                self._connections.pop(url, None)
                if attempt:
                    raise TransportError(f"{type(exc).__name__}: {exc}") from exc
                continue
            if response.status != 200:
                raise TransportError(f"HTTP {response.status}", status=response.status)
            return answer
        raise AssertionError("unreachable")

    def _connection(self, url: str, timeout: float) -> http.client.HTTPConnection:
        if url not in self._connections:
            parts = urllib.parse.urlsplit(url)
            self._connections[url] = http.client.HTTPConnection(
                parts.hostname or "127.0.0.1", parts.port, timeout=timeout
            )
        return self._connections[url]

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


def simulation_client(chain_id: int, url: str) -> ChainClient:
    """The client the simulation drives a devnet node with (one kept-alive connection)."""
    return ChainClient(chain_id, [url], timeout=60, transport=KeepAliveTransport())


class _Walk:
    """The hourly moves, as raw transactions from the node's unlocked operator accounts."""

    def __init__(self, client: ChainClient, d: Deployment, seed: int) -> None:
        self.client = client
        self.d = d
        self.rng = random.Random(seed)
        self.prices = {sym: Decimal(t.price) for sym, t in scenario.TOKENS.items()}
        self.nonces: dict[str, int] = {}
        self.steps = 0

    def _nonce(self, sender: str) -> int:
        if sender not in self.nonces:
            self.nonces[sender] = int(self.client.request("eth_getTransactionCount", [sender, "pending"]), 16)
        n = self.nonces[sender]
        self.nonces[sender] = n + 1
        return n

    def tx(self, sender: str, to: str, data: bytes) -> tuple[str, list[object]]:
        return "eth_sendTransaction", [
            {"from": sender, "to": to, "data": "0x" + data.hex(), "gas": _GAS, "nonce": hex(self._nonce(sender))}
        ]

    def call(self, to: str, fn: abi.Function, *args: object) -> tuple[str, list[object]]:
        return "eth_call", [{"to": to, "data": "0x" + fn.encode(*args).hex()}, "latest"]

    def send(self, txs: Sequence[tuple[str, list[object]]]) -> None:
        if txs:
            self.client.batch(list(txs))

    def set_price(self, sym: str, price: Decimal) -> tuple[str, list[object]]:
        self.prices[sym] = price
        return self.tx(self.d.operators["deployer"], self.d.feeds[sym], _SET_ANSWER.encode(int(price * 10**8)))

    def hour(self) -> int:
        """Queue one hour's transactions; returns how many."""
        txs = [self._price_move()]
        txs += self._utilization_move()
        if self.steps % 5 == 0:
            txs += self._rewards()
        self.steps += 1
        self.send(txs)
        return len(txs)

    def _price_move(self) -> tuple[str, list[object]]:
        sym = self.rng.choice([s for s in scenario.TOKENS if s not in ("USDC", "DAI")])
        anchor = Decimal(scenario.TOKENS[sym].price)
        current = self.prices[sym]
        drift = (anchor - current) / anchor / 10
        move = Decimal(str(self.rng.uniform(-0.004, 0.004))) + drift
        return self.set_price(sym, min(anchor * Decimal("1.12"), max(anchor * Decimal("0.88"), current * (1 + move))))

    def _utilization_move(self) -> list[tuple[str, list[object]]]:
        whale = self.d.operators["whale"]
        if self.rng.random() < 0.6:
            r = self.rng.choice(scenario.AAVE_RESERVES)
            token = self.d.tokens[r.symbol]
            (raw,) = self.client.batch(
                [self.call(self.d.contracts["aave_data_provider"], abi.AAVE_DP_GET_RESERVE_DATA, token)]
            )
            reserve = abi.AAVE_DP_GET_RESERVE_DATA.decode(bytes.fromhex(raw[2:]))
            supplied, borrowed = int(reserve[2]), int(reserve[3]) + int(reserve[4])
            pool = self.d.contracts["aave_pool"]
            cap = r.borrow_cap * 10 ** scenario.TOKENS[r.symbol].decimals
            up, amount = utilization_move(self.rng, supplied, borrowed, cap)
            if not amount:
                return []
            data = _BORROW.encode(token, amount, 2, 0, whale) if up else _REPAY.encode(token, amount, 2, whale)
            return [self.tx(whale, pool, data)]
        m = self.rng.choice(scenario.COMET_MARKETS)
        comet = self.d.contracts[f"comet_{m.name}"]
        token = self.d.tokens[m.base]
        raws = self.client.batch([self.call(comet, abi.COMET_TOTAL_SUPPLY), self.call(comet, abi.COMET_TOTAL_BORROW)])
        supplied, borrowed = (int(r, 16) for r in raws)
        up, amount = utilization_move(self.rng, supplied, borrowed)
        if not amount:
            return []
        data = _COMET_WITHDRAW.encode(token, amount) if up else _COMET_SUPPLY.encode(token, amount)
        return [self.tx(whale, comet, data)]

    def _rewards(self) -> list[tuple[str, list[object]]]:
        sym = self.rng.choice(scenario.EIGEN_STRATEGIES)
        strategy = self.d.contracts[f"eigen_strategy_{sym}"]
        token = self.d.tokens[sym]
        (raw,) = self.client.batch([self.call(token, _BALANCE_OF, strategy)])
        reward = int(raw, 16) // 100_000  # ~3.5 %/year at hourly steps
        return [self.tx(self.d.operators["deployer"], token, _MINT.encode(strategy, reward))] if reward else []


def simulate_history(
    rpc: str | ChainClient,
    deployment: Deployment,
    *,
    start: int,
    hours: int,
    seed: int = 7,
    stress_hour: int | None = None,
    on_hour: Callable[[int, int], None] | None = None,
) -> SimulatedHistory:
    """Mine `hours` hourly blocks from `start` (a timestamp on the hour after the chain head).

    `on_hour(timestamp, block)` runs after each hour's block (the tests ingest there).
    """
    client = rpc if isinstance(rpc, ChainClient) else simulation_client(deployment.chain_id or 1, rpc)
    latest = client.request("eth_getBlockByNumber", ["latest", False])
    head, number = int(latest["timestamp"], 16), int(latest["number"], 16)
    if head >= start:
        raise ValueError(f"the devnet head ({head}) is not before the simulation start {start}")
    walk = _Walk(client, deployment, seed)
    out = SimulatedHistory(start=start, hours=hours)
    stress = stress_hour if stress_hour is not None else (hours * 2) // 3
    client.request("evm_setAutomine", [False])
    try:
        for hour in range(hours):
            t = start + hour * HOUR
            if hour > 0:  # the transactions of the hour before, mined in this hour's block
                out.transactions += walk.hour()
                if hour == stress:
                    out.liquidation = _stress_episode(walk, t - HOUR // 2)
                    out.transactions += 2
                    number += 1  # the crash's own block
            # Nothing else mines while automine is off: the block numbers are counted, not asked.
            mine_at(client, t)
            number += 1
            out.hour_blocks.append(number)
            if hour == stress and out.liquidation.get("transaction"):
                receipt = client.request("eth_getTransactionReceipt", [out.liquidation["transaction"]])
                out.liquidation["liquidated"] = receipt is not None and receipt["status"] == "0x1"
                out.liquidation["block"] = number
            if on_hour is not None:
                on_hour(t, number)
        if hours and client.block_number() != number:
            raise RuntimeError(
                f"the devnet mined blocks besides the simulation's (head {client.block_number()}, {number} counted)"
            )
    finally:
        client.request("evm_setAutomine", [True])
    return out


def _stress_episode(walk: _Walk, crash_at: int) -> dict[str, object]:
    """WETH falls (8 %, or more if the walk had lifted bob's health factor) and bob's Aave
    position is liquidated: half his USDC debt repaid through the real Pool's liquidationCall."""
    d, client = walk.d, walk.client
    pool = d.contracts["aave_pool"]
    bob = d.users["bob-near-liquidation"]["address"]

    def health() -> Decimal:
        (raw,) = client.batch([walk.call(pool, abi.AAVE_GET_USER_ACCOUNT_DATA, bob)])
        return Decimal(abi.AAVE_GET_USER_ACCOUNT_DATA.decode(bytes.fromhex(raw[2:]))[5]) / 10**18

    before = health()
    # His collateral is WETH: the health factor moves in proportion to its price.
    drop = min(STRESS_DROP, Decimal("0.97") / before) if before > 0 else STRESS_DROP
    weth_price = walk.prices["WETH"] * drop
    walk.send([walk.set_price("WETH", weth_price)])
    mine_at(client, crash_at)  # the crash lands mid-hour; the liquidation follows in the hour's block
    after = health()
    if after >= 1:
        return {"liquidated": False, "health_factor": str(after), "weth_price": str(weth_price)}
    usdc, weth = d.tokens["USDC"], d.tokens["WETH"]
    (raw,) = client.batch([walk.call(d.contracts["aave_data_provider"], abi.AAVE_DP_GET_USER_RESERVE_DATA, usdc, bob)])
    debt = int(abi.AAVE_DP_GET_USER_RESERVE_DATA.decode(bytes.fromhex(raw[2:]))[2])
    liquidate = abi.AAVE_LIQUIDATION_CALL.encode(weth, usdc, bob, debt // 2, False)
    (tx_hash,) = client.batch([walk.tx(d.operators["provider"], pool, liquidate)])
    return {
        "liquidated": True,
        "transaction": tx_hash,
        "borrower": bob,
        "health_factor_before": str(after),
        "debt_repaid": debt // 2,
        "weth_price": str(weth_price),
    }
