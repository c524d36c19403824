/** Settings of the browser tests, from the environment (documented in the dashboard README). */
import { readFileSync } from "node:fs";
import type { Hex } from "viem";

// Hardhat/anvil development account #1: public test key, never holds value.
export const DEFAULT_TEST_KEY: Hex = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

export interface E2eEnv {
  baseUrl: string | null;
  privateKey: Hex;
  seededAddress: string | null;
  rpcUrl: string | null;
  chainId: number;
  notifyTimeoutMs: number;
  chromium: string;
  walletMode: "sign" | "send";
}

/**
 * The key of a seeded devnet user, from the registry `tidewatch dev` writes
 * (.tidewatch/devnet/registry.json: users[{label, address, private_key}]).
 */
export function devnetUserKey(registryPath: string, label: string): Hex {
  const registry = JSON.parse(readFileSync(registryPath, "utf8")) as { users?: Array<{ label: string; private_key: Hex }> };
  const user = registry.users?.find((u) => u.label === label);
  if (!user) throw new Error(`No devnet user ${label} in ${registryPath}`);
  return user.private_key;
}

export function e2eEnv(env: NodeJS.ProcessEnv = process.env): E2eEnv {
  const baseUrl = env.TIDEWATCH_E2E_BASE_URL?.replace(/\/+$/, "") || null;
  const registry = env.TIDEWATCH_E2E_DEVNET_REGISTRY;
  // A borrower on both Aave and Compound, so the portfolio shows health factors and rules fire.
  const fromRegistry = registry ? devnetUserKey(registry, env.TIDEWATCH_E2E_DEVNET_USER || "bob-near-liquidation") : null;
  return {
    baseUrl,
    privateKey: (env.TIDEWATCH_E2E_PRIVATE_KEY as Hex | undefined) || fromRegistry || DEFAULT_TEST_KEY,
    seededAddress: env.TIDEWATCH_E2E_SEEDED_ADDRESS || null,
    rpcUrl: env.TIDEWATCH_E2E_RPC_URL || null,
    chainId: Number(env.TIDEWATCH_E2E_CHAIN_ID || 1),
    // The real rules function runs on a schedule (1 min) and the free plan's fastest cadence is
    // 5 min; the mock fires at once.
    notifyTimeoutMs: Number(env.TIDEWATCH_E2E_NOTIFY_TIMEOUT_MS || (baseUrl ? 360_000 : 15_000)),
    chromium: env.TIDEWATCH_CHROMIUM || "/usr/bin/chromium",
    walletMode: env.TIDEWATCH_E2E_WALLET_MODE === "send" ? "send" : "sign",
  };
}
