/** The injected EIP-1193 provider (MetaMask and friends) behind a narrow interface. */
import type { UnsignedTx } from "../api/types";
import { toNumber } from "../format";

export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] | Record<string, unknown> }): Promise<unknown>;
  on?(event: string, listener: (...args: unknown[]) => void): void;
  removeListener?(event: string, listener: (...args: unknown[]) => void): void;
}

declare global {
  interface Window {
    ethereum?: Eip1193Provider;
  }
}

export function injectedProvider(): Eip1193Provider | null {
  return typeof window !== "undefined" && window.ethereum ? window.ethereum : null;
}

/** EIP-1193 / EIP-1474 error codes worth a human sentence. */
export function walletErrorMessage(err: unknown): string {
  const e = err as { code?: number; message?: string };
  if (e?.code === 4001) return "You rejected the request in your wallet.";
  if (e?.code === 4100) return "The wallet has not authorised this site.";
  if (e?.code === 4902) return "The wallet does not know this network; add it in the wallet first.";
  if (e?.code === -32002) return "A wallet request is already pending; open your wallet.";
  return e?.message ? `Wallet error: ${e.message}` : "The wallet request failed.";
}

export async function requestAccount(provider: Eip1193Provider): Promise<string> {
  const accounts = (await provider.request({ method: "eth_requestAccounts" })) as string[];
  if (!accounts?.length) throw new Error("The wallet returned no account.");
  return accounts[0];
}

export async function chainId(provider: Eip1193Provider): Promise<number> {
  const hex = (await provider.request({ method: "eth_chainId" })) as string;
  return Number.parseInt(hex, 16);
}

/** personal_sign takes the message as 0x-hex of its UTF-8 bytes, then the address. */
export async function personalSign(provider: Eip1193Provider, message: string, address: string): Promise<string> {
  const bytes = new TextEncoder().encode(message);
  const hex = "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return (await provider.request({ method: "personal_sign", params: [hex, address] })) as string;
}

export async function ensureChain(provider: Eip1193Provider, wanted: number): Promise<void> {
  if ((await chainId(provider)) === wanted) return;
  await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId: toHexQuantity(wanted) }] });
}

export function toHexQuantity(value: number | string | bigint): string {
  const big = typeof value === "bigint" ? value : BigInt(typeof value === "string" && !value.startsWith("0x") ? value.split(".")[0] : value);
  return "0x" + big.toString(16);
}

/** An unsigned EIP-1559 transaction from the API as eth_sendTransaction parameters. */
export function toSendParams(tx: UnsignedTx): Record<string, string> {
  const params: Record<string, string> = {
    from: tx.from,
    to: tx.to,
    data: tx.data,
    value: toHexQuantity(tx.value ?? 0),
    chainId: toHexQuantity(tx.chainId),
    type: "0x2",
  };
  const optional: Array<[keyof UnsignedTx, string]> = [
    ["gas", "gas"],
    ["maxFeePerGas", "maxFeePerGas"],
    ["maxPriorityFeePerGas", "maxPriorityFeePerGas"],
    ["nonce", "nonce"],
  ];
  for (const [key, name] of optional) {
    const v = tx[key];
    if (v !== undefined && v !== null && (typeof v !== "number" || toNumber(v) !== null)) params[name] = toHexQuantity(v as string | number);
  }
  return params;
}

export async function sendTransaction(provider: Eip1193Provider, tx: UnsignedTx): Promise<string> {
  await ensureChain(provider, tx.chainId);
  return (await provider.request({ method: "eth_sendTransaction", params: [toSendParams(tx)] })) as string;
}

export type SignedStep = { kind: "raw"; rawTransaction: string } | { kind: "hash"; txHash: string };

/** Codes a wallet answers with when it does not implement a method (EIP-1193 4200, JSON-RPC -32601/-32004). */
function isUnsupported(err: unknown): boolean {
  const e = err as { code?: number; message?: string };
  if (e?.code === 4200 || e?.code === -32601 || e?.code === -32004) return true;
  return /not (supported|available|implemented)|does not exist|unsupported/i.test(e?.message ?? "");
}

const cannotSign = new WeakSet<Eip1193Provider>();

/**
 * Gets one step signed. Preferred: eth_signTransaction, so the API broadcasts the raw transaction
 * itself and tracks it from the first moment. Most injected wallets (MetaMask) refuse to sign
 * without sending; then eth_sendTransaction sends it and we report the hash.
 */
export async function signOrSend(provider: Eip1193Provider, tx: UnsignedTx): Promise<SignedStep> {
  await ensureChain(provider, tx.chainId);
  const params = toSendParams(tx);
  if (!cannotSign.has(provider)) {
    try {
      const raw = (await provider.request({ method: "eth_signTransaction", params: [params] })) as string;
      if (typeof raw === "string" && raw.startsWith("0x")) return { kind: "raw", rawTransaction: raw };
    } catch (err) {
      if (!isUnsupported(err)) throw err; // e.g. 4001: the user said no; do not ask again
      cannotSign.add(provider);
    }
  }
  return { kind: "hash", txHash: (await provider.request({ method: "eth_sendTransaction", params: [params] })) as string };
}
