"""`tidewatch devnet ...`: run the local chain on its own, or deploy the contracts to a node."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _cmd_up(args: argparse.Namespace) -> int:
    from tidewatch_local.devnet import local_chain

    chain = local_chain(Path(args.state_dir), port=args.port, simulate_every=args.simulate_every)
    try:
        for note in chain.notes:
            print(note)
        for key, value in chain.environment.items():
            print(f"export {key}='{value}'")
        print("Ctrl-C stops the devnet.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        chain.stop()


def _cmd_deploy(args: argparse.Namespace) -> int:
    from tidewatch_local.devnet import deploy_and_seed

    deployment = deploy_and_seed(args.rpc_url, registry_path=Path(args.out))
    print(json.dumps({"registry": str(deployment.path), "users": deployment.users}, indent=2))
    return 0


def _cmd_step(args: argparse.Namespace) -> int:
    from tidewatch.protocols.registry import load_registry
    from tidewatch_local.devnet.deploy import Deployment, connect
    from tidewatch_local.devnet.simulator import Simulator

    registry = load_registry(args.registry)
    w3 = connect(args.rpc_url)
    accounts = list(w3.eth.accounts)
    contracts = dict(registry.contracts)
    deployment = Deployment(
        registry=registry.model_dump(mode="json"),
        contracts=contracts,
        tokens={k.removeprefix("token_"): v for k, v in contracts.items() if k.startswith("token_")},
        feeds={k.removeprefix("feed_"): v for k, v in contracts.items() if k.startswith("feed_")},
        users={u.label: {"address": u.address, "private_key": u.private_key} for u in registry.users},
        operators={"deployer": accounts[0], "provider": accounts[1], "whale": accounts[2], "simulator": accounts[3]},
    )
    simulator = Simulator(w3, deployment)
    for _ in range(args.steps):
        for action in simulator.step():
            print(action)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    devnet = subparsers.add_parser("devnet", help="local EVM devnet: anvil, protocol contracts, simulator")
    sub = devnet.add_subparsers(dest="devnet_command", required=True, metavar="ACTION")

    up = sub.add_parser("up", help="start anvil, deploy and seed, keep the markets moving")
    up.add_argument("--state-dir", default=".tidewatch", help="where the devnet registry JSON is written")
    up.add_argument("--port", type=int, default=8545)
    up.add_argument("--simulate-every", type=float, default=15.0, help="seconds between simulator steps (0: off)")
    up.set_defaults(func=_cmd_up)

    deploy = sub.add_parser("deploy", help="deploy and seed the contracts on a running node")
    deploy.add_argument("--rpc-url", default="http://127.0.0.1:8545")
    deploy.add_argument("--out", default=".tidewatch/devnet/registry.json")
    deploy.set_defaults(func=_cmd_deploy)

    step = sub.add_parser("step", help="run simulator steps against a deployed devnet")
    step.add_argument("--rpc-url", default="http://127.0.0.1:8545")
    step.add_argument("--registry", default=".tidewatch/devnet/registry.json")
    step.add_argument("--steps", type=int, default=1)
    step.set_defaults(func=_cmd_step)
