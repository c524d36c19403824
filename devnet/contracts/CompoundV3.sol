// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

interface IDevERC20 {
    function decimals() external view returns (uint8);
    function balanceOf(address) external view returns (uint256);
}

interface IAggregatorV3 {
    function decimals() external view returns (uint8);
    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80);
}

/// Compound III (Comet) stand-in with Comet's accounting, written for the devnet from Comet's
/// documented behaviour (CometMainInterface/CometExtInterface, Comet.sol): principal balances and
/// per-second accruing base supply/borrow indexes (BASE_INDEX_SCALE = 1e15), the kinked rate
/// model, collateral factors per asset (1e18), prices from Chainlink-style feeds (8 decimals) in
/// the market's numéraire, `baseBorrowMin`, supply caps, pause flags, `absorb` (protocol takes
/// the collateral, debt is forgiven at the liquidation factor) and `buyCollateral` (the
/// store-front discount), Comet's custom errors, and tokens that return no bool (USDT).
contract Comet {
    error Absurd();
    error BadAsset();
    error BadPrice();
    error BorrowTooSmall();
    error InsufficientReserves();
    error NotCollateralized();
    error NotForSale();
    error NotLiquidatable();
    error Paused();
    error SupplyCapExceeded();
    error TooManyAssets();
    error TooMuchSlippage();
    error TransferInFailed(bytes error);
    error TransferOutFailed(bytes error);
    error Unauthorized();

    struct AssetInfo {
        uint8 offset;
        address asset;
        address priceFeed;
        uint64 scale;
        uint64 borrowCollateralFactor;
        uint64 liquidateCollateralFactor;
        uint64 liquidationFactor;
        uint128 supplyCap;
    }

    struct TotalsBasic {
        uint64 baseSupplyIndex;
        uint64 baseBorrowIndex;
        uint64 trackingSupplyIndex;
        uint64 trackingBorrowIndex;
        uint104 totalSupplyBase;
        uint104 totalBorrowBase;
        uint40 lastAccrualTime;
        uint8 pauseFlags;
    }

    struct TotalsCollateral {
        uint128 totalSupplyAsset;
        uint128 _reserved;
    }

    /// Market parameters as Comet's Configurator holds them (rates are per second, 1e18).
    struct Configuration {
        address baseToken;
        address baseTokenPriceFeed;
        address pauseGuardian;
        uint64 supplyKink;
        uint64 supplySlopeLow;
        uint64 supplySlopeHigh;
        uint64 supplyBase;
        uint64 borrowKink;
        uint64 borrowSlopeLow;
        uint64 borrowSlopeHigh;
        uint64 borrowBase;
        uint64 storeFrontPriceFactor;
        uint104 baseBorrowMin;
        uint104 targetReserves;
    }

    uint64 internal constant FACTOR_SCALE = 1e18;
    uint64 internal constant BASE_INDEX_SCALE = 1e15;
    uint8 internal constant MAX_ASSETS = 24;
    uint8 internal constant PAUSE_SUPPLY_OFFSET = 0;
    uint8 internal constant PAUSE_TRANSFER_OFFSET = 1;
    uint8 internal constant PAUSE_WITHDRAW_OFFSET = 2;
    uint8 internal constant PAUSE_ABSORB_OFFSET = 3;
    uint8 internal constant PAUSE_BUY_OFFSET = 4;

    address public immutable governor;
    address public immutable pauseGuardian;
    address public immutable baseToken;
    address public immutable baseTokenPriceFeed;
    uint64 public immutable baseScale;
    uint8 public immutable decimals;
    uint64 public immutable supplyKink;
    uint64 public immutable supplyPerSecondInterestRateSlopeLow;
    uint64 public immutable supplyPerSecondInterestRateSlopeHigh;
    uint64 public immutable supplyPerSecondInterestRateBase;
    uint64 public immutable borrowKink;
    uint64 public immutable borrowPerSecondInterestRateSlopeLow;
    uint64 public immutable borrowPerSecondInterestRateSlopeHigh;
    uint64 public immutable borrowPerSecondInterestRateBase;
    uint64 public immutable storeFrontPriceFactor;
    uint104 public immutable baseBorrowMin;
    uint104 public immutable targetReserves;

    AssetInfo[] internal assets;

    uint64 public baseSupplyIndex;
    uint64 public baseBorrowIndex;
    uint104 public totalSupplyBase;
    uint104 public totalBorrowBase;
    uint40 public lastAccrualTime;
    uint8 public pauseFlags;

    mapping(address => int104) public principalOf;
    mapping(address => mapping(address => uint128)) internal userCollateralBalance;
    mapping(address => TotalsCollateral) public totalsCollateral;

    event Supply(address indexed from, address indexed dst, uint256 amount);
    event Withdraw(address indexed src, address indexed to, uint256 amount);
    event SupplyCollateral(address indexed from, address indexed dst, address indexed asset, uint256 amount);
    event WithdrawCollateral(address indexed src, address indexed to, address indexed asset, uint256 amount);
    event AbsorbDebt(address indexed absorber, address indexed borrower, uint256 basePaidOut, uint256 usdValue);
    event AbsorbCollateral(
        address indexed absorber, address indexed borrower, address indexed asset, uint256 collateralAbsorbed, uint256 usdValue
    );
    event BuyCollateral(address indexed buyer, address indexed asset, uint256 baseAmount, uint256 collateralAmount);
    event PauseAction(bool supplyPaused, bool transferPaused, bool withdrawPaused, bool absorbPaused, bool buyPaused);

    constructor(Configuration memory config) {
        governor = msg.sender;
        pauseGuardian = config.pauseGuardian;
        baseToken = config.baseToken;
        baseTokenPriceFeed = config.baseTokenPriceFeed;
        decimals = IDevERC20(config.baseToken).decimals();
        baseScale = uint64(10 ** decimals);
        supplyKink = config.supplyKink;
        supplyPerSecondInterestRateSlopeLow = config.supplySlopeLow;
        supplyPerSecondInterestRateSlopeHigh = config.supplySlopeHigh;
        supplyPerSecondInterestRateBase = config.supplyBase;
        borrowKink = config.borrowKink;
        borrowPerSecondInterestRateSlopeLow = config.borrowSlopeLow;
        borrowPerSecondInterestRateSlopeHigh = config.borrowSlopeHigh;
        borrowPerSecondInterestRateBase = config.borrowBase;
        storeFrontPriceFactor = config.storeFrontPriceFactor;
        baseBorrowMin = config.baseBorrowMin;
        targetReserves = config.targetReserves;
        baseSupplyIndex = BASE_INDEX_SCALE;
        baseBorrowIndex = BASE_INDEX_SCALE;
        lastAccrualTime = uint40(block.timestamp);
    }

    // ---------------------------------------------------------------- governance (devnet)

    /// Lists a collateral, as a Configurator upgrade does on mainnet (asset list is append-only).
    function addAsset(
        address asset,
        address priceFeed,
        uint64 borrowCollateralFactor,
        uint64 liquidateCollateralFactor,
        uint64 liquidationFactor,
        uint128 supplyCap
    ) external {
        if (msg.sender != governor) revert Unauthorized();
        if (assets.length >= MAX_ASSETS) revert TooManyAssets();
        if (IAggregatorV3(priceFeed).decimals() != 8) revert BadPrice();
        uint64 scale = uint64(10 ** IDevERC20(asset).decimals());
        assets.push(
            AssetInfo(uint8(assets.length), asset, priceFeed, scale, borrowCollateralFactor, liquidateCollateralFactor, liquidationFactor, supplyCap)
        );
    }

    function pause(bool supplyPaused, bool transferPaused, bool withdrawPaused, bool absorbPaused, bool buyPaused) external {
        if (msg.sender != governor && msg.sender != pauseGuardian) revert Unauthorized();
        pauseFlags = uint8(0) | (toUInt8(supplyPaused) << PAUSE_SUPPLY_OFFSET) | (toUInt8(transferPaused) << PAUSE_TRANSFER_OFFSET)
            | (toUInt8(withdrawPaused) << PAUSE_WITHDRAW_OFFSET) | (toUInt8(absorbPaused) << PAUSE_ABSORB_OFFSET)
            | (toUInt8(buyPaused) << PAUSE_BUY_OFFSET);
        emit PauseAction(supplyPaused, transferPaused, withdrawPaused, absorbPaused, buyPaused);
    }

    function isSupplyPaused() public view returns (bool) {
        return toBool(pauseFlags & (uint8(1) << PAUSE_SUPPLY_OFFSET));
    }

    function isTransferPaused() public view returns (bool) {
        return toBool(pauseFlags & (uint8(1) << PAUSE_TRANSFER_OFFSET));
    }

    function isWithdrawPaused() public view returns (bool) {
        return toBool(pauseFlags & (uint8(1) << PAUSE_WITHDRAW_OFFSET));
    }

    function isAbsorbPaused() public view returns (bool) {
        return toBool(pauseFlags & (uint8(1) << PAUSE_ABSORB_OFFSET));
    }

    function isBuyPaused() public view returns (bool) {
        return toBool(pauseFlags & (uint8(1) << PAUSE_BUY_OFFSET));
    }

    // ---------------------------------------------------------------- assets and prices

    function numAssets() external view returns (uint8) {
        return uint8(assets.length);
    }

    function getAssetInfo(uint8 i) public view returns (AssetInfo memory) {
        if (i >= assets.length) revert BadAsset();
        return assets[i];
    }

    function getAssetInfoByAddress(address asset) public view returns (AssetInfo memory) {
        for (uint8 i = 0; i < assets.length; i++) {
            if (assets[i].asset == asset) return assets[i];
        }
        revert BadAsset();
    }

    function getPrice(address priceFeed) public view returns (uint256) {
        (, int256 price,,,) = IAggregatorV3(priceFeed).latestRoundData();
        if (price <= 0) revert BadPrice();
        return uint256(price);
    }

    // ---------------------------------------------------------------- interest

    /// Utilization at the stored indexes (Comet's definition; the rates in force until the next accrual).
    function getUtilization() public view returns (uint256) {
        return storedUtilization();
    }

    function getSupplyRate(uint256 utilization) public view returns (uint64) {
        if (utilization <= supplyKink) {
            return uint64(supplyPerSecondInterestRateBase + mulFactor(supplyPerSecondInterestRateSlopeLow, utilization));
        }
        return uint64(
            supplyPerSecondInterestRateBase + mulFactor(supplyPerSecondInterestRateSlopeLow, supplyKink)
                + mulFactor(supplyPerSecondInterestRateSlopeHigh, utilization - supplyKink)
        );
    }

    function getBorrowRate(uint256 utilization) public view returns (uint64) {
        if (utilization <= borrowKink) {
            return uint64(borrowPerSecondInterestRateBase + mulFactor(borrowPerSecondInterestRateSlopeLow, utilization));
        }
        return uint64(
            borrowPerSecondInterestRateBase + mulFactor(borrowPerSecondInterestRateSlopeLow, borrowKink)
                + mulFactor(borrowPerSecondInterestRateSlopeHigh, utilization - borrowKink)
        );
    }

    /// Indexes grow linearly per second at the rates of the stored utilization (Comet's accrual).
    function accruedInterestIndices(uint256 timeElapsed) internal view returns (uint64, uint64) {
        uint64 supplyIndex_ = baseSupplyIndex;
        uint64 borrowIndex_ = baseBorrowIndex;
        if (timeElapsed > 0) {
            uint256 utilization = storedUtilization();
            supplyIndex_ += uint64(mulFactor(supplyIndex_, getSupplyRate(utilization) * timeElapsed));
            borrowIndex_ += uint64(mulFactor(borrowIndex_, getBorrowRate(utilization) * timeElapsed));
        }
        return (supplyIndex_, borrowIndex_);
    }

    function storedUtilization() internal view returns (uint256) {
        uint256 totalSupply_ = presentValueSupply(baseSupplyIndex, totalSupplyBase);
        uint256 totalBorrow_ = presentValueBorrow(baseBorrowIndex, totalBorrowBase);
        if (totalSupply_ == 0) return 0;
        return totalBorrow_ * FACTOR_SCALE / totalSupply_;
    }

    function accrueInternal() internal {
        uint256 elapsed = block.timestamp - lastAccrualTime;
        if (elapsed > 0) {
            (baseSupplyIndex, baseBorrowIndex) = accruedInterestIndices(elapsed);
            lastAccrualTime = uint40(block.timestamp);
        }
    }

    function accrueAccount(address) external {
        accrueInternal();
    }

    /// Comet's totalsBasic layout: (baseSupplyIndex, baseBorrowIndex, trackingSupplyIndex,
    /// trackingBorrowIndex, totalSupplyBase, totalBorrowBase, lastAccrualTime, pauseFlags).
    function totalsBasic() external view returns (TotalsBasic memory) {
        return TotalsBasic(baseSupplyIndex, baseBorrowIndex, 0, 0, totalSupplyBase, totalBorrowBase, lastAccrualTime, pauseFlags);
    }

    /// Comet's userBasic layout: (principal, baseTrackingIndex, baseTrackingAccrued, assetsIn, _reserved).
    function userBasic(address account) external view returns (int104, uint64, uint64, uint16, uint8) {
        uint16 assetsIn = 0;
        for (uint8 i = 0; i < assets.length; i++) {
            if (userCollateralBalance[account][assets[i].asset] > 0) assetsIn |= uint16(1) << i;
        }
        return (principalOf[account], 0, 0, assetsIn, 0);
    }

    // ---------------------------------------------------------------- balances

    function totalSupply() external view returns (uint256) {
        (uint64 supplyIndex_,) = accruedInterestIndices(block.timestamp - lastAccrualTime);
        return presentValueSupply(supplyIndex_, totalSupplyBase);
    }

    function totalBorrow() external view returns (uint256) {
        (, uint64 borrowIndex_) = accruedInterestIndices(block.timestamp - lastAccrualTime);
        return presentValueBorrow(borrowIndex_, totalBorrowBase);
    }

    function balanceOf(address account) public view returns (uint256) {
        (uint64 supplyIndex_,) = accruedInterestIndices(block.timestamp - lastAccrualTime);
        int104 principal = principalOf[account];
        return principal > 0 ? presentValueSupply(supplyIndex_, uint104(principal)) : 0;
    }

    function borrowBalanceOf(address account) public view returns (uint256) {
        (, uint64 borrowIndex_) = accruedInterestIndices(block.timestamp - lastAccrualTime);
        int104 principal = principalOf[account];
        return principal < 0 ? presentValueBorrow(borrowIndex_, uint104(-principal)) : 0;
    }

    function collateralBalanceOf(address account, address asset) external view returns (uint128) {
        return userCollateralBalance[account][asset];
    }

    function userCollateral(address account, address asset) external view returns (uint128, uint128) {
        return (userCollateralBalance[account][asset], 0);
    }

    /// Base held beyond what suppliers are owed (negative: owed more than held).
    function getReserves() public view returns (int256) {
        (uint64 supplyIndex_, uint64 borrowIndex_) = accruedInterestIndices(block.timestamp - lastAccrualTime);
        uint256 balance = IDevERC20(baseToken).balanceOf(address(this));
        uint256 totalSupply_ = presentValueSupply(supplyIndex_, totalSupplyBase);
        uint256 totalBorrow_ = presentValueBorrow(borrowIndex_, totalBorrowBase);
        return int256(balance) - int256(totalSupply_) + int256(totalBorrow_);
    }

    function getCollateralReserves(address asset) public view returns (uint256) {
        return IDevERC20(asset).balanceOf(address(this)) - totalsCollateral[asset].totalSupplyAsset;
    }

    // ---------------------------------------------------------------- health

    function isBorrowCollateralized(address account) public view returns (bool) {
        return liquidity(account, true) >= 0;
    }

    function isLiquidatable(address account) public view returns (bool) {
        return liquidity(account, false) < 0;
    }

    /// Σ collateral × price × factor − debt × base price (numéraire, 8 decimals), at the stored
    /// indexes, as Comet computes it.
    function liquidity(address account, bool forBorrow) internal view returns (int256) {
        int104 principal = principalOf[account];
        if (principal >= 0) return 0;
        int256 value = -int256(mulPrice(presentValueBorrow(baseBorrowIndex, uint104(-principal)), getPrice(baseTokenPriceFeed), baseScale));
        for (uint8 i = 0; i < assets.length; i++) {
            AssetInfo memory info = assets[i];
            uint128 amount = userCollateralBalance[account][info.asset];
            if (amount == 0) continue;
            uint256 collateralValue = mulPrice(amount, getPrice(info.priceFeed), info.scale);
            value += int256(mulFactor(collateralValue, forBorrow ? info.borrowCollateralFactor : info.liquidateCollateralFactor));
        }
        return value;
    }

    // ---------------------------------------------------------------- supply / withdraw

    function supply(address asset, uint256 amount) external {
        supplyInternal(msg.sender, msg.sender, msg.sender, asset, amount);
    }

    function supplyTo(address dst, address asset, uint256 amount) external {
        supplyInternal(msg.sender, msg.sender, dst, asset, amount);
    }

    function withdraw(address asset, uint256 amount) external {
        withdrawInternal(msg.sender, msg.sender, msg.sender, asset, amount);
    }

    function withdrawTo(address to, address asset, uint256 amount) external {
        withdrawInternal(msg.sender, msg.sender, to, asset, amount);
    }

    function supplyInternal(address, address from, address dst, address asset, uint256 amount) internal {
        if (isSupplyPaused()) revert Paused();
        if (asset == baseToken) {
            if (amount == type(uint256).max) amount = borrowBalanceOf(dst);
            supplyBase(from, dst, amount);
        } else {
            supplyCollateral(from, dst, asset, uint128(amount));
        }
    }

    function supplyBase(address from, address dst, uint256 amount) internal {
        accrueInternal();
        amount = doTransferIn(baseToken, from, amount);
        int104 dstPrincipal = principalOf[dst];
        int256 dstBalance = presentValue(dstPrincipal) + int256(amount);
        int104 dstPrincipalNew = principalValue(dstBalance);
        (uint104 repayAmount, uint104 supplyAmount) = repayAndSupplyAmount(dstPrincipal, dstPrincipalNew);
        totalSupplyBase += supplyAmount;
        totalBorrowBase -= repayAmount;
        principalOf[dst] = dstPrincipalNew;
        emit Supply(from, dst, amount);
    }

    function supplyCollateral(address from, address dst, address asset, uint128 amount) internal {
        AssetInfo memory info = getAssetInfoByAddress(asset);
        amount = uint128(doTransferIn(asset, from, amount));
        TotalsCollateral memory totals = totalsCollateral[asset];
        totals.totalSupplyAsset += amount;
        if (totals.totalSupplyAsset > info.supplyCap) revert SupplyCapExceeded();
        totalsCollateral[asset] = totals;
        userCollateralBalance[dst][asset] += amount;
        emit SupplyCollateral(from, dst, asset, amount);
    }

    function withdrawInternal(address, address src, address to, address asset, uint256 amount) internal {
        if (isWithdrawPaused()) revert Paused();
        if (asset == baseToken) {
            if (amount == type(uint256).max) amount = balanceOf(src);
            withdrawBase(src, to, amount);
        } else {
            withdrawCollateral(src, to, asset, uint128(amount));
        }
    }

    function withdrawBase(address src, address to, uint256 amount) internal {
        accrueInternal();
        int104 srcPrincipal = principalOf[src];
        int256 srcBalance = presentValue(srcPrincipal) - int256(amount);
        int104 srcPrincipalNew = principalValue(srcBalance);
        (uint104 withdrawAmount, uint104 borrowAmount) = withdrawAndBorrowAmount(srcPrincipal, srcPrincipalNew);
        totalSupplyBase -= withdrawAmount;
        totalBorrowBase += borrowAmount;
        principalOf[src] = srcPrincipalNew;
        if (srcBalance < 0) {
            if (uint256(-srcBalance) < baseBorrowMin) revert BorrowTooSmall();
            if (!isBorrowCollateralized(src)) revert NotCollateralized();
        }
        doTransferOut(baseToken, to, amount);
        emit Withdraw(src, to, amount);
    }

    function withdrawCollateral(address src, address to, address asset, uint128 amount) internal {
        uint128 srcCollateral = userCollateralBalance[src][asset];
        if (amount > srcCollateral) revert Absurd();
        userCollateralBalance[src][asset] = srcCollateral - amount;
        totalsCollateral[asset].totalSupplyAsset -= amount;
        if (!isBorrowCollateralized(src)) revert NotCollateralized();
        doTransferOut(asset, to, amount);
        emit WithdrawCollateral(src, to, asset, amount);
    }

    // ---------------------------------------------------------------- liquidation

    /// The protocol absorbs underwater accounts: their collateral moves to the protocol's
    /// reserves, their debt is written off at `liquidationFactor` of the collateral's value.
    function absorb(address absorber, address[] calldata accounts) external {
        if (isAbsorbPaused()) revert Paused();
        accrueInternal();
        for (uint256 i = 0; i < accounts.length; i++) {
            absorbInternal(absorber, accounts[i]);
        }
    }

    function absorbInternal(address absorber, address account) internal {
        if (!isLiquidatable(account)) revert NotLiquidatable();
        int104 oldPrincipal = principalOf[account];
        int256 oldBalance = presentValue(oldPrincipal);
        uint256 basePrice = getPrice(baseTokenPriceFeed);
        uint256 deltaValue = 0;
        for (uint8 i = 0; i < assets.length; i++) {
            AssetInfo memory info = assets[i];
            uint128 seizeAmount = userCollateralBalance[account][info.asset];
            if (seizeAmount == 0) continue;
            userCollateralBalance[account][info.asset] = 0;
            totalsCollateral[info.asset].totalSupplyAsset -= seizeAmount;
            uint256 value = mulPrice(seizeAmount, getPrice(info.priceFeed), info.scale);
            deltaValue += mulFactor(value, info.liquidationFactor);
            emit AbsorbCollateral(absorber, account, info.asset, seizeAmount, value);
        }
        uint256 deltaBalance = divPrice(deltaValue, basePrice, baseScale);
        int256 newBalance = oldBalance + int256(deltaBalance);
        if (newBalance < 0) newBalance = 0; // bad debt is socialised through reserves
        int104 newPrincipal = principalValue(newBalance);
        principalOf[account] = newPrincipal;
        (uint104 repayAmount, uint104 supplyAmount) = repayAndSupplyAmount(oldPrincipal, newPrincipal);
        totalSupplyBase += supplyAmount;
        totalBorrowBase -= repayAmount;
        uint256 basePaidOut = uint256(newBalance - oldBalance);
        emit AbsorbDebt(absorber, account, basePaidOut, mulPrice(basePaidOut, basePrice, baseScale));
    }

    /// Sells absorbed collateral at the store-front discount while reserves are below target.
    function buyCollateral(address asset, uint256 minAmount, uint256 baseAmount, address recipient) external {
        if (isBuyPaused()) revert Paused();
        int256 reserves = getReserves();
        if (reserves >= 0 && uint256(reserves) >= targetReserves) revert NotForSale();
        baseAmount = doTransferIn(baseToken, msg.sender, baseAmount);
        uint256 collateralAmount = quoteCollateral(asset, baseAmount);
        if (collateralAmount < minAmount) revert TooMuchSlippage();
        if (collateralAmount > getCollateralReserves(asset)) revert InsufficientReserves();
        doTransferOut(asset, recipient, collateralAmount);
        emit BuyCollateral(msg.sender, asset, baseAmount, collateralAmount);
    }

    function quoteCollateral(address asset, uint256 baseAmount) public view returns (uint256) {
        AssetInfo memory info = getAssetInfoByAddress(asset);
        uint256 assetPrice = getPrice(info.priceFeed);
        uint256 discountFactor = mulFactor(storeFrontPriceFactor, FACTOR_SCALE - info.liquidationFactor);
        uint256 assetPriceDiscounted = mulFactor(assetPrice, FACTOR_SCALE - discountFactor);
        uint256 basePrice = getPrice(baseTokenPriceFeed);
        return basePrice * baseAmount * info.scale / assetPriceDiscounted / baseScale;
    }

    // ---------------------------------------------------------------- math (Comet's)

    function presentValue(int104 principal) internal view returns (int256) {
        if (principal >= 0) return int256(presentValueSupply(baseSupplyIndex, uint104(principal)));
        return -int256(presentValueBorrow(baseBorrowIndex, uint104(-principal)));
    }

    function principalValue(int256 presentValue_) internal view returns (int104) {
        if (presentValue_ >= 0) return int104(principalValueSupply(baseSupplyIndex, uint256(presentValue_)));
        return -int104(principalValueBorrow(baseBorrowIndex, uint256(-presentValue_)));
    }

    function presentValueSupply(uint64 index, uint104 principal) internal pure returns (uint256) {
        return uint256(principal) * index / BASE_INDEX_SCALE;
    }

    function presentValueBorrow(uint64 index, uint104 principal) internal pure returns (uint256) {
        return uint256(principal) * index / BASE_INDEX_SCALE;
    }

    function principalValueSupply(uint64 index, uint256 value) internal pure returns (uint104) {
        return uint104(value * BASE_INDEX_SCALE / index);
    }

    function principalValueBorrow(uint64 index, uint256 value) internal pure returns (uint104) {
        return uint104((value * BASE_INDEX_SCALE + index - 1) / index);
    }

    function repayAndSupplyAmount(int104 oldPrincipal, int104 newPrincipal) internal pure returns (uint104, uint104) {
        if (newPrincipal < oldPrincipal) return (0, 0);
        if (newPrincipal <= 0) return (uint104(newPrincipal - oldPrincipal), 0);
        if (oldPrincipal >= 0) return (0, uint104(newPrincipal - oldPrincipal));
        return (uint104(-oldPrincipal), uint104(newPrincipal));
    }

    function withdrawAndBorrowAmount(int104 oldPrincipal, int104 newPrincipal) internal pure returns (uint104, uint104) {
        if (newPrincipal > oldPrincipal) return (0, 0);
        if (newPrincipal >= 0) return (uint104(oldPrincipal - newPrincipal), 0);
        if (oldPrincipal <= 0) return (0, uint104(oldPrincipal - newPrincipal));
        return (uint104(oldPrincipal), uint104(-newPrincipal));
    }

    function mulFactor(uint256 n, uint256 factor) internal pure returns (uint256) {
        return n * factor / FACTOR_SCALE;
    }

    function mulPrice(uint256 n, uint256 price, uint64 fromScale) internal pure returns (uint256) {
        return n * price / fromScale;
    }

    function divPrice(uint256 n, uint256 price, uint64 toScale) internal pure returns (uint256) {
        return n * toScale / price;
    }

    function toUInt8(bool x) internal pure returns (uint8) {
        return x ? 1 : 0;
    }

    function toBool(uint8 x) internal pure returns (bool) {
        return x != 0;
    }

    // ---------------------------------------------------------------- token transfers

    /// transferFrom for tokens with and without a bool return (USDT returns nothing).
    function doTransferIn(address asset, address from, uint256 amount) internal returns (uint256) {
        uint256 before = IDevERC20(asset).balanceOf(address(this));
        (bool ok, bytes memory data) =
            asset.call(abi.encodeWithSelector(0x23b872dd, from, address(this), amount));
        if (!ok || (data.length > 0 && !abi.decode(data, (bool)))) revert TransferInFailed(data);
        return IDevERC20(asset).balanceOf(address(this)) - before;
    }

    function doTransferOut(address asset, address to, uint256 amount) internal {
        (bool ok, bytes memory data) = asset.call(abi.encodeWithSelector(0xa9059cbb, to, amount));
        if (!ok || (data.length > 0 && !abi.decode(data, (bool)))) revert TransferOutFailed(data);
    }
}

