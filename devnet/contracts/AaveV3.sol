// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {DevToken, DevPriceFeed} from "./Tokens.sol";

/// Aave v3 math helpers with the protocol's half-up rounding (WadRayMath, PercentageMath).
library AaveMath {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant RAY = 1e27;
    uint256 internal constant PERCENTAGE_FACTOR = 1e4;

    function rayMul(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * b + RAY / 2) / RAY;
    }

    function rayDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * RAY + b / 2) / b;
    }

    function wadDiv(uint256 a, uint256 b) internal pure returns (uint256) {
        return (a * WAD + b / 2) / b;
    }

    function percentMul(uint256 value, uint256 pct) internal pure returns (uint256) {
        return (value * pct + PERCENTAGE_FACTOR / 2) / PERCENTAGE_FACTOR;
    }
}

/// AaveOracle subset: `getAssetPrice` in the base currency (USD, 8 decimals) from Chainlink feeds.
contract AaveOracle {
    uint256 public constant BASE_CURRENCY_UNIT = 1e8;
    mapping(address => address) public getSourceOfAsset;
    address public owner;
    mapping(address => bool) public listingAdmins; // devnet: lets DevReserveFactory list in bulk

    constructor() {
        owner = msg.sender;
    }

    function setListingAdmin(address admin, bool allowed) external {
        require(msg.sender == owner, "oracle: only owner");
        listingAdmins[admin] = allowed;
    }

    function setAssetSources(address[] calldata assets, address[] calldata sources) external {
        require(msg.sender == owner || listingAdmins[msg.sender], "oracle: only owner");
        for (uint256 i = 0; i < assets.length; i++) {
            getSourceOfAsset[assets[i]] = sources[i];
        }
    }

    function getAssetPrice(address asset) public view returns (uint256) {
        address source = getSourceOfAsset[asset];
        require(source != address(0), "oracle: no source");
        int256 answer = DevPriceFeed(source).latestAnswer();
        require(answer > 0, "oracle: bad answer");
        return uint256(answer);
    }

    function getAssetsPrices(address[] calldata assets) external view returns (uint256[] memory prices) {
        prices = new uint256[](assets.length);
        for (uint256 i = 0; i < assets.length; i++) {
            prices[i] = getAssetPrice(assets[i]);
        }
    }
}

