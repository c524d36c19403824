// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {DevToken, DevPriceFeed} from "./Tokens.sol";

/// Compound III (Comet) subset with the real read/write signatures Tidewatch uses. The interest
/// rate model is Comet's kinked model verbatim (per-second rates, 1e18 factor scale); interest does
/// not accrue between transactions on the devnet (indexes stay at 1), so principal = present value.
contract Comet {
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

    uint64 internal constant FACTOR_SCALE = 1e18;
    uint256 internal constant PRICE_SCALE = 1e8;

    address public immutable governor;
    address public immutable baseToken;
    address public immutable baseTokenPriceFeed;
    uint256 public immutable baseScale;
    uint8 public immutable decimals;

    uint256 public immutable supplyKink;
    uint256 public immutable supplyPerSecondInterestRateSlopeLow;
    uint256 public immutable supplyPerSecondInterestRateSlopeHigh;
    uint256 public immutable supplyPerSecondInterestRateBase;
    uint256 public immutable borrowKink;
    uint256 public immutable borrowPerSecondInterestRateSlopeLow;
    uint256 public immutable borrowPerSecondInterestRateSlopeHigh;
    uint256 public immutable borrowPerSecondInterestRateBase;

    AssetInfo[] internal assets;
    uint256 public totalSupplyBase;
    uint256 public totalBorrowBase;
    mapping(address => int256) public baseBalance; // > 0 supplied, < 0 borrowed
    mapping(address => mapping(address => uint128)) public userCollateral;
    struct TotalsCollateral {
        uint128 totalSupplyAsset;
        uint128 _reserved;
    }

    mapping(address => TotalsCollateral) public totalsCollateral;

    event Supply(address indexed from, address indexed dst, uint256 amount);
    event Withdraw(address indexed src, address indexed to, uint256 amount);
    event SupplyCollateral(address indexed from, address indexed dst, address indexed asset, uint256 amount);
    event WithdrawCollateral(address indexed src, address indexed to, address indexed asset, uint256 amount);

    /// rates = [supplyKink, supplySlopeLow, supplySlopeHigh, supplyBase, borrowKink, borrowSlopeLow, borrowSlopeHigh, borrowBase]
    /// (yearly values divided by seconds per year, as Comet's configurator does).
    constructor(address baseToken_, address baseTokenPriceFeed_, uint256[8] memory rates) {
        governor = msg.sender;
        baseToken = baseToken_;
        baseTokenPriceFeed = baseTokenPriceFeed_;
        decimals = DevToken(baseToken_).decimals();
        baseScale = 10 ** decimals;
        supplyKink = rates[0];
        supplyPerSecondInterestRateSlopeLow = rates[1];
        supplyPerSecondInterestRateSlopeHigh = rates[2];
        supplyPerSecondInterestRateBase = rates[3];
        borrowKink = rates[4];
        borrowPerSecondInterestRateSlopeLow = rates[5];
        borrowPerSecondInterestRateSlopeHigh = rates[6];
        borrowPerSecondInterestRateBase = rates[7];
    }

    function addAsset(
        address asset,
        address priceFeed,
        uint64 borrowCollateralFactor,
        uint64 liquidateCollateralFactor,
        uint64 liquidationFactor,
        uint128 supplyCap
    ) external {
        require(msg.sender == governor, "comet: only governor");
        uint64 scale = uint64(10 ** DevToken(asset).decimals());
        assets.push(
            AssetInfo(uint8(assets.length), asset, priceFeed, scale, borrowCollateralFactor, liquidateCollateralFactor, liquidationFactor, supplyCap)
        );
    }

    function numAssets() external view returns (uint8) {
        return uint8(assets.length);
    }

    function getAssetInfo(uint8 i) public view returns (AssetInfo memory) {
        require(i < assets.length, "BadAsset()");
        return assets[i];
    }

    function getAssetInfoByAddress(address asset) public view returns (AssetInfo memory) {
        for (uint8 i = 0; i < assets.length; i++) {
            if (assets[i].asset == asset) return assets[i];
        }
        revert("BadAsset()");
    }

    function totalSupply() external view returns (uint256) {
        return totalSupplyBase;
    }

    function totalBorrow() external view returns (uint256) {
        return totalBorrowBase;
    }

    function getUtilization() public view returns (uint256) {
        if (totalSupplyBase == 0) return 0;
        return totalBorrowBase * FACTOR_SCALE / totalSupplyBase;
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

    function getPrice(address priceFeed) public view returns (uint256) {
        (, int256 price,,,) = DevPriceFeed(priceFeed).latestRoundData();
        require(price > 0, "BadPrice()");
        return uint256(price);
    }

    function balanceOf(address account) external view returns (uint256) {
        int256 b = baseBalance[account];
        return b > 0 ? uint256(b) : 0;
    }

    function borrowBalanceOf(address account) public view returns (uint256) {
        int256 b = baseBalance[account];
        return b < 0 ? uint256(-b) : 0;
    }

    function collateralBalanceOf(address account, address asset) external view returns (uint128) {
        return userCollateral[account][asset];
    }

    function supply(address asset, uint256 amount) external {
        _supply(msg.sender, msg.sender, asset, amount);
    }

    function supplyTo(address dst, address asset, uint256 amount) external {
        _supply(msg.sender, dst, asset, amount);
    }

    function withdraw(address asset, uint256 amount) external {
        _withdraw(msg.sender, msg.sender, asset, amount);
    }

    function withdrawTo(address to, address asset, uint256 amount) external {
        _withdraw(msg.sender, to, asset, amount);
    }

    function isBorrowCollateralized(address account) public view returns (bool) {
        return _collateralValue(account, true) >= _debtValue(account);
    }

    function isLiquidatable(address account) external view returns (bool) {
        return _collateralValue(account, false) < _debtValue(account);
    }

    function _supply(address from, address dst, address asset, uint256 amount) internal {
        if (asset == baseToken) {
            if (amount == type(uint256).max) amount = borrowBalanceOf(dst);
            require(DevToken(asset).transferFrom(from, address(this), amount), "comet: transfer failed");
            int256 before = baseBalance[dst];
            int256 next = before + int256(amount);
            _moveTotals(before, next);
            baseBalance[dst] = next;
            emit Supply(from, dst, amount);
        } else {
            getAssetInfoByAddress(asset);
            require(DevToken(asset).transferFrom(from, address(this), amount), "comet: transfer failed");
            userCollateral[dst][asset] += uint128(amount);
            totalsCollateral[asset].totalSupplyAsset += uint128(amount);
            emit SupplyCollateral(from, dst, asset, amount);
        }
    }

    function _withdraw(address src, address to, address asset, uint256 amount) internal {
        if (asset == baseToken) {
            int256 before = baseBalance[src];
            if (amount == type(uint256).max) amount = before > 0 ? uint256(before) : 0;
            int256 next = before - int256(amount);
            _moveTotals(before, next);
            baseBalance[src] = next;
            require(totalBorrowBase <= totalSupplyBase, "comet: insufficient liquidity");
            if (next < 0) require(isBorrowCollateralized(src), "NotCollateralized()");
            require(DevToken(asset).transfer(to, amount), "comet: transfer failed");
            emit Withdraw(src, to, amount);
        } else {
            require(userCollateral[src][asset] >= amount, "comet: insufficient collateral");
            userCollateral[src][asset] -= uint128(amount);
            totalsCollateral[asset].totalSupplyAsset -= uint128(amount);
            require(isBorrowCollateralized(src), "NotCollateralized()");
            require(DevToken(asset).transfer(to, amount), "comet: transfer failed");
            emit WithdrawCollateral(src, to, asset, amount);
        }
    }

    function _moveTotals(int256 before, int256 next) internal {
        if (before > 0) totalSupplyBase -= uint256(before);
        else totalBorrowBase -= uint256(-before);
        if (next > 0) totalSupplyBase += uint256(next);
        else totalBorrowBase += uint256(-next);
    }

    function _collateralValue(address account, bool forBorrow) internal view returns (uint256 value) {
        for (uint256 i = 0; i < assets.length; i++) {
            AssetInfo memory info = assets[i];
            uint256 amount = userCollateral[account][info.asset];
            if (amount == 0) continue;
            uint256 usd = amount * getPrice(info.priceFeed) / info.scale;
            value += mulFactor(usd, forBorrow ? info.borrowCollateralFactor : info.liquidateCollateralFactor);
        }
    }

    function _debtValue(address account) internal view returns (uint256) {
        return borrowBalanceOf(account) * getPrice(baseTokenPriceFeed) / baseScale;
    }

    function mulFactor(uint256 n, uint256 factor) internal pure returns (uint256) {
        return n * factor / FACTOR_SCALE;
    }
}
