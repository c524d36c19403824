// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {DevToken} from "./Tokens.sol";

/// EigenLayer StrategyBase subset: the real share accounting with virtual offsets (1e3 shares,
/// 1e3 balance) that makes share price manipulation uneconomic.
contract StrategyBase {
    uint256 internal constant SHARES_OFFSET = 1e3;
    uint256 internal constant BALANCE_OFFSET = 1e3;

    address public immutable strategyManager;
    DevToken public immutable underlyingToken;
    uint256 public totalShares;

    constructor(address strategyManager_, DevToken underlyingToken_) {
        strategyManager = strategyManager_;
        underlyingToken = underlyingToken_;
    }

    /// Called by the StrategyManager after it moved `amount` tokens here.
    function deposit(DevToken token, uint256 amount) external returns (uint256 newShares) {
        require(msg.sender == strategyManager, "StrategyBase.onlyStrategyManager");
        require(token == underlyingToken, "StrategyBase.deposit: Can only deposit underlyingToken");
        uint256 virtualShareAmount = totalShares + SHARES_OFFSET;
        uint256 virtualTokenBalance = _tokenBalance() + BALANCE_OFFSET;
        uint256 virtualPriorTokenBalance = virtualTokenBalance - amount;
        newShares = (amount * virtualShareAmount) / virtualPriorTokenBalance;
        require(newShares != 0, "StrategyBase.deposit: newShares cannot be zero");
        totalShares += newShares;
    }

    function sharesToUnderlyingView(uint256 amountShares) public view returns (uint256) {
        uint256 virtualTotalShares = totalShares + SHARES_OFFSET;
        uint256 virtualTokenBalance = _tokenBalance() + BALANCE_OFFSET;
        return (virtualTokenBalance * amountShares) / virtualTotalShares;
    }

    function underlyingToSharesView(uint256 amountUnderlying) public view returns (uint256) {
        uint256 virtualTotalShares = totalShares + SHARES_OFFSET;
        uint256 virtualTokenBalance = _tokenBalance() + BALANCE_OFFSET;
        return (amountUnderlying * virtualTotalShares) / virtualTokenBalance;
    }

    function shares(address user) public view returns (uint256) {
        return StrategyManager(strategyManager).stakerDepositShares(user, address(this));
    }

    function userUnderlyingView(address user) external view returns (uint256) {
        return sharesToUnderlyingView(shares(user));
    }

    function _tokenBalance() internal view returns (uint256) {
        return underlyingToken.balanceOf(address(this));
    }
}

/// EigenLayer StrategyManager subset: deposits into whitelisted strategies and share bookkeeping.
contract StrategyManager {
    address public owner;
    mapping(address => bool) public strategyIsWhitelistedForDeposit;
    mapping(address => mapping(address => uint256)) public stakerDepositShares;
    mapping(address => address[]) public stakerStrategyList;

    event Deposit(address staker, address strategy, uint256 shares);

    constructor() {
        owner = msg.sender;
    }

    function addStrategiesToDepositWhitelist(address[] calldata strategies) external {
        require(msg.sender == owner, "StrategyManager: only owner");
        for (uint256 i = 0; i < strategies.length; i++) {
            strategyIsWhitelistedForDeposit[strategies[i]] = true;
        }
    }

    function depositIntoStrategy(StrategyBase strategy, DevToken token, uint256 amount)
        external
        returns (uint256 depositShares)
    {
        require(strategyIsWhitelistedForDeposit[address(strategy)], "StrategyManager: strategy not whitelisted");
        require(token.transferFrom(msg.sender, address(strategy), amount), "StrategyManager: transfer failed");
        depositShares = strategy.deposit(token, amount);
        if (stakerDepositShares[msg.sender][address(strategy)] == 0) {
            stakerStrategyList[msg.sender].push(address(strategy));
        }
        stakerDepositShares[msg.sender][address(strategy)] += depositShares;
        emit Deposit(msg.sender, address(strategy), depositShares);
    }

    function stakerStrategyListLength(address staker) external view returns (uint256) {
        return stakerStrategyList[staker].length;
    }

    function getDeposits(address staker) external view returns (address[] memory, uint256[] memory) {
        address[] memory list = stakerStrategyList[staker];
        uint256[] memory amounts = new uint256[](list.length);
        for (uint256 i = 0; i < list.length; i++) {
            amounts[i] = stakerDepositShares[staker][list[i]];
        }
        return (list, amounts);
    }
}
