/** Settings of the browser tests, from the environment (documented in the dashboard README). */
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

export function e2eEnv(env: NodeJS.ProcessEnv = process.env): E2eEnv {
  const baseUrl = env.TIDEWATCH_E2E_BASE_URL?.replace(/\/+$/, "") || null;
  return {
    baseUrl,
    privateKey: (env.TIDEWATCH_E2E_PRIVATE_KEY as Hex | undefined) || DEFAULT_TEST_KEY,
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