/// Comet's ConstantPriceFeed: the numéraire's own feed in ETH- or wstETH-denominated markets.
contract ConstantPriceFeed {
    uint8 public immutable decimals;
    int256 public immutable constantPrice;
    string public constant description = "Constant price feed";

    constructor(uint8 decimals_, int256 constantPrice_) {
        decimals = decimals_;
        constantPrice = constantPrice_;
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (1, constantPrice, block.timestamp, block.timestamp, 1);
    }
}

/// X / numéraire from two USD feeds (X/USD ÷ numéraire/USD, 8 decimals), the way Comet's
/// ReverseMultiplicativePriceFeed derives X/ETH for the WETH market.
contract RatioPriceFeed {
    uint8 public constant decimals = 8;
    IAggregatorV3 public immutable numerator;
    IAggregatorV3 public immutable denominator;
    string public description;

    constructor(IAggregatorV3 numerator_, IAggregatorV3 denominator_, string memory description_) {
        numerator = numerator_;
        denominator = denominator_;
        description = description_;
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        (uint80 round, int256 top,, uint256 updatedAt,) = numerator.latestRoundData();
        (, int256 bottom,,,) = denominator.latestRoundData();
        int256 answer = bottom > 0 ? top * 1e8 / bottom : int256(0);
        return (round, answer, updatedAt, updatedAt, round);
    }
}
