"""Non-custodial transactions: intents → ordered unsigned EIP-1559 transactions, simulated before
they are returned; broadcast of the user's signed transactions and receipt tracking.

Web3 is not needed: JSON-RPC goes through `tidewatch.chain.rpc.ChainClient`, calldata through
eth_abi, and signed transactions are decoded with eth_account (imported lazily, broadcast only).
"""
