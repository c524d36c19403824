"""Keep the devnet markets moving like mainnet's: each `step()` sends a few transactions.

- prices: a bounded, mean-reverting random walk per asset (±0.4 % per step around the seed price,
  never beyond ±12 %), written to the Chainlink-style feeds that Aave's oracle and Comet read;
- utilization: the whale borrows or repays a slice of an Aave reserve or a Comet market, keeping
  utilization between 40 % and 95 % and Aave debt under the reserve's borrow cap;
- EigenLayer: LST rewards accrue (underlying tokens sent to a strategy raise its share price).
Health factors follow prices, APYs follow utilization, exactly as on mainnet.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from web3 import Web3

from tidewatch_local.devnet import scenario
from tidewatch_local.devnet.aave_v3 import aave_artifact
from tidewatch_local.devnet.deploy import Deployment, _Chain, connect


class Simulator:
    def __init__(self, rpc: str | Web3, deployment: Deployment, *, seed: int | None = None) -> None:
        self.w3 = connect(rpc)
        self.chain = _Chain(self.w3)
        self.d = deployment
        self.rng = random.Random(seed)
        self.steps = 0
        self._prices = {s: Decimal(t.price) for s, t in scenario.TOKENS.items()}

    def step(self) -> list[str]:
        """One round of nudges; returns a short description of each transaction sent."""
        actions = [self._nudge_price(), self._nudge_utilization()]
        if self.steps % 5 == 0:
            actions.append(self._accrue_restaking_rewards())
        self.steps += 1
        return actions

    def _nudge_price(self) -> str:
        sym = self.rng.choice([s for s, t in scenario.TOKENS.items() if not t.stable])
        anchor = Decimal(scenario.TOKENS[sym].price)
        current = self._prices[sym]
        drift = (anchor - current) / anchor / 10  # pull back toward the seed price
        move = Decimal(str(self.rng.uniform(-0.004, 0.004))) + drift
        new = min(anchor * Decimal("1.12"), max(anchor * Decimal("0.88"), current * (1 + move)))
        self._prices[sym] = new
        feed = self.chain.at("DevPriceFeed", self.d.feeds[sym])
        self.chain.send(feed.functions.setAnswer(int(new * 10**8)), self.d.operators["deployer"])
        return f"price {sym} {current:.2f} -> {new:.2f}"

    def _nudge_utilization(self) -> str:
        whale = self.d.operators["whale"]
        if self.rng.random() < 0.6:
            r = self.rng.choice(scenario.AAVE_RESERVES)
            pool = self.w3.eth.contract(
                address=Web3.to_checksum_address(self.d.contracts["aave_pool"]), abi=aave_artifact("Pool")["abi"]
            )
            data_provider = self.w3.eth.contract(
                address=Web3.to_checksum_address(self.d.contracts["aave_data_provider"]),
                abi=aave_artifact("AaveProtocolDataProvider")["abi"],
            )
            token = self.d.tokens[r.symbol]
            supplied, borrowed = _aave_totals(data_provider, token)
            return self._move(
                f"aave {r.symbol}",
                supplied,
                borrowed,
                borrow=lambda amt: pool.functions.borrow(token, amt, 2, 0, whale),
                repay=lambda amt: pool.functions.repay(token, amt, 2, whale),
                cap=r.borrow_cap * 10 ** scenario.TOKENS[r.symbol].decimals,
            )
        m = self.rng.choice(scenario.COMET_MARKETS)
        comet = self.chain.at("Comet", self.d.contracts[f"comet_{m.name}"])
        token = self.d.tokens[m.base]
        supplied, borrowed = comet.functions.totalSupply().call(), comet.functions.totalBorrow().call()
        return self._move(
            f"comet {m.name}",
            supplied,
            borrowed,
            borrow=lambda amt: comet.functions.withdraw(token, amt),
            repay=lambda amt: comet.functions.supply(token, amt),
        )

    def _move(self, name: str, supplied: int, borrowed: int, *, borrow: Any, repay: Any, cap: int = 0) -> str:
        whale = self.d.operators["whale"]
        go_up, slice_ = utilization_move(self.rng, supplied, borrowed, cap)
        if slice_ == 0:
            return f"{name}: idle"
        self.chain.send(borrow(slice_) if go_up else repay(slice_), whale)
        return f"{name}: {'borrow' if go_up else 'repay'} {slice_}"

    def _accrue_restaking_rewards(self) -> str:
        sym = self.rng.choice(scenario.EIGEN_STRATEGIES)
        strategy = self.d.contracts[f"eigen_strategy_{sym}"]
        if scenario.TOKENS[sym].kind == "rebasing":
            # stETH's rewards arrive as a rebase of every balance, the strategy's included
            rebasing = self.chain.at("DevRebasingToken", self.d.tokens[sym])
            self.chain.send(rebasing.functions.rebase(1), self.d.operators["deployer"])
            return f"eigenlayer {sym}: rebase +0.01 %"
        token = self.chain.at("DevToken", self.d.tokens[sym])
        balance = token.functions.balanceOf(strategy).call()
        reward = balance // 100_000  # ~3.5 %/year if stepped every ~15 minutes
        self.chain.send(token.functions.mint(strategy, reward), self.d.operators["deployer"])
        return f"eigenlayer {sym}: +{reward} rewards"


def utilization_move(rng: random.Random, supplied: int, borrowed: int, borrow_cap: int = 0) -> tuple[bool, int]:
    """(borrow more?, amount): a slice of 0.2-2 % of the supply, borrowed or repaid at random,
    keeping utilization in 40-95 % and the debt under 98 % of `borrow_cap` (base units; 0: none),
    since Aave refuses a borrow past its reserve's cap (error 50, BORROW_CAP_EXCEEDED)."""
    utilization = borrowed / supplied if supplied else 0.0
    amount = int(supplied * rng.uniform(0.002, 0.02))
    up = rng.random() < 0.5
    if utilization > 0.95 or borrowed < amount:
        up = borrowed < amount
    if utilization < 0.40:
        up = True
    if up and borrow_cap and borrowed + amount > borrow_cap * 0.98:
        up = False
    return up, amount


def _aave_totals(data_provider: Any, token: str) -> tuple[int, int]:
    reserve = data_provider.functions.getReserveData(token).call()
    return int(reserve[2]), int(reserve[3]) + int(reserve[4])  # aToken supply, stable + variable debt
