// @vitest-environment node
import { describe, expect, it, vi } from "vitest";

const loaded = vi.hoisted(() => ({ count: 0, params: [] as unknown[] }));
// The real module opens a relay connection when its provider starts; offline, what can be checked
// is what Tidewatch asks of it and when it is loaded.
vi.mock("wagmi/connectors/walletConnect", () => {
  loaded.count++;
  return { walletConnect: (params: unknown) => (loaded.params.push(params), Object.assign(() => ({}), { type: "walletConnect" })) };
});

describe("wagmi config", () => {
  it("starts with the injected connector on Ethereum and Base, and EIP-6963 discovery on", async () => {
    const { createWagmiConfig } = await import("./wagmi");
    const config = createWagmiConfig();
    expect(config.chains.map((c) => c.id)).toEqual([1, 8453]);
    expect(config.connectors.map((c) => c.id)).toContain("injected");
    expect(config.connectors.some((c) => c.type === "walletConnect")).toBe(false);
    // WalletConnect's module has not been loaded by start-up
    expect(loaded.count).toBe(0);
  });

  it("loads WalletConnect on demand with the configured project id, the pairing modal and the site's metadata", async () => {
    const { walletConnectConnector } = await import("./wagmi");
    await walletConnectConnector("0123456789abcdef0123456789abcdef", "https://app.tidewatch.test");
    expect(loaded.count).toBe(1);
    expect(loaded.params[0]).toEqual({
      projectId: "0123456789abcdef0123456789abcdef",
      showQrModal: true,
      metadata: { name: "Tidewatch", description: "DeFi yield and liquidation risk", url: "https://app.tidewatch.test", icons: ["https://app.tidewatch.test/favicon.svg"] },
    });
  });
});
