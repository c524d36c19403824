// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// A token whose `symbol()` returns `bytes32`, as MKR's and other early ERC-20s do.
contract DevTokenBytes32Symbol {
    bytes32 public symbol;
    uint8 public decimals;

    constructor(bytes32 symbol_, uint8 decimals_) {
        symbol = symbol_;
        decimals = decimals_;
    }
}

/// A token whose `symbol()` reverts (metadata that cannot be read).
contract DevTokenRevertingSymbol {
    uint8 public decimals;

    constructor(uint8 decimals_) {
        decimals = decimals_;
    }

    function symbol() external pure returns (string memory) {
        revert("no symbol");
    }
}
