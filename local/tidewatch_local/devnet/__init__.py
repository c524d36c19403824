"""The local EVM devnet: anvil, contracts with the real protocols' signatures, seeding, simulator.

from tidewatch_local.devnet import start_anvil, deploy_and_seed, Simulator

node = start_anvil()                       # anvil on a free port (stop with node.stop())
deployment = deploy_and_seed(node.url)     # registry dict, seeded users and their keys
Simulator(node.url, deployment).step()     # nudge utilization and prices with transactions
"""

from tidewatch_local.devnet.anvil import AnvilNode, find_anvil, start_anvil
from tidewatch_local.devnet.deploy import Deployment, deploy_and_seed
from tidewatch_local.devnet.local import LocalChain, LocalDevnet, local_chain
from tidewatch_local.devnet.simulator import Simulator

__all__ = [
    "AnvilNode",
    "Deployment",
    "LocalChain",
    "LocalDevnet",
    "Simulator",
    "deploy_and_seed",
    "find_anvil",
    "local_chain",
    "start_anvil",
]
