/** Gets the API's prepared (unsigned EIP-1559) transactions signed in the connected wallet. */
import type { Config } from "wagmi";
import { getChainId, getConnection, getConnectorClient, switchChain } from "wagmi/actions";
import { numberToHex, type Hex } from "viem";
import type { UnsignedTx } from "../api/types";
import { toNumber } from "../format";
import type { SupportedChainId } from "./wagmi";

export function toHexQuantity(value: number | string | bigint): Hex {
  if (typeof value === "string" && value.startsWith("0x")) return numberToHex(BigInt(value));
  const big = typeof value === "bigint" ? value : BigInt(typeof value === "string" ? value.split(".")[0] : value);
  return numberToHex(big);
}

/** An unsigned EIP-1559 transaction from the API as eth_sendTransaction parameters. */
export function toSendParams(tx: UnsignedTx): Record<string, Hex> {
  const params: Record<string, Hex> = {
    from: tx.from as Hex,
    to: tx.to as Hex,
    data: tx.data as Hex,
    value: toHexQuantity(tx.value ?? 0),
    chainId: toHexQuantity(tx.chainId),
    type: "0x2",
  };
  for (const key of ["gas", "maxFeePerGas", "maxPriorityFeePerGas", "nonce"] as const) {
    const v = tx[key];
    if (v !== undefined && v !== null && (typeof v !== "number" || toNumber(v) !== null)) params[key] = toHexQuantity(v as string | number);
  }
  return params;
}

/** Puts the wallet on `chainId` (wallet_switchEthereumChain), as the transaction needs. */
export async function ensureChain(config: Config, chainId: number): Promise<void> {
  const client = await getConnectorClient(config);
  const current = Number(await client.request({ method: "eth_chainId" }));
  if (current === chainId && getChainId(config) === chainId) return;
  await switchChain(config, { chainId: chainId as SupportedChainId });
}

export type SignedStep = { kind: "raw"; rawTransaction: string } | { kind: "hash"; txHash: string };

/** Codes a wallet answers with when it does not implement a method (EIP-1193 4200, JSON-RPC -32601/-32004). */
function isUnsupported(err: unknown): boolean {
  const e = err as { code?: number; message?: string; cause?: { code?: number } };
  const code = e?.code ?? e?.cause?.code;
  if (code === 4200 || code === -32601 || code === -32004) return true;
  return /not (supported|available|implemented)|does not exist|unsupported/i.test(e?.message ?? "");
}

/** Connectors (by uid) whose wallet refused eth_signTransaction as unsupported: not asked again. */
const cannotSign = new Set<string>();

/**
 * Gets one step signed. Preferred: eth_signTransaction, so the API broadcasts the raw transaction
 * itself and tracks it from the first moment. Most wallets (MetaMask) refuse to sign without
 * sending; then eth_sendTransaction sends it and the hash is reported.
 */
export async function signOrSend(config: Config, tx: UnsignedTx): Promise<SignedStep> {
  await ensureChain(config, tx.chainId);
  const client = await getConnectorClient(config, { chainId: tx.chainId as SupportedChainId });
  const params = toSendParams(tx);
  // The EIP-1193 methods go to the wallet as they are: the API already chose gas, fees and nonce.
  const request = client.request as (args: { method: string; params: unknown[] }) => Promise<unknown>;
  const key = getConnection(config).connector?.uid ?? "";
  if (!cannotSign.has(key)) {
    try {
      const raw = await request({ method: "eth_signTransaction", params: [params] });
      if (typeof raw === "string" && raw.startsWith("0x")) return { kind: "raw", rawTransaction: raw };
    } catch (err) {
      if (!isUnsupported(err)) throw err; // e.g. 4001: the user said no; do not ask again
      cannotSign.add(key);
    }
  }
  return { kind: "hash", txHash: String(await request({ method: "eth_sendTransaction", params: [params] })) };
}
