// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// Devnet token with Tether USD's (0xdAC17F958D2ee523a2206206994597C13D831ec7) ERC-20 quirks:
/// `approve`, `transfer` and `transferFrom` return nothing (no bool), and `approve` reverts when
/// both the current allowance and the new value are non-zero ("set to 0 first"). Open `mint`
/// (a faucet: devnet only).
contract DevTetherToken {
    string public name;
    string public symbol;
    uint8 public decimals;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
    }

    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function approve(address spender, uint256 value) external {
        // TetherToken.approve: require(!((_value != 0) && (allowed[msg.sender][_spender] != 0)))
        require(!((value != 0) && (allowance[msg.sender][spender] != 0)));
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
    }

    function transfer(address to, uint256 amount) external {
        _move(msg.sender, to, amount);
    }

    function transferFrom(address from, address to, uint256 amount) external {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount);
            allowance[from][msg.sender] = allowed - amount;
        }
        _move(from, to, amount);
    }

    function _move(address from, address to, uint256 amount) internal {
        require(balanceOf[from] >= amount);
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}

/// Devnet token with stETH's (Lido, 0xae7ab96520DE3A18E5e111B5EaAb095312D7fE84) accounting: a
/// fee-less rebasing ERC-20 whose balances are shares of a pooled total (`balanceOf = shares ×
/// totalPooled / totalShares`). `rebase` changes the pooled total (staking rewards, or a loss),
/// moving every balance at once; transfers move shares rounded down, so a transfer can deliver
/// 1–2 wei less than asked, as stETH's does. Open `mint` (a faucet: devnet only).
contract DevRebasingToken {
    string public name;
    string public symbol;
    uint8 public constant decimals = 18;
    address public owner;
    uint256 public totalShares;
    uint256 public totalPooled;
    mapping(address => uint256) public sharesOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event TransferShares(address indexed from, address indexed to, uint256 sharesValue);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event Rebase(uint256 preTotalPooled, uint256 postTotalPooled);

    constructor(string memory name_, string memory symbol_, uint8) {
        name = name_;
        symbol = symbol_;
        owner = msg.sender;
    }

    function totalSupply() external view returns (uint256) {
        return totalPooled;
    }

    function balanceOf(address account) public view returns (uint256) {
        return totalShares == 0 ? 0 : sharesOf[account] * totalPooled / totalShares;
    }

    function getSharesByPooledEth(uint256 amount) public view returns (uint256) {
        return totalPooled == 0 ? amount : amount * totalShares / totalPooled;
    }

    function getPooledEthByShares(uint256 shares) public view returns (uint256) {
        return totalShares == 0 ? 0 : shares * totalPooled / totalShares;
    }

    function mint(address to, uint256 amount) external {
        uint256 shares = getSharesByPooledEth(amount);
        totalShares += shares;
        totalPooled += amount;
        sharesOf[to] += shares;
        emit Transfer(address(0), to, amount);
    }

    /// Rewards (positive) or a slashing loss (negative), in basis points of the pooled total.
    function rebase(int256 bps) external {
        require(msg.sender == owner, "rebase: only owner");
        uint256 before = totalPooled;
        totalPooled = uint256(int256(before) + int256(before) * bps / 10_000);
        emit Rebase(before, totalPooled);
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount, "ALLOWANCE_EXCEEDED");
            allowance[from][msg.sender] = allowed - amount;
        }
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) internal {
        uint256 shares = getSharesByPooledEth(amount);
        require(sharesOf[from] >= shares, "BALANCE_EXCEEDED");
        sharesOf[from] -= shares;
        sharesOf[to] += shares;
        emit Transfer(from, to, amount);
        emit TransferShares(from, to, shares);
    }
}
