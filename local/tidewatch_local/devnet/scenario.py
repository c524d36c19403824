"""The seeded devnet world: assets, prices, protocol parameters and positions.

Parameters are close to the live Ethereum markets' (Aave v3 risk params and rate strategies,
Compound III kinked rates, EigenLayer LST strategies) so numbers look like mainnet's. Tests
recompute rates and health factors from these constants by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

RAY = 10**27
WAD = 10**18
SECONDS_PER_YEAR = 31_536_000


def ray(fraction: str) -> int:
    return int(Decimal(fraction) * RAY)


def per_second(yearly_fraction: str) -> int:
    """Comet's configurator stores yearly rates divided by seconds per year (floor), scaled 1e18."""
    return int(Decimal(yearly_fraction) * WAD) // SECONDS_PER_YEAR


def units(amount: str | int, decimals: int) -> int:
    return int(Decimal(str(amount)) * 10**decimals)


@dataclass(frozen=True)
class Token:
    symbol: str
    decimals: int
    price: str  # USD
    # "tether": DevTetherToken (no bool returns, approve-to-0-first rule);
    # "rebasing": DevRebasingToken (stETH's share-based balances that rebase)
    kind: str = "erc20"
    stable: bool = False  # the simulator keeps stablecoin prices still

    @property
    def price_e8(self) -> int:
        return units(self.price, 8)


TOKENS = {
    t.symbol: t
    for t in [
        Token("USDC", 6, "1.00", stable=True),
        Token("DAI", 18, "1.00", stable=True),
        Token("WETH", 18, "3000"),
        Token("WBTC", 8, "60000"),
        Token("wstETH", 18, "3550"),
        Token("rETH", 18, "3350"),
        Token("cbETH", 18, "3250"),
        Token("stETH", 18, "3000", kind="rebasing"),
        # Compound III collaterals and bases beyond the Aave reserves (mainnet-like prices).
        Token("USDT", 6, "1.00", kind="tether", stable=True),
        Token("cbBTC", 8, "60000"),
        Token("tBTC", 18, "60000"),
        Token("USDe", 18, "1.00", stable=True),
        Token("weETH", 18, "3150"),
        Token("ezETH", 18, "3100"),
        Token("LINK", 18, "15"),
        Token("UNI", 18, "8"),
        Token("COMP", 18, "50"),
        Token("EIGEN", 18, "3"),
    ]
}


@dataclass(frozen=True)
class AaveReserve:
    symbol: str
    ltv: int  # bps
    liquidation_threshold: int
    liquidation_bonus: int  # 10_000 + bonus, as Aave stores it
    reserve_factor: int
    base_rate: int  # ray
    slope1: int
    slope2: int
    optimal: int
    supply_cap: int = 0  # whole tokens (Aave stores caps unscaled); 0 = no cap
    borrow_cap: int = 0
    emode_category: int = 0


# Risk parameters and DefaultReserveInterestRateStrategy parameters of Aave v3 Ethereum Core's
# reserves (governance-set values as published by the Aave address book / risk stewards);
# caps scaled to the devnet's seeded liquidity.
AAVE_RESERVES = [
    AaveReserve(
        "USDC", 7500, 7800, 10450, 1000, 0, ray("0.06"), ray("0.60"), ray("0.90"), 2_000_000_000, 1_800_000_000
    ),
    AaveReserve("DAI", 6300, 7700, 10500, 2500, 0, ray("0.0625"), ray("0.75"), ray("0.90"), 500_000_000, 400_000_000),
    AaveReserve("WETH", 8050, 8300, 10500, 1500, 0, ray("0.027"), ray("0.80"), ray("0.90"), 3_000_000, 2_500_000, 1),
    AaveReserve("WBTC", 7300, 7800, 10500, 2000, 0, ray("0.04"), ray("3.00"), ray("0.45"), 60_000, 30_000),
    AaveReserve("wstETH", 7850, 8100, 10600, 500, 0, ray("0.045"), ray("0.80"), ray("0.45"), 1_500_000, 60_000, 1),
]


@dataclass(frozen=True)
class AaveEMode:
    id: int
    ltv: int  # bps
    liquidation_threshold: int
    liquidation_bonus: int  # 10_000 + bonus
    label: str


# Aave v3 Ethereum Core's "ETH correlated" eMode category (id 1): LTV 93 %, LT 95 %, bonus 1 %.
AAVE_EMODES = [AaveEMode(1, 9300, 9500, 10100, "ETH correlated")]


@dataclass(frozen=True)
class CometCollateral:
    symbol: str
    borrow_cf: int  # 1e18 scale
    liquidate_cf: int
    liquidation_factor: int
    supply_cap: int  # token units (not scaled)


