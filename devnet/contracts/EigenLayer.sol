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

    /// Called by the StrategyManager when a completed withdrawal is paid out as tokens.
    function withdraw(address recipient, DevToken token, uint256 amountShares) external {
        require(msg.sender == strategyManager, "StrategyBase.onlyStrategyManager");
        require(token == underlyingToken, "StrategyBase.withdraw: Can only withdraw the strategy token");
        uint256 virtualTotalShares = totalShares + SHARES_OFFSET;
        uint256 virtualTokenBalance = _tokenBalance() + BALANCE_OFFSET;
        uint256 amountToSend = (virtualTokenBalance * amountShares) / virtualTotalShares;
        totalShares -= amountShares;
        require(token.transfer(recipient, amountToSend), "StrategyBase.withdraw: transfer failed");
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
    DelegationManager public delegation;
    mapping(address => bool) public strategyIsWhitelistedForDeposit;
    mapping(address => mapping(address => uint256)) public stakerDepositShares;
    mapping(address => address[]) public stakerStrategyList;

    event Deposit(address staker, address strategy, uint256 shares);

    constructor() {
        owner = msg.sender;
    }

    function setDelegationManager(DelegationManager delegation_) external {
        require(msg.sender == owner, "StrategyManager: only owner");
        delegation = delegation_;
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
        uint256 prevDepositShares = stakerDepositShares[msg.sender][address(strategy)];
        if (prevDepositShares == 0) {
            stakerStrategyList[msg.sender].push(address(strategy));
        }
        stakerDepositShares[msg.sender][address(strategy)] = prevDepositShares + depositShares;
        if (address(delegation) != address(0)) {
            delegation.increaseDelegatedShares(msg.sender, address(strategy), prevDepositShares, depositShares);
        }
        emit Deposit(msg.sender, address(strategy), depositShares);
    }

    /// Called by the DelegationManager when a staker queues a withdrawal.
    function removeDepositShares(address staker, address strategy, uint256 depositSharesToRemove) external returns (uint256) {
        require(msg.sender == address(delegation), "StrategyManager: only DelegationManager");
        uint256 current = stakerDepositShares[staker][strategy];
        require(depositSharesToRemove <= current, "SharesAmountTooHigh()");
        stakerDepositShares[staker][strategy] = current - depositSharesToRemove;
        return current - depositSharesToRemove;
    }

    /// Called by the DelegationManager when a completed withdrawal is received as tokens.
    function withdrawSharesAsTokens(address staker, address strategy, DevToken token, uint256 shares) external {
        require(msg.sender == address(delegation), "StrategyManager: only DelegationManager");
        StrategyBase(strategy).withdraw(staker, token, shares);
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

/// EigenLayer DelegationManager stand-in (slashing release, v1.x): the share accounting of
/// `docs/core/accounting/SharesAccounting.md`. A staker's withdrawable shares are
/// `depositShares · depositScalingFactor · slashingFactor` (WAD products, floor), the slashing
/// factor being the operator's max magnitude (times the beacon-chain slashing factor for
/// beacon-chain ETH). Queued withdrawals keep scaled shares (`depositShares · dsf`) that stay
/// slashable until they can complete (`startBlock + minWithdrawalDelayBlocks`, exclusive).
/// `slashOperator` stands in for the AllocationManager's (an AVS slashing an operator set).
contract DelegationManager {
    uint256 internal constant WAD = 1e18;
    address public constant beaconChainETHStrategy = 0xbeaC0eeEeeeeEEeEeEEEEeeEEeEeeeEeeEEBEaC0;

    struct Withdrawal {
        address staker;
        address delegatedTo;
        address withdrawer;
        uint256 nonce;
        uint32 startBlock;
        address[] strategies;
        uint256[] scaledShares;
    }

    struct SignatureWithExpiry {
        bytes signature;
        uint256 expiry;
    }

    struct QueuedWithdrawalParams {
        address[] strategies;
        uint256[] depositShares;
        address __deprecated_withdrawer;
    }

    StrategyManager public immutable strategyManager;
    EigenPodManager public immutable eigenPodManager;
    uint32 public immutable minWithdrawalDelayBlocks;
    address public owner;

    mapping(address => address) public delegatedTo;
    mapping(address => bool) public isOperator;
    mapping(address => mapping(address => uint256)) internal _depositScalingFactor;
    mapping(address => mapping(address => uint64)) internal _maxMagnitude; // 0 = never slashed (WAD)
    mapping(address => uint256) public cumulativeWithdrawalsQueued;
    mapping(bytes32 => Withdrawal) internal queued;
    mapping(address => bytes32[]) internal stakerRoots;

    event OperatorSlashed(address operator, address strategy, uint64 newMaxMagnitude);
    event SlashingWithdrawalQueued(bytes32 withdrawalRoot, Withdrawal withdrawal, uint256[] sharesToWithdraw);
    event SlashingWithdrawalCompleted(bytes32 withdrawalRoot);

    constructor(StrategyManager strategyManager_, EigenPodManager eigenPodManager_, uint32 minWithdrawalDelayBlocks_) {
        strategyManager = strategyManager_;
        eigenPodManager = eigenPodManager_;
        minWithdrawalDelayBlocks = minWithdrawalDelayBlocks_;
        owner = msg.sender;
    }

    // -------------------------------------------------------------- operators and slashing

    function registerAsOperator(address, uint32, string calldata) external {
        isOperator[msg.sender] = true;
        delegatedTo[msg.sender] = msg.sender;
    }

    /// Stand-in limit: a staker delegates before depositing (the real contract rescales
    /// existing deposits to the operator's magnitude; the devnet never needs that).
    function delegateTo(address operator, SignatureWithExpiry calldata, bytes32) external {
        require(isOperator[operator], "OperatorNotRegistered()");
        require(delegatedTo[msg.sender] == address(0), "ActivelyDelegated()");
        require(strategyManager.stakerStrategyListLength(msg.sender) == 0, "devnet: delegate before depositing");
        delegatedTo[msg.sender] = operator;
    }

    /// Devnet stand-in for AllocationManager.slashOperator: the operator's max magnitude in
    /// `strategy` drops by `wadToSlash` of itself (rounded up, as the AllocationManager does).
    function slashOperator(address operator, address strategy, uint256 wadToSlash) external {
        require(msg.sender == owner, "DelegationManager: only owner");
        require(wadToSlash <= WAD, "InvalidWadToSlash()");
        uint256 current = maxMagnitude(operator, strategy);
        uint256 slashed = (current * wadToSlash + WAD - 1) / WAD;
        uint64 next = uint64(current - slashed);
        _maxMagnitude[operator][strategy] = next == 0 ? type(uint64).max : next; // max: fully slashed marker
        emit OperatorSlashed(operator, strategy, next);
    }

    function maxMagnitude(address operator, address strategy) public view returns (uint64) {
        uint64 m = _maxMagnitude[operator][strategy];
        if (m == 0) return uint64(WAD);
        if (m == type(uint64).max) return 0;
        return m;
    }

    function depositScalingFactor(address staker, address strategy) public view returns (uint256) {
        uint256 dsf = _depositScalingFactor[staker][strategy];
        return dsf == 0 ? WAD : dsf;
    }

    function slashingFactor(address staker, address strategy) public view returns (uint256) {
        address operator = delegatedTo[staker];
        uint256 factor = operator == address(0) ? WAD : maxMagnitude(operator, strategy);
        if (strategy == beaconChainETHStrategy) factor = factor * eigenPodManager.beaconChainSlashingFactor(staker) / WAD;
        return factor;
    }

    // -------------------------------------------------------------- shares

    /// StrategyManager / EigenPodManager hook on every deposit: the deposit scaling factor keeps
    /// earlier slashing out of new deposits (SharesAccounting.md "Deposits").
    function increaseDelegatedShares(address staker, address strategy, uint256 prevDepositShares, uint256 addedShares)
        external
    {
        require(msg.sender == address(strategyManager) || msg.sender == address(eigenPodManager), "OnlyStrategyManagerOrEigenPodManager()");
        uint256 factor = slashingFactor(staker, strategy);
        require(factor > 0, "FullySlashed()");
        if (prevDepositShares == 0) {
            _depositScalingFactor[staker][strategy] = WAD * WAD / factor;
        } else {
            uint256 current = prevDepositShares * depositScalingFactor(staker, strategy) / WAD * factor / WAD;
            uint256 newShares = current + addedShares;
            _depositScalingFactor[staker][strategy] = (newShares * WAD / factor) * WAD / (prevDepositShares + addedShares);
        }
    }

    function _depositShares(address staker, address strategy) internal view returns (uint256) {
        if (strategy == beaconChainETHStrategy) {
            int256 shares = eigenPodManager.podOwnerDepositShares(staker);
            return shares > 0 ? uint256(shares) : 0;
        }
        return strategyManager.stakerDepositShares(staker, strategy);
    }

    function getWithdrawableShares(address staker, address[] calldata strategies)
        external
        view
        returns (uint256[] memory withdrawableShares, uint256[] memory depositShares)
    {
        withdrawableShares = new uint256[](strategies.length);
        depositShares = new uint256[](strategies.length);
        for (uint256 i = 0; i < strategies.length; i++) {
            uint256 d = _depositShares(staker, strategies[i]);
            depositShares[i] = d;
            withdrawableShares[i] =
                d * depositScalingFactor(staker, strategies[i]) / WAD * slashingFactor(staker, strategies[i]) / WAD;
        }
    }

    // -------------------------------------------------------------- withdrawals

    function queueWithdrawals(QueuedWithdrawalParams[] calldata params) external returns (bytes32[] memory roots) {
        roots = new bytes32[](params.length);
        for (uint256 i = 0; i < params.length; i++) {
            roots[i] = _queue(msg.sender, params[i].strategies, params[i].depositShares);
        }
    }

    function _queue(address staker, address[] calldata strategies, uint256[] calldata depositShares) internal returns (bytes32 root) {
        require(strategies.length == depositShares.length && strategies.length > 0, "InputArrayLengthMismatch()");
        uint256[] memory scaled = new uint256[](strategies.length);
        uint256[] memory withdrawable = new uint256[](strategies.length);
        for (uint256 j = 0; j < strategies.length; j++) {
            address strategy = strategies[j];
            uint256 dsf = depositScalingFactor(staker, strategy);
            scaled[j] = depositShares[j] * dsf / WAD;
            withdrawable[j] = scaled[j] * slashingFactor(staker, strategy) / WAD;
            uint256 left;
            if (strategy == beaconChainETHStrategy) {
                left = eigenPodManager.removeDepositShares(staker, depositShares[j]);
            } else {
                left = strategyManager.removeDepositShares(staker, strategy, depositShares[j]);
            }
            if (left == 0) _depositScalingFactor[staker][strategy] = 0;
        }
        Withdrawal memory w = Withdrawal({
            staker: staker,
            delegatedTo: delegatedTo[staker],
            withdrawer: staker,
            nonce: cumulativeWithdrawalsQueued[staker]++,
            startBlock: uint32(block.number),
            strategies: strategies,
            scaledShares: scaled
        });
        root = keccak256(abi.encode(w));
        queued[root] = w;
        stakerRoots[staker].push(root);
        emit SlashingWithdrawalQueued(root, w, withdrawable);
    }

    function getQueuedWithdrawalRoots(address staker) external view returns (bytes32[] memory) {
        return stakerRoots[staker];
    }

    /// Each queued withdrawal with the shares it would pay out now (scaled shares × the current
    /// slashing factor: slashing keeps reaching a withdrawal until it can complete).
    function getQueuedWithdrawals(address staker)
        external
        view
        returns (Withdrawal[] memory withdrawals, uint256[][] memory shares)
    {
        bytes32[] memory roots = stakerRoots[staker];
        withdrawals = new Withdrawal[](roots.length);
        shares = new uint256[][](roots.length);
        for (uint256 i = 0; i < roots.length; i++) {
            Withdrawal memory w = queued[roots[i]];
            withdrawals[i] = w;
            shares[i] = new uint256[](w.strategies.length);
            for (uint256 j = 0; j < w.strategies.length; j++) {
                shares[i][j] = w.scaledShares[j] * slashingFactor(staker, w.strategies[j]) / WAD;
            }
        }
    }

    function completeQueuedWithdrawal(Withdrawal calldata withdrawal, DevToken[] calldata tokens, bool) external {
        bytes32 root = keccak256(abi.encode(withdrawal));
        require(queued[root].staker != address(0), "WithdrawalNotQueued()");
        require(msg.sender == withdrawal.withdrawer, "WithdrawerNotCaller()");
        require(block.number > withdrawal.startBlock + minWithdrawalDelayBlocks, "WithdrawalDelayNotElapsed()");
        for (uint256 j = 0; j < withdrawal.strategies.length; j++) {
            uint256 shares = withdrawal.scaledShares[j] * slashingFactor(withdrawal.staker, withdrawal.strategies[j]) / WAD;
            if (withdrawal.strategies[j] == beaconChainETHStrategy) {
                eigenPodManager.withdrawSharesAsTokens(withdrawal.staker, shares);
            } else {
                strategyManager.withdrawSharesAsTokens(withdrawal.staker, withdrawal.strategies[j], tokens[j], shares);
            }
        }
        delete queued[root];
        bytes32[] storage list = stakerRoots[withdrawal.staker];
        for (uint256 i = 0; i < list.length; i++) {
            if (list[i] == root) {
                list[i] = list[list.length - 1];
                list.pop();
                break;
            }
        }
        emit SlashingWithdrawalCompleted(root);
    }
}

/// EigenPodManager stand-in: beacon-chain ETH deposit shares per pod owner (1 share = 1 wei) and
/// the beacon-chain slashing factor. The devnet has no beacon chain, so the owner records what
/// a pod's checkpoint proofs would (a verified validator, a balance drop).
contract EigenPodManager {
    uint256 internal constant WAD = 1e18;
    address public owner;
    DelegationManager public delegation;
    mapping(address => int256) public podOwnerDepositShares;
    mapping(address => uint64) internal _beaconChainSlashingFactor;

    constructor() {
        owner = msg.sender;
    }

    function setDelegationManager(DelegationManager delegation_) external {
        require(msg.sender == owner, "EigenPodManager: only owner");
        delegation = delegation_;
    }

    function beaconChainSlashingFactor(address podOwner) external view returns (uint64) {
        uint64 f = _beaconChainSlashingFactor[podOwner];
        return f == 0 ? uint64(WAD) : f;
    }

    function stakerDepositShares(address user, address) external view returns (uint256) {
        int256 s = podOwnerDepositShares[user];
        return s > 0 ? uint256(s) : 0;
    }

    function recordBeaconChainETHDeposit(address podOwner, uint256 amountWei) external {
        require(msg.sender == owner, "EigenPodManager: only owner");
        int256 prev = podOwnerDepositShares[podOwner];
        podOwnerDepositShares[podOwner] = prev + int256(amountWei);
        delegation.increaseDelegatedShares(podOwner, delegation.beaconChainETHStrategy(), prev > 0 ? uint256(prev) : 0, amountWei);
    }

    /// A validator balance drop: the pod's slashing factor falls by `wadSlashed` of itself.
    function recordBeaconChainSlash(address podOwner, uint256 wadSlashed) external {
        require(msg.sender == owner, "EigenPodManager: only owner");
        uint256 current = this.beaconChainSlashingFactor(podOwner);
        _beaconChainSlashingFactor[podOwner] = uint64(current - current * wadSlashed / WAD);
    }

    event BeaconChainETHWithdrawn(address indexed podOwner, uint256 amountWei);

    /// A completed beacon-chain ETH withdrawal: on mainnet the pod pays out ETH it holds from
    /// exited validators; the devnet has none, so the payout is recorded as an event only.
    function withdrawSharesAsTokens(address podOwner, uint256 shares) external {
        require(msg.sender == address(delegation), "EigenPodManager: only DelegationManager");
        emit BeaconChainETHWithdrawn(podOwner, shares);
    }

    function removeDepositShares(address staker, uint256 depositSharesToRemove) external returns (uint256) {
        require(msg.sender == address(delegation), "EigenPodManager: only DelegationManager");
        int256 current = podOwnerDepositShares[staker];
        require(int256(depositSharesToRemove) <= current, "SharesAmountTooHigh()");
        podOwnerDepositShares[staker] = current - int256(depositSharesToRemove);
        return uint256(current - int256(depositSharesToRemove));
    }
}
