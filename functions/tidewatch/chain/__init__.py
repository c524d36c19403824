"""Chain access: a lean JSON-RPC client with failover, Multicall3 batching and the ABIs we read.

Nothing here imports web3: the production read path is eth_abi + stdlib HTTP, so any function
(including the API) can read the chain without web3's import cost.
"""