@dataclass(frozen=True)
class CometMarket:
    """A devnet Comet. `numeraire` "ETH": the base feed is a constant 1e8 and each collateral
    feed is X/ETH (X/USD ÷ ETH/USD), as in mainnet cWETHv3; the registry's USD reference is the
    WETH/USD feed (standing in for Chainlink ETH/USD). `hinted` collaterals are the only ones
    the registry names (for intents): reads discover every listed one on chain."""

    name: str
    base: str
    rates: tuple[int, int, int, int, int, int, int, int]  # kink, low, high, base (supply, then borrow)
    collaterals: tuple[CometCollateral, ...]
    numeraire: str = "USD"
    base_borrow_min: str = "100"  # base token units
    target_reserves: str = "5000000"
    store_front_price_factor: int = 5 * 10**17
    hinted: tuple[str, ...] = ()


def _f(fraction: str) -> int:
    return int(Decimal(fraction) * WAD)


_USD_RATES = (
    _f("0.90"),
    per_second("0.059"),
    per_second("2.9"),
    0,
    _f("0.90"),
    per_second("0.061"),
    per_second("3.4"),
    per_second("0.015"),
)

COMET_MARKETS = [
    CometMarket(
        "cUSDCv3",
        "USDC",
        _USD_RATES,
        (
            CometCollateral("WETH", _f("0.83"), _f("0.90"), _f("0.95"), 500_000),
            CometCollateral("WBTC", _f("0.80"), _f("0.85"), _f("0.95"), 20_000),
            CometCollateral("wstETH", _f("0.82"), _f("0.87"), _f("0.92"), 100_000),
            CometCollateral("cbBTC", _f("0.80"), _f("0.85"), _f("0.95"), 10_000),
            CometCollateral("tBTC", _f("0.76"), _f("0.81"), _f("0.90"), 1_000),
            CometCollateral("USDe", _f("0.70"), _f("0.75"), _f("0.90"), 50_000_000),
            CometCollateral("LINK", _f("0.79"), _f("0.87"), _f("0.93"), 2_000_000),
            CometCollateral("UNI", _f("0.75"), _f("0.83"), _f("0.93"), 2_000_000),
            CometCollateral("COMP", _f("0.65"), _f("0.73"), _f("0.93"), 200_000),
            CometCollateral("weETH", _f("0.80"), _f("0.85"), _f("0.90"), 50_000),
        ),
        hinted=("WETH", "WBTC"),
    ),
    CometMarket(
        "cWETHv3",
        "WETH",
        (
            _f("0.85"),
            per_second("0.0205"),
            per_second("0.70"),
            0,
            _f("0.85"),
            per_second("0.0235"),
            per_second("1.00"),
            per_second("0.01"),
        ),
        (
            CometCollateral("wstETH", _f("0.90"), _f("0.93"), _f("0.975"), 200_000),
            CometCollateral("rETH", _f("0.90"), _f("0.93"), _f("0.975"), 100_000),
            CometCollateral("cbETH", _f("0.90"), _f("0.93"), _f("0.975"), 100_000),
            CometCollateral("weETH", _f("0.90"), _f("0.93"), _f("0.96"), 50_000),
            CometCollateral("ezETH", _f("0.88"), _f("0.91"), _f("0.94"), 50_000),
            CometCollateral("EIGEN", _f("0.50"), _f("0.60"), _f("0.80"), 5_000_000),
        ),
        numeraire="ETH",
        base_borrow_min="0.1",
        target_reserves="5000",
        hinted=("wstETH", "rETH", "cbETH"),
    ),
    CometMarket(
        "cUSDTv3",
        "USDT",
        _USD_RATES,
        (
            CometCollateral("WETH", _f("0.83"), _f("0.90"), _f("0.95"), 500_000),
            CometCollateral("WBTC", _f("0.80"), _f("0.85"), _f("0.95"), 20_000),
            CometCollateral("wstETH", _f("0.82"), _f("0.87"), _f("0.92"), 100_000),
        ),
        hinted=("WETH",),
    ),
]

EIGEN_STRATEGIES = ["stETH", "rETH", "cbETH", "EIGEN"]
EIGEN_MIN_WITHDRAWAL_DELAY_BLOCKS = 10  # mainnet: 100,800 blocks (14 days)

