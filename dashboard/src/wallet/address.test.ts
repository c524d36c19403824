import { describe, expect, it } from "vitest";
import { checkAddress, toChecksumAddress } from "./address";
import { signOrSend, toSendParams } from "./eip1193";

describe("addresses", () => {
  it("checksums per EIP-55", () => {
    // Test vectors from the EIP-55 specification
    for (const a of ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"]) {
      expect(toChecksumAddress(a.toLowerCase())).toBe(a);
    }
  });

  it("accepts lower case, rejects a mistyped checksummed address and junk", () => {
    expect(checkAddress(" 0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed ")).toEqual({ ok: true, address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" });
    expect(checkAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")).toMatchObject({ ok: false, error: expect.stringMatching(/Checksum/) });
    expect(checkAddress("0x1234")).toMatchObject({ ok: false });
    expect(checkAddress("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")).toMatchObject({ ok: false, error: expect.stringMatching(/0x/) });
    expect(checkAddress("")).toMatchObject({ ok: false });
    expect(checkAddress("0x" + "0".repeat(40))).toMatchObject({ ok: false, error: expect.stringMatching(/zero/) });
  });
});

describe("toSendParams", () => {
  it("turns decimal API quantities into hex JSON-RPC quantities", () => {
    const params = toSendParams({
      from: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
      to: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
      data: "0x",
      value: "1000000000000000000",
      chainId: 8453,
      gas: 21000,
      maxFeePerGas: "0x3b9aca00",
      nonce: 0,
    });
    expect(params).toMatchObject({ value: "0xde0b6b3a7640000", chainId: "0x2105", gas: "0x5208", maxFeePerGas: "0x3b9aca00", nonce: "0x0", type: "0x2" });
    expect(params).not.toHaveProperty("maxPriorityFeePerGas");
  });
});

describe("signOrSend", () => {
  const TX = { from: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", to: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", data: "0x", value: "0x0", chainId: 1, nonce: "0x3" };

  it("prefers a raw signature, so the API broadcasts", async () => {
    const calls: string[] = [];
    const provider = { request: async ({ method }: { method: string }) => (calls.push(method), method === "eth_chainId" ? "0x1" : "0xf86b") };
    expect(await signOrSend(provider, TX)).toEqual({ kind: "raw", rawTransaction: "0xf86b" });
    expect(calls).toEqual(["eth_chainId", "eth_signTransaction"]);
  });

  it("falls back to eth_sendTransaction when the wallet cannot sign without sending, and remembers", async () => {
    const calls: string[] = [];
    const provider = {
      request: async ({ method }: { method: string }) => {
        calls.push(method);
        if (method === "eth_chainId") return "0x1";
        if (method === "eth_signTransaction") throw Object.assign(new Error("The method does not exist"), { code: -32601 });
        return "0x" + "ab".repeat(32);
      },
    };
    expect(await signOrSend(provider, TX)).toEqual({ kind: "hash", txHash: "0x" + "ab".repeat(32) });
    await signOrSend(provider, TX);
    expect(calls).toEqual(["eth_chainId", "eth_signTransaction", "eth_sendTransaction", "eth_chainId", "eth_sendTransaction"]);
  });

  it("stops when the user rejects, and switches chains first", async () => {
    const calls: unknown[] = [];
    const provider = {
      request: async ({ method, params }: { method: string; params?: unknown }) => {
        calls.push([method, params]);
        if (method === "eth_chainId") return "0x1";
        if (method === "wallet_switchEthereumChain") return null;
        throw Object.assign(new Error("User rejected"), { code: 4001 });
      },
    };
    await expect(signOrSend(provider, { ...TX, chainId: 8453 })).rejects.toMatchObject({ code: 4001 });
    expect(calls.map((c) => (c as [string])[0])).toEqual(["eth_chainId", "wallet_switchEthereumChain", "eth_signTransaction"]);
    expect((calls[1] as [string, unknown])[1]).toEqual([{ chainId: "0x2105" }]);
  });
});
