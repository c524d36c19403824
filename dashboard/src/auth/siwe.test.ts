// @vitest-environment node
import { describe, expect, it } from "vitest";
import { privateKeyToAccount } from "viem/accounts";
import { recoverMessageAddress } from "viem";
import { buildSiweMessage, dashboardSiweMessage } from "./siwe";
import { personalSign } from "../wallet/eip1193";

const KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d" as const;
const ADDRESS = privateKeyToAccount(KEY).address;

describe("buildSiweMessage", () => {
  it("lays out the EIP-4361 fields in order with a checksummed address", () => {
    // Given a lower-case address and every optional field
    const message = buildSiweMessage({
      domain: "app.tidewatch.test",
      address: ADDRESS.toLowerCase(),
      statement: "Sign in to Tidewatch.",
      uri: "https://app.tidewatch.test",
      chainId: 8453,
      nonce: "abcDEF12345",
      issuedAt: new Date("2026-01-02T03:04:05.678Z"),
      expirationTime: new Date("2026-01-02T03:14:05Z"),
      notBefore: new Date("2026-01-02T03:00:00Z"),
      requestId: "req-1",
      resources: ["https://a.test/1", "ipfs://x"],
    });
    // Then the text is exactly the spec's layout (milliseconds dropped, address EIP-55)
    expect(message).toBe(
      [
        "app.tidewatch.test wants you to sign in with your Ethereum account:",
        ADDRESS,
        "",
        "Sign in to Tidewatch.",
        "",
        "URI: https://app.tidewatch.test",
        "Version: 1",
        "Chain ID: 8453",
        "Nonce: abcDEF12345",
        "Issued At: 2026-01-02T03:04:05Z",
        "Expiration Time: 2026-01-02T03:14:05Z",
        "Not Before: 2026-01-02T03:00:00Z",
        "Request ID: req-1",
        "Resources:",
        "- https://a.test/1",
        "- ipfs://x",
      ].join("\n"),
    );
  });

  it("puts two empty lines after the address when there is no statement (the ABNF)", () => {
    const message = buildSiweMessage({ domain: "d.test", address: ADDRESS, uri: "https://d.test", chainId: 1, nonce: "12345678", issuedAt: new Date(0) });
    expect(message.split("\n").slice(0, 5)).toEqual(["d.test wants you to sign in with your Ethereum account:", ADDRESS, "", "", "URI: https://d.test"]);
  });

  it("refuses nonces the spec does not allow", () => {
    expect(() => buildSiweMessage({ domain: "d", address: ADDRESS, uri: "https://d", chainId: 1, nonce: "short", issuedAt: new Date() })).toThrow(/nonce/);
    expect(() => buildSiweMessage({ domain: "d", address: ADDRESS, uri: "https://d", chainId: 1, nonce: "has-dash-123", issuedAt: new Date() })).toThrow(/nonce/);
  });

  it("binds the dashboard message to the page origin and expires it", () => {
    const message = dashboardSiweMessage({
      location: { host: "localhost:8080", origin: "http://localhost:8080" },
      address: ADDRESS,
      chainId: 1,
      nonce: "n0nce1234",
      now: new Date("2026-05-01T00:00:00Z"),
    });
    expect(message).toContain("localhost:8080 wants you to sign in");
    expect(message).toContain("URI: http://localhost:8080");
    expect(message).toContain("Expiration Time: 2026-05-01T00:10:00Z");
  });

  it("produces a personal_sign request whose signature recovers to the signer", async () => {
    // Given a wallet backed by a real secp256k1 key that signs what personal_sign receives
    const account = privateKeyToAccount(KEY);
    const provider = {
      request: async ({ method, params }: { method: string; params?: unknown }) => {
        const [hex, addr] = params as [`0x${string}`, string];
        expect(method).toBe("personal_sign");
        expect(addr).toBe(ADDRESS);
        return account.signMessage({ message: { raw: hex } });
      },
    };
    const message = dashboardSiweMessage({ location: { host: "x.test", origin: "https://x.test" }, address: ADDRESS, chainId: 1, nonce: "abcdefgh1" });
    // When the dashboard asks for the signature
    const signature = await personalSign(provider, message, ADDRESS);
    // Then the server-side EIP-191 recovery over the same text yields the address
    expect(await recoverMessageAddress({ message, signature: signature as `0x${string}` })).toBe(ADDRESS);
  });
});
