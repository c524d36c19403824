/**
 * A test wallet for the browser: `window.ethereum` in the page is a thin EIP-1193 shim that
 * forwards every request to this node-side wallet (page.exposeFunction), which holds a test
 * private key, signs with viem and broadcasts raw transactions to a JSON-RPC endpoint (the devnet,
 * or the mock server's /rpc). It announces itself over EIP-6963 ("Tidewatch Test Wallet"), as
 * installed wallets do, so the dashboard's wagmi connectors discover it by name; it emits
 * `chainChanged` after a switch, which wagmi waits for.
 */
import type { Page } from "playwright-core";
import { privateKeyToAccount } from "viem/accounts";
import { hexToBigInt, type Hex } from "viem";

export interface TestWalletOptions {
  privateKey: Hex;
  chainId: number;
  rpcUrl: string;
  /** "sign": supports eth_signTransaction (the API broadcasts); "send": only eth_sendTransaction, like MetaMask. */
  mode?: "sign" | "send";
}

export interface WalletLog {
  method: string;
  params: unknown;
}

type RpcResult = { result: unknown } | { error: { code: number; message: string } };

export class TestWallet {
  readonly account;
  chainId: number;
  readonly log: WalletLog[] = [];
  private readonly rpcUrl: string;
  readonly mode: "sign" | "send";
  /** When set, personal_sign is refused as a user would (EIP-1193 4001). */
  refuseSigning = false;

  constructor(options: TestWalletOptions) {
    this.account = privateKeyToAccount(options.privateKey);
    this.chainId = options.chainId;
    this.rpcUrl = options.rpcUrl;
    this.mode = options.mode ?? "sign";
  }

  get address(): string {
    return this.account.address;
  }

  private async rpc(method: string, params: unknown[]): Promise<unknown> {
    const response = await fetch(this.rpcUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
    });
    const body = (await response.json()) as { result?: unknown; error?: { message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message}`);
    return body.result;
  }

  async handle(method: string, params: unknown[]): Promise<RpcResult> {
    this.log.push({ method, params });
    try {
      switch (method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return { result: [this.address] };
        case "eth_chainId":
          return { result: `0x${this.chainId.toString(16)}` };
        case "wallet_switchEthereumChain": {
          const [{ chainId }] = params as [{ chainId: string }];
          this.chainId = Number.parseInt(chainId, 16);
          return { result: null };
        }
        case "personal_sign": {
          if (this.refuseSigning) return { error: { code: 4001, message: "User rejected the request." } };
          const [data, address] = params as [Hex, string];
          if (address.toLowerCase() !== this.address.toLowerCase()) return { error: { code: 4100, message: "Unknown account" } };
          return { result: await this.account.signMessage({ message: { raw: data } }) };
        }
        case "eth_signTransaction":
          if (this.mode !== "sign") return { error: { code: 4200, message: "The method eth_signTransaction is not supported" } };
          return this.sign(params[0] as Record<string, Hex | undefined>);
        case "eth_sendTransaction": {
          const signed = await this.sign(params[0] as Record<string, Hex | undefined>);
          if ("error" in signed) return signed;
          return { result: await this.rpc("eth_sendRawTransaction", [signed.result]) };
        }
        default:
          return { error: { code: 4200, message: `Unsupported method ${method}` } };
      }
    } catch (err) {
      return { error: { code: -32603, message: err instanceof Error ? err.message : String(err) } };
    }
  }

  private async sign(tx: Record<string, Hex | undefined>): Promise<RpcResult> {
    if (tx.from?.toLowerCase() !== this.address.toLowerCase()) return { error: { code: 4100, message: "Unknown account" } };
    const chainId = tx.chainId ? Number(hexToBigInt(tx.chainId)) : this.chainId;
    if (chainId !== this.chainId) return { error: { code: -32602, message: `Wallet is on chain ${this.chainId}, transaction is for ${chainId}` } };
    const nonce = tx.nonce ? Number(hexToBigInt(tx.nonce)) : Number(hexToBigInt((await this.rpc("eth_getTransactionCount", [this.address, "pending"])) as Hex));
    const signed = await this.account.signTransaction({
      type: "eip1559",
      chainId,
      nonce,
      to: tx.to as Hex,
      data: (tx.data ?? "0x") as Hex,
      value: tx.value ? hexToBigInt(tx.value) : 0n,
      gas: tx.gas ? hexToBigInt(tx.gas) : 300_000n,
      maxFeePerGas: tx.maxFeePerGas ? hexToBigInt(tx.maxFeePerGas) : 30_000_000_000n,
      maxPriorityFeePerGas: tx.maxPriorityFeePerGas ? hexToBigInt(tx.maxPriorityFeePerGas) : 1_000_000_000n,
    });
    return { result: signed };
  }

  /** Installs window.ethereum in every document the page loads. */
  async install(page: Page): Promise<void> {
    await page.exposeFunction("__tidewatchTestWallet", (method: string, params: unknown[]) => this.handle(method, params));
    await page.addInitScript(() => {
      type Bridge = (method: string, params: unknown[]) => Promise<{ result?: unknown; error?: { code: number; message: string } }>;
      const bridge = (window as unknown as { __tidewatchTestWallet: Bridge }).__tidewatchTestWallet;
      const listeners = new Map<string, Set<(...args: unknown[]) => void>>();
      const emit = (event: string, ...args: unknown[]) => listeners.get(event)?.forEach((fn) => fn(...args));
      const provider = {
        isTidewatchTestWallet: true,
        async request({ method, params }: { method: string; params?: unknown[] }) {
          const reply = await bridge(method, params ?? []);
          if (reply.error) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
          if (method === "wallet_switchEthereumChain") emit("chainChanged", (params as [{ chainId: string }])[0].chainId);
          return reply.result;
        },
        on(event: string, fn: (...args: unknown[]) => void) {
          if (!listeners.has(event)) listeners.set(event, new Set());
          listeners.get(event)!.add(fn);
        },
        removeListener(event: string, fn: (...args: unknown[]) => void) {
          listeners.get(event)?.delete(fn);
        },
      };
      (window as unknown as { ethereum: unknown }).ethereum = provider;
      const info = {
        uuid: "5f1d2b8e-7c1a-4f7e-9d0b-7e1f3f7c6a01",
        name: "Tidewatch Test Wallet",
        rdns: "dev.tidewatch.testwallet",
        icon: "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Ccircle cx='8' cy='8' r='7' fill='%232563eb'/%3E%3C/svg%3E",
      };
      const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
      window.addEventListener("eip6963:requestProvider", announce);
      announce();
    });
  }
}
