// @vitest-environment node
import { describe, expect, it } from "vitest";
import { privateKeyToAccount } from "viem/accounts";
import { recoverMessageAddress } from "viem";
import { parseSiweMessage } from "viem/siwe";
import { dashboardSiweMessage, isSiweMessageFor, SIWE_STATEMENT } from "./siwe";

const KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d" as const;
const ACCOUNT = privateKeyToAccount(KEY);
const PAGE = { host: "app.tidewatch.test", origin: "https://app.tidewatch.test" };

describe("dashboardSiweMessage", () => {
  it("binds the page's host and origin, a checksummed address, the chain and a 10-minute expiry", () => {
    // Given a lower-case address and a fixed clock
    const now = new Date("2026-01-02T03:04:05Z");
    // When the sign-in message is built
    const message = dashboardSiweMessage({ location: PAGE, address: ACCOUNT.address.toLowerCase(), chainId: 8453, nonce: "abcDEF12345", now });
    // Then its EIP-4361 fields say exactly that
    expect(message.split("\n").slice(0, 4)).toEqual([
      "app.tidewatch.test wants you to sign in with your Ethereum account:",
      ACCOUNT.address,
      "",
      SIWE_STATEMENT,
    ]);
    const parsed = parseSiweMessage(message);
    expect(parsed).toMatchObject({ domain: PAGE.host, uri: PAGE.origin, chainId: 8453, nonce: "abcDEF12345", version: "1" });
    expect(parsed.expirationTime?.getTime()).toBe(now.getTime() + 10 * 60_000);
  });

  it("refuses a nonce the grammar does not allow", () => {
    expect(() => dashboardSiweMessage({ location: PAGE, address: ACCOUNT.address, chainId: 1, nonce: "short!" })).toThrow();
  });

  it("is what a personal_sign signature recovers to the signer", async () => {
    const message = dashboardSiweMessage({ location: PAGE, address: ACCOUNT.address, chainId: 1, nonce: "abcDEF12345" });
    const signature = await ACCOUNT.signMessage({ message });
    expect(await recoverMessageAddress({ message, signature })).toBe(ACCOUNT.address);
  });
});

describe("isSiweMessageFor", () => {
  const now = new Date("2026-01-02T03:04:05Z");
  const message = dashboardSiweMessage({ location: PAGE, address: ACCOUNT.address, chainId: 1, nonce: "abcDEF12345", now });

  it("accepts this page's message for this address while it is valid", () => {
    expect(isSiweMessageFor(message, { host: PAGE.host, address: ACCOUNT.address, now })).toBe(true);
  });

  it("refuses another site, another address, an expired message and junk", () => {
    expect(isSiweMessageFor(message, { host: "evil.test", address: ACCOUNT.address, now })).toBe(false);
    expect(isSiweMessageFor(message, { host: PAGE.host, address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", now })).toBe(false);
    expect(isSiweMessageFor(message, { host: PAGE.host, address: ACCOUNT.address, now: new Date(now.getTime() + 11 * 60_000) })).toBe(false);
    expect(isSiweMessageFor("please sign this", { host: PAGE.host, address: ACCOUNT.address, now })).toBe(false);
  });
});