/// Aave v3 Pool subset with the real signatures of supply / withdraw / borrow / repay and
/// getUserAccountData. Rates follow DefaultReserveInterestRateStrategy (v3.0); interest does not
/// accrue between transactions (indexes stay at 1 ray), so balances change only through transactions.
contract AavePool {
    using AaveMath for uint256;

    struct Reserve {
        bool listed;
        uint8 decimals;
        uint16 ltv;
        uint16 liquidationThreshold;
        uint16 liquidationBonus;
        uint16 reserveFactor;
        uint256 baseVariableBorrowRate;
        uint256 variableRateSlope1;
        uint256 variableRateSlope2;
        uint256 optimalUsageRatio;
        uint256 totalSupplied;
        uint256 totalBorrowed;
        uint40 lastUpdateTimestamp;
    }

    address public owner;
    AaveOracle public oracle;
    address[] internal reservesList;
    mapping(address => Reserve) public reserves;
    mapping(address => mapping(address => uint256)) public supplied;
    mapping(address => mapping(address => uint256)) public borrowed;
    mapping(address => bool) public listingAdmins; // devnet: lets DevReserveFactory list in bulk

    event Supply(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint16 indexed referralCode);
    event Withdraw(address indexed reserve, address indexed user, address indexed to, uint256 amount);
    event Borrow(address indexed reserve, address user, address indexed onBehalfOf, uint256 amount, uint8 interestRateMode, uint256 borrowRate, uint16 indexed referralCode);
    event Repay(address indexed reserve, address indexed user, address indexed repayer, uint256 amount, bool useATokens);

    constructor(AaveOracle oracle_) {
        owner = msg.sender;
        oracle = oracle_;
    }

    function setListingAdmin(address admin, bool allowed) external {
        require(msg.sender == owner, "pool: only owner");
        listingAdmins[admin] = allowed;
    }

    /// Devnet listing: params in Aave units (bps for ltv/thresholds/factor, ray for rates).
    function initReserve(
        address asset,
        uint16 ltv,
        uint16 liquidationThreshold,
        uint16 liquidationBonus,
        uint16 reserveFactor,
        uint256 baseVariableBorrowRate,
        uint256 variableRateSlope1,
        uint256 variableRateSlope2,
        uint256 optimalUsageRatio
    ) external {
        require(msg.sender == owner || listingAdmins[msg.sender], "pool: only owner");
        require(!reserves[asset].listed, "pool: listed");
        Reserve storage r = reserves[asset];
        r.listed = true;
        r.decimals = DevToken(asset).decimals();
        r.ltv = ltv;
        r.liquidationThreshold = liquidationThreshold;
        r.liquidationBonus = liquidationBonus;
        r.reserveFactor = reserveFactor;
        r.baseVariableBorrowRate = baseVariableBorrowRate;
        r.variableRateSlope1 = variableRateSlope1;
        r.variableRateSlope2 = variableRateSlope2;
        r.optimalUsageRatio = optimalUsageRatio;
        r.lastUpdateTimestamp = uint40(block.timestamp);
        reservesList.push(asset);
    }

    function getReservesList() external view returns (address[] memory) {
        return reservesList;
    }

    function supply(address asset, uint256 amount, address onBehalfOf, uint16 referralCode) public {
        Reserve storage r = _reserve(asset);
        require(amount != 0, "26"); // Errors.INVALID_AMOUNT
        require(DevToken(asset).transferFrom(msg.sender, address(this), amount), "pool: transfer failed");
        supplied[asset][onBehalfOf] += amount;
        r.totalSupplied += amount;
        r.lastUpdateTimestamp = uint40(block.timestamp);
        emit Supply(asset, msg.sender, onBehalfOf, amount, referralCode);
    }

    function deposit(address asset, uint256 amount, address onBehalfOf, uint16 referralCode) external {
        supply(asset, amount, onBehalfOf, referralCode);
    }

    function withdraw(address asset, uint256 amount, address to) external returns (uint256) {
        Reserve storage r = _reserve(asset);
        uint256 balance = supplied[asset][msg.sender];
        uint256 amountToWithdraw = amount == type(uint256).max ? balance : amount;
        require(amountToWithdraw != 0, "26");
        require(amountToWithdraw <= balance, "32"); // Errors.NOT_ENOUGH_AVAILABLE_USER_BALANCE
        require(r.totalSupplied - r.totalBorrowed >= amountToWithdraw, "pool: not enough liquidity");
        supplied[asset][msg.sender] = balance - amountToWithdraw;
        r.totalSupplied -= amountToWithdraw;
        r.lastUpdateTimestamp = uint40(block.timestamp);
        (, uint256 debt,,,, uint256 hf) = getUserAccountData(msg.sender);
        require(debt == 0 || hf >= 1e18, "35"); // Errors.HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD
        require(DevToken(asset).transfer(to, amountToWithdraw), "pool: transfer failed");
        emit Withdraw(asset, msg.sender, to, amountToWithdraw);
        return amountToWithdraw;
    }

    function borrow(address asset, uint256 amount, uint256 interestRateMode, uint16 referralCode, address onBehalfOf)
        external
    {
        Reserve storage r = _reserve(asset);
        require(amount != 0, "26");
        require(interestRateMode == 2, "pool: only variable rate");
        require(onBehalfOf == msg.sender, "pool: no credit delegation on devnet");
        require(r.totalSupplied - r.totalBorrowed >= amount, "pool: not enough liquidity");
        (uint256 collateral, uint256 debt,,, uint256 ltv,) = getUserAccountData(onBehalfOf);
        require(collateral != 0, "34"); // Errors.COLLATERAL_BALANCE_IS_ZERO
        uint256 newDebt = debt + (amount * oracle.getAssetPrice(asset) + 10 ** r.decimals - 1) / (10 ** r.decimals);
        require(newDebt <= collateral.percentMul(ltv), "36"); // Errors.COLLATERAL_CANNOT_COVER_NEW_BORROW
        borrowed[asset][onBehalfOf] += amount;
        r.totalBorrowed += amount;
        r.lastUpdateTimestamp = uint40(block.timestamp);
        require(DevToken(asset).transfer(msg.sender, amount), "pool: transfer failed");
        (, uint256 variableBorrowRate) = _rates(r);
        emit Borrow(asset, msg.sender, onBehalfOf, amount, 2, variableBorrowRate, referralCode);
    }

    function repay(address asset, uint256 amount, uint256 interestRateMode, address onBehalfOf)
        external
        returns (uint256)
    {
        Reserve storage r = _reserve(asset);
        require(amount != 0, "26");
        require(interestRateMode == 2, "pool: only variable rate");
        uint256 debt = borrowed[asset][onBehalfOf];
        require(debt != 0, "39"); // Errors.NO_DEBT_OF_SELECTED_TYPE
        uint256 paybackAmount = amount < debt ? amount : debt;
        require(DevToken(asset).transferFrom(msg.sender, address(this), paybackAmount), "pool: transfer failed");
        borrowed[asset][onBehalfOf] = debt - paybackAmount;
        r.totalBorrowed -= paybackAmount;
        r.lastUpdateTimestamp = uint40(block.timestamp);
        emit Repay(asset, onBehalfOf, msg.sender, paybackAmount, false);
        return paybackAmount;
    }

    /// GenericLogic.calculateUserAccountData, with Aave's rounding.
    function getUserAccountData(address user)
        public
        view
        returns (
            uint256 totalCollateralBase,
            uint256 totalDebtBase,
            uint256 availableBorrowsBase,
            uint256 currentLiquidationThreshold,
            uint256 ltv,
            uint256 healthFactor
        )
    {
        for (uint256 i = 0; i < reservesList.length; i++) {
            address asset = reservesList[i];
            uint256 balance = supplied[asset][user];
            uint256 debt = borrowed[asset][user];
            if (balance == 0 && debt == 0) continue;
            Reserve storage r = reserves[asset];
            uint256 price = oracle.getAssetPrice(asset);
            uint256 unit = 10 ** r.decimals;
            if (balance != 0 && r.liquidationThreshold != 0) {
                uint256 value = (balance * price) / unit;
                totalCollateralBase += value;
                ltv += value * r.ltv;
                currentLiquidationThreshold += value * r.liquidationThreshold;
            }
            if (debt != 0) {
                totalDebtBase += (debt * price) / unit;
            }
        }
        if (totalCollateralBase != 0) {
            ltv = ltv / totalCollateralBase;
            currentLiquidationThreshold = currentLiquidationThreshold / totalCollateralBase;
        }
        healthFactor = totalDebtBase == 0
            ? type(uint256).max
            : totalCollateralBase.percentMul(currentLiquidationThreshold).wadDiv(totalDebtBase);
        uint256 borrowable = totalCollateralBase.percentMul(ltv);
        availableBorrowsBase = borrowable > totalDebtBase ? borrowable - totalDebtBase : 0;
    }

    /// (liquidityRate, variableBorrowRate) in ray, as DefaultReserveInterestRateStrategy computes them.
    function currentRates(address asset) external view returns (uint256, uint256) {
        return _rates(_reserve(asset));
    }

    function _rates(Reserve storage r) internal view returns (uint256 liquidityRate, uint256 variableBorrowRate) {
        uint256 totalDebt = r.totalBorrowed;
        uint256 availableLiquidity = r.totalSupplied - r.totalBorrowed;
        uint256 usageRatio = 0;
        if (totalDebt != 0) {
            usageRatio = totalDebt.rayDiv(availableLiquidity + totalDebt);
        }
        variableBorrowRate = r.baseVariableBorrowRate;
        if (usageRatio > r.optimalUsageRatio) {
            uint256 excess = (usageRatio - r.optimalUsageRatio).rayDiv(AaveMath.RAY - r.optimalUsageRatio);
            variableBorrowRate += r.variableRateSlope1 + r.variableRateSlope2.rayMul(excess);
        } else {
            variableBorrowRate += r.variableRateSlope1.rayMul(usageRatio).rayDiv(r.optimalUsageRatio);
        }
        liquidityRate = variableBorrowRate.rayMul(usageRatio).percentMul(AaveMath.PERCENTAGE_FACTOR - r.reserveFactor);
    }

    function _reserve(address asset) internal view returns (Reserve storage r) {
        r = reserves[asset];
        require(r.listed, "pool: reserve not listed");
    }
}

