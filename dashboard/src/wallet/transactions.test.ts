import { describe, expect, it } from "vitest";
import { connect } from "wagmi/actions";
import { injected } from "wagmi/connectors/injected";
import { signOrSend, toSendParams } from "./transactions";
import { createWagmiConfig } from "./wagmi";

const FROM = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const TX = { from: FROM, to: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", data: "0x", value: "0x0", chainId: 1, nonce: "0x3" };

/** An EIP-1193 wallet on `chainId` that records what it is asked and answers like a real one. */
function fakeWallet(chainId: number, answer: (method: string) => unknown) {
  const calls: Array<{ method: string; params?: unknown }> = [];
  const listeners = new Map<string, Set<(...a: unknown[]) => void>>();
  let chain = chainId;
  const provider = {
    async request({ method, params }: { method: string; params?: unknown }) {
      calls.push({ method, params });
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [FROM];
      if (method === "wallet_requestPermissions" || method === "wallet_getPermissions") return [{ parentCapability: "eth_accounts" }];
      if (method === "eth_chainId") return `0x${chain.toString(16)}`;
      if (method === "wallet_switchEthereumChain") {
        chain = Number.parseInt((params as [{ chainId: string }])[0].chainId, 16);
        listeners.get("chainChanged")?.forEach((fn) => fn(`0x${chain.toString(16)}`));
        return null;
      }
      const reply = answer(method);
      if (reply instanceof Error) throw reply;
      return reply;
    },
    on: (e: string, fn: (...a: unknown[]) => void) => void (listeners.get(e) ?? listeners.set(e, new Set()).get(e)!).add(fn),
    removeListener: (e: string, fn: (...a: unknown[]) => void) => void listeners.get(e)?.delete(fn),
  };
  return { provider, calls, methods: () => calls.map((c) => c.method).filter((m) => m !== "eth_chainId" && m !== "eth_accounts") };
}

async function connected(wallet: ReturnType<typeof fakeWallet>) {
  const config = createWagmiConfig({ connectors: [injected({ target: () => ({ id: "fake", name: "Fake", provider: wallet.provider as never }) })] });
  await connect(config, { connector: config.connectors[0] });
  wallet.calls.length = 0; // what follows is the transaction's part
  return config;
}

describe("toSendParams", () => {
  it("turns decimal API quantities into hex JSON-RPC quantities", () => {
    const params = toSendParams({ ...TX, value: "1000000000000000000", chainId: 8453, gas: 21000, maxFeePerGas: "0x3b9aca00", nonce: 0 });
    expect(params).toMatchObject({ value: "0xde0b6b3a7640000", chainId: "0x2105", gas: "0x5208", maxFeePerGas: "0x3b9aca00", nonce: "0x0", type: "0x2" });
    expect(params).not.toHaveProperty("maxPriorityFeePerGas");
  });
});

describe("signOrSend through wagmi", () => {
  it("prefers a raw signature, so the API broadcasts", async () => {
    const wallet = fakeWallet(1, (m) => (m === "eth_signTransaction" ? "0xf86b" : new Error(m)));
    const config = await connected(wallet);
    expect(await signOrSend(config, TX)).toEqual({ kind: "raw", rawTransaction: "0xf86b" });
    expect(wallet.methods()).toEqual(["eth_signTransaction"]);
  });

  it("switches the wallet to the transaction's chain first", async () => {
    // Given a wallet on Ethereum and a transaction for Base
    const wallet = fakeWallet(1, (m) => (m === "eth_signTransaction" ? "0xf86b" : new Error(m)));
    const config = await connected(wallet);
    await signOrSend(config, { ...TX, chainId: 8453 });
    // Then it was asked to switch to 0x2105 before signing
    expect(wallet.methods()).toEqual(["wallet_switchEthereumChain", "eth_signTransaction"]);
    expect(wallet.calls.find((c) => c.method === "wallet_switchEthereumChain")?.params).toEqual([{ chainId: "0x2105" }]);
  });

  it("falls back to eth_sendTransaction when the wallet cannot sign without sending, and remembers", async () => {
    const hash = "0x" + "ab".repeat(32);
    const wallet = fakeWallet(1, (m) => (m === "eth_signTransaction" ? Object.assign(new Error("The method does not exist"), { code: -32601 }) : hash));
    const config = await connected(wallet);
    expect(await signOrSend(config, TX)).toEqual({ kind: "hash", txHash: hash });
    await signOrSend(config, TX);
    expect(wallet.methods()).toEqual(["eth_signTransaction", "eth_sendTransaction", "eth_sendTransaction"]);
  });

  it("stops when the user rejects", async () => {
    const wallet = fakeWallet(1, () => Object.assign(new Error("User rejected"), { code: 4001 }));
    const config = await connected(wallet);
    await expect(signOrSend(config, TX)).rejects.toMatchObject({ code: 4001 });
    expect(wallet.methods()).not.toContain("eth_sendTransaction");
  });
});