# Liquidity (operator accounts): what the provider supplies and the whale borrows, giving the
# seeded utilizations (Aave USDC 80 %, WETH 60 %, ...).
AAVE_LIQUIDITY = {"USDC": 50_000_000, "DAI": 20_000_000, "WETH": 100_000, "WBTC": 5_000, "wstETH": 200_000}
WHALE_AAVE_COLLATERAL = {"WBTC": 20_000, "wstETH": 100_000}  # supplied by the whale as collateral
AAVE_WHALE_BORROWS = {"USDC": 40_000_000, "DAI": 14_000_000, "WETH": 60_000, "WBTC": 1_000, "wstETH": 20_000}
COMET_LIQUIDITY = {"cUSDCv3": 30_000_000, "cWETHv3": 50_000, "cUSDTv3": 10_000_000}
COMET_WHALE_COLLATERAL = {"cUSDCv3": {"WBTC": 1_500}, "cWETHv3": {"wstETH": 60_000}, "cUSDTv3": {"WBTC": 500}}
COMET_WHALE_BORROWS = {"cUSDCv3": 24_000_000, "cWETHv3": 40_000, "cUSDTv3": 8_000_000}
EIGEN_LIQUIDITY = {"stETH": 1_000_000, "rETH": 150_000, "cbETH": 80_000, "EIGEN": 10_000_000}


@dataclass(frozen=True)
class SeedUser:
    label: str
    wallet: dict[str, int]  # token units minted to the user beyond the positions
    aave_supply: dict[str, int]
    aave_borrow: dict[str, int]
    comet_supply: dict[str, dict[str, int]]  # market -> asset -> units (base asset = base supply)
    comet_borrow: dict[str, int]  # market -> base units borrowed
    eigen_deposits: dict[str, int]
    aave_emode: int = 0  # the eMode category the user enters before borrowing
    eigen_operator: bool = False  # delegated to the devnet operator before depositing
    beacon_eth: int = 0  # beacon-chain ETH restaked through an EigenPod (recorded by the owner)


USERS = [
    SeedUser(
        "alice-healthy",
        wallet={"USDC": 25_000, "WETH": 5, "stETH": 10, "DAI": 5_000},
        aave_supply={"WETH": 10},
        aave_borrow={"USDC": 10_000},
        comet_supply={"cUSDCv3": {"USDC": 5_000}},
        comet_borrow={},
        eigen_deposits={"stETH": 5},
    ),
    # Health factor 1.0375 on Aave: a 3.6 % WETH drop makes it liquidatable.
    SeedUser(
        "bob-near-liquidation",
        wallet={"USDC": 1_000, "WETH": 1},
        aave_supply={"WETH": 5},
        aave_borrow={"USDC": 12_000},
        comet_supply={"cUSDCv3": {"WETH": 2}},
        comet_borrow={"cUSDCv3": 4_800},
        eigen_deposits={},
    ),
    SeedUser(
        "carol-staker",
        wallet={"stETH": 10, "rETH": 5, "WETH": 10, "cbETH": 5},
        aave_supply={},
        aave_borrow={},
        comet_supply={"cWETHv3": {"WETH": 20}},
        comet_borrow={},
        eigen_deposits={"stETH": 32, "rETH": 10},
    ),
    # In Aave's ETH-correlated eMode: wstETH collateral, WETH debt, HF on the eMode LT (95 %).
    SeedUser(
        "dave-emode",
        wallet={"WETH": 1},
        aave_supply={"wstETH": 10},
        aave_borrow={"WETH": 10},
        comet_supply={},
        comet_borrow={},
        eigen_deposits={},
        aave_emode=1,
    ),
    # cUSDCv3 borrower on a collateral the registry does not name: HF 1.5443 (wstETH $3550,
    # liquidate CF 0.87); a 36 % wstETH drop makes the account absorbable.
    SeedUser(
        "erin-wsteth-borrower",
        wallet={},
        aave_supply={},
        aave_borrow={},
        comet_supply={"cUSDCv3": {"wstETH": 10}},
        comet_borrow={"cUSDCv3": 20_000},
        eigen_deposits={},
    ),
    # cWETHv3 (priced in ETH): 5 WETH borrowed against 10 wstETH.
    SeedUser(
        "frank-weth-borrower",
        wallet={},
        aave_supply={},
        aave_borrow={},
        comet_supply={"cWETHv3": {"wstETH": 10}},
        comet_borrow={"cWETHv3": 5},
        eigen_deposits={},
    ),
    # cUSDTv3 borrower holding USDT (the token with Tether's approve rule).
    SeedUser(
        "grace-usdt-borrower",
        wallet={"USDT": 3_000},
        aave_supply={},
        aave_borrow={},
        comet_supply={"cUSDTv3": {"WETH": 5}},
        comet_borrow={"cUSDTv3": 2_000},
        eigen_deposits={},
    ),
    # EigenLayer restaker delegated to the devnet operator: stETH and beacon-chain ETH.
    SeedUser(
        "heidi-restaker",
        wallet={"stETH": 5},
        aave_supply={},
        aave_borrow={},
        comet_supply={},
        comet_borrow={},
        eigen_deposits={"stETH": 20},
        eigen_operator=True,
        beacon_eth=64,
    ),
]