/// AaveProtocolDataProvider subset: the real read signatures over the devnet pool.
contract AaveProtocolDataProvider {
    AavePool public immutable POOL;

    constructor(AavePool pool) {
        POOL = pool;
    }

    function getReserveConfigurationData(address asset)
        external
        view
        returns (
            uint256 decimals,
            uint256 ltv,
            uint256 liquidationThreshold,
            uint256 liquidationBonus,
            uint256 reserveFactor,
            bool usageAsCollateralEnabled,
            bool borrowingEnabled,
            bool stableBorrowRateEnabled,
            bool isActive,
            bool isFrozen
        )
    {
        AavePool.Reserve memory r = _reserve(asset);
        return (r.decimals, r.ltv, r.liquidationThreshold, r.liquidationBonus, r.reserveFactor, r.liquidationThreshold != 0, true, false, true, false);
    }

    function getReserveData(address asset)
        external
        view
        returns (
            uint256 unbacked,
            uint256 accruedToTreasuryScaled,
            uint256 totalAToken,
            uint256 totalStableDebt,
            uint256 totalVariableDebt,
            uint256 liquidityRate,
            uint256 variableBorrowRate,
            uint256 stableBorrowRate,
            uint256 averageStableBorrowRate,
            uint256 liquidityIndex,
            uint256 variableBorrowIndex,
            uint40 lastUpdateTimestamp
        )
    {
        AavePool.Reserve memory r = _reserve(asset);
        (liquidityRate, variableBorrowRate) = POOL.currentRates(asset);
        return (0, 0, r.totalSupplied, 0, r.totalBorrowed, liquidityRate, variableBorrowRate, 0, 0, 1e27, 1e27, r.lastUpdateTimestamp);
    }

    function getUserReserveData(address asset, address user)
        external
        view
        returns (
            uint256 currentATokenBalance,
            uint256 currentStableDebt,
            uint256 currentVariableDebt,
            uint256 principalStableDebt,
            uint256 scaledVariableDebt,
            uint256 stableBorrowRate,
            uint256 liquidityRate,
            uint40 stableRateLastUpdated,
            bool usageAsCollateralEnabled
        )
    {
        AavePool.Reserve memory r = _reserve(asset);
        uint256 balance = POOL.supplied(asset, user);
        uint256 debt = POOL.borrowed(asset, user);
        (liquidityRate,) = POOL.currentRates(asset);
        return (balance, 0, debt, 0, debt, 0, liquidityRate, 0, balance != 0 && r.liquidationThreshold != 0);
    }

    function _reserve(address asset) internal view returns (AavePool.Reserve memory r) {
        (
            r.listed,
            r.decimals,
            r.ltv,
            r.liquidationThreshold,
            r.liquidationBonus,
            r.reserveFactor,
            r.baseVariableBorrowRate,
            r.variableRateSlope1,
            r.variableRateSlope2,
            r.optimalUsageRatio,
            r.totalSupplied,
            r.totalBorrowed,
            r.lastUpdateTimestamp
        ) = POOL.reserves(asset);
        require(r.listed, "data provider: reserve not listed");
    }
}

/// Devnet only: lists many $1 test reserves with liquidity in one transaction (benchmarks at N = 1000).
contract DevReserveFactory {
    event Listed(address[] tokens);

    function listReserves(AavePool pool, AaveOracle oracle, address feed, uint256 count, uint256 supplyAmount)
        external
        returns (address[] memory tokens)
    {
        tokens = new address[](count);
        address[] memory feeds = new address[](count);
        for (uint256 i = 0; i < count; i++) {
            tokens[i] = address(new DevToken("Test token", "TST", 18));
            feeds[i] = feed;
        }
        oracle.setAssetSources(tokens, feeds);
        for (uint256 i = 0; i < count; i++) {
            pool.initReserve(tokens[i], 7000, 7500, 10500, 1000, 0, 4e25, 75e25, 8e26);
            DevToken(tokens[i]).mint(address(this), supplyAmount);
            DevToken(tokens[i]).approve(address(pool), supplyAmount);
            pool.supply(tokens[i], supplyAmount, address(this), 0);
        }
        emit Listed(tokens);
    }
}
