import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { privateKeyToAccount } from "viem/accounts";
import { App } from "../App";
import { memorySessionStore, type StoredSession } from "../auth/tokens";
import type { SocketLike } from "../live/socket";
import { ConfirmDialog } from "../components/ConfirmDialog";

const CONFIG = { apiBaseUrl: "/api", wsUrl: "ws://test/ws", walletConnectProjectId: "", environment: "", devSignIn: false };

type Request = (args: { method: string; params?: unknown }) => Promise<unknown>;
declare global {
  interface Window {
    ethereum?: { request: Request; on?: () => void; removeListener?: () => void };
  }
}
const SESSION: StoredSession = { accessToken: "a", refreshToken: "r", accessExpiresAt: Date.now() + 3_600_000, address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" };

const silentSocket = (): SocketLike => ({ readyState: 0, onopen: null, onclose: null, onerror: null, onmessage: null, send: () => undefined, close: () => undefined });

type Handler = (method: string, path: string, body: unknown) => { status: number; body?: unknown } | undefined;

function api(handler: Handler) {
  const calls: Array<{ method: string; path: string; body: unknown }> = [];
  const fetchImpl = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input), "http://test");
    const method = init?.method ?? "GET";
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    calls.push({ method, path: url.pathname.replace(/^\/api/, ""), body });
    const r = handler(method, url.pathname.replace(/^\/api/, ""), body) ?? { status: 404, body: { type: "x/not-found", title: "Not found", status: 404 } };
    return new Response(r.body === undefined ? null : JSON.stringify(r.body), { status: r.status, headers: { "Content-Type": r.status >= 400 ? "application/problem+json" : "application/json" } });
  });
  return { fetchImpl: fetchImpl as unknown as typeof fetch, calls };
}

const MARKETS = {
  items: [
    { id: 1, chain_id: 1, protocol: "aave-v3", market_key: "0x1", asset_symbol: "USDC", asset_address: "0x1", asset_decimals: 6, latest: { block_number: 1, observed_at: "2026-01-01T00:00:00Z", supply_apy: "0.04", borrow_apy: "0.05", utilization: "0.8", total_supplied: 5_000_000_000_000, price_usd: "1" } },
    { id: 2, chain_id: 8453, protocol: "compound-v3", market_key: "0x2", asset_symbol: "USDC", asset_address: "0x2", asset_decimals: 6, latest: { block_number: 1, observed_at: "2026-01-01T00:00:00Z", supply_apy: "0.06", borrow_apy: "0.07", utilization: "0.9", total_supplied: 1_000_000_000_000, price_usd: "1" } },
    { id: 3, chain_id: 1, protocol: "aave-v3", market_key: "0x3", asset_symbol: "WETH", asset_address: "0x3", asset_decimals: 18, latest: null },
  ],
  next_cursor: null,
};

afterEach(() => {
  cleanup();
  window.location.hash = "";
  delete window.ethereum;
  localStorage.clear();
});

describe("rule form", () => {
  it("shows the server's validation errors at the fields they name", async () => {
    // Given the API refuses the rule, naming the trigger threshold and the cadence
    window.location.hash = "#/rules/new";
    const { fetchImpl, calls } = api((method, path) => {
      if (path === "/portfolios") return { status: 200, body: { items: [{ id: 7, name: "Main", wallets: [], chains: [1] }], next_cursor: null } };
      if (path === "/markets") return { status: 200, body: MARKETS };
      if (path === "/billing") return { status: 200, body: { plan: "free", entitlements: { min_rule_cadence_seconds: 300 } } };
      if (path === "/rules" && method === "POST")
        return {
          status: 422,
          body: {
            type: "https://tidewatch.dev/problems/validation-error",
            title: "Invalid input",
            status: 422,
            detail: "trigger.threshold: too high",
            errors: [
              { field: "trigger.threshold", message: "Input should be less than or equal to 100", in: "body" },
              { field: "cadence_seconds", message: "Faster than your plan allows", in: "body" },
            ],
          },
        };
    });
    render(<App config={CONFIG} store={memorySessionStore(SESSION)} fetchImpl={fetchImpl} createSocket={silentSocket} />);
    const user = userEvent.setup();
    // When the user fills the form and submits
    await user.type(await screen.findByLabelText("Name"), "Watch HF");
    const threshold = screen.getByLabelText("Health factor");
    await user.clear(threshold);
    await user.type(threshold, "99");
    expect(screen.getByLabelText("Check every (seconds)")).toHaveValue(300); // the plan's fastest cadence
    await user.click(screen.getByRole("button", { name: "Create rule" }));
    // Then each message sits under its field, which is marked invalid and described by it
    const message = await screen.findByText("Input should be less than or equal to 100");
    expect(threshold).toHaveAttribute("aria-invalid", "true");
    expect(threshold.getAttribute("aria-describedby")).toContain(message.id);
    expect(screen.getByLabelText("Check every (seconds)")).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByText("Faster than your plan allows")).toBeInTheDocument();
    // And the body sent was the flat rule the schema describes
    expect(calls.find((c) => c.method === "POST")?.body).toMatchObject({
      name: "Watch HF",
      portfolio_id: 7,
      trigger: { type: "health_factor_below", threshold: 99 },
      actions: [{ type: "notify" }],
      conditions: null,
      cadence_seconds: 300,
    });
  });

  it("guides each trigger type with its own fields", async () => {
    window.location.hash = "#/rules/new";
    const { fetchImpl } = api((_m, path) =>
      path === "/portfolios" ? { status: 200, body: { items: [], next_cursor: null } } : path === "/markets" ? { status: 200, body: MARKETS } : { status: 503, body: { status: 503, title: "Billing unavailable" } },
    );
    render(<App config={CONFIG} store={memorySessionStore(SESSION)} fetchImpl={fetchImpl} createSocket={silentSocket} />);
    const user = userEvent.setup();
    await user.selectOptions(await screen.findByLabelText("Trigger"), "APY spread between two markets");
    expect(screen.getByLabelText("Market A")).toBeInTheDocument();
    expect(within(screen.getByLabelText("Market B")).getByRole("option", { name: "USDC · Compound v3 · Base" })).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText("Trigger"), "Asset price change");
    expect(screen.getByLabelText("Asset symbol")).toBeInTheDocument();
    expect(screen.getByLabelText("Window (seconds)")).toBeInTheDocument();
    await user.selectOptions(screen.getByLabelText("Action 1"), "Webhook (HMAC signed)");
    expect(screen.getByLabelText("URL")).toBeInTheDocument();
  });
});

describe("sign-in", () => {
  it("signs an EIP-4361 message with the injected wallet and lands on the portfolios", async () => {
    // Given an injected wallet backed by a real key and an API that checks the signature
    const account = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
    window.ethereum = {
      on: () => undefined,
      removeListener: () => undefined,
      request: async ({ method, params }) => {
        if (method === "eth_requestAccounts" || method === "eth_accounts") return [account.address.toLowerCase()];
        if (method === "eth_chainId") return "0x2105";
        if (method === "personal_sign") return account.signMessage({ message: { raw: (params as [`0x${string}`])[0] } });
        return null;
      },
    };
    let verified = "";
    const { fetchImpl } = api((method, path, body) => {
      if (path === "/auth/nonce") return { status: 200, body: { nonce: "abcdef1234567890", expires_in: 300 } };
      if (path === "/auth/verify" && method === "POST") {
        const { message } = body as { message: string };
        verified = message;
        return { status: 200, body: { access_token: "x.eyJleHAiOjQxMDI0NDQ4MDB9.y", refresh_token: "r", expires_in: 900, user: { id: 1, address: account.address, plan: "free" } } };
      }
      if (path === "/portfolios") return { status: 200, body: { items: [], next_cursor: null } };
    });
    const store = memorySessionStore();
    window.location.hash = "#/signin";
    render(<App config={CONFIG} store={store} fetchImpl={fetchImpl} createSocket={silentSocket} />);
    const user = userEvent.setup();
    // When the visitor signs in
    await user.click(await screen.findByRole("button", { name: "Sign in with browser wallet" }));
    // Then the portfolios page shows its empty state, and the session is stored
    expect(await screen.findByText("No portfolios yet")).toBeInTheDocument();
    expect(store.load()).toMatchObject({ address: account.address, refreshToken: "r" });
    expect(verified).toContain(`${window.location.host} wants you to sign in with your Ethereum account:\n${account.address}\n`);
    expect(verified).toContain("Chain ID: 8453\nNonce: abcdef1234567890\n");
    expect(screen.queryByRole("button", { name: "Sign in with browser wallet" })).toBeNull();
  });

  it("explains a refused signature", async () => {
    window.ethereum = {
      on: () => undefined,
      removeListener: () => undefined,
      request: async ({ method }) => {
        if (method === "eth_requestAccounts" || method === "eth_accounts") return ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"];
        if (method === "eth_chainId") return "0x1";
        throw Object.assign(new Error("User rejected"), { code: 4001 });
      },
    };
    const { fetchImpl } = api((_m, path) => (path === "/auth/nonce" ? { status: 200, body: { nonce: "abcdef1234567890" } } : undefined));
    window.location.hash = "#/signin";
    render(<App config={CONFIG} store={memorySessionStore()} fetchImpl={fetchImpl} createSocket={silentSocket} />);
    await userEvent.setup().click(await screen.findByRole("button", { name: "Sign in with browser wallet" }));
    expect(await screen.findByText("You rejected the request in your wallet.")).toBeInTheDocument();
    // WalletConnect is shown as unavailable without a project id
    expect(screen.getByText(/WalletConnect is unavailable: no project id/)).toBeInTheDocument();
  });
});

describe("sign-in on a wrong chain", () => {
  it("asks the wallet to switch to Ethereum and says so in place when it refuses", async () => {
    // Given a wallet on Optimism that refuses to switch networks
    const asked: string[] = [];
    window.ethereum = {
      on: () => undefined,
      removeListener: () => undefined,
      request: async ({ method }) => {
        asked.push(method);
        if (method === "eth_requestAccounts" || method === "eth_accounts") return ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8"];
        if (method === "eth_chainId") return "0xa";
        if (method === "wallet_switchEthereumChain" || method === "personal_sign") throw Object.assign(new Error("User rejected the switch"), { code: 4001 });
        return null;
      },
    };
    const { fetchImpl, calls } = api(() => undefined);
    window.location.hash = "#/signin";
    render(<App config={CONFIG} store={memorySessionStore()} fetchImpl={fetchImpl} createSocket={silentSocket} />);
    // When the visitor signs in
    await userEvent.setup().click(await screen.findByRole("button", { name: "Sign in with browser wallet" }));
    // Then the switch was asked for, refused, and the page says what to do; nothing was signed
    expect(await screen.findByRole("alert")).toHaveTextContent(/Your wallet is on chain 10; Tidewatch signs in on Ethereum or Base/i);
    expect(asked).toContain("wallet_switchEthereumChain");
    expect(asked).not.toContain("personal_sign");
    expect(calls.some((c) => c.path === "/auth/verify")).toBe(false);
  });
});

describe("expired session", () => {
  it("sends the user to sign in with a message when the refresh token is refused", async () => {
    // Given a stored session whose access token expired and whose refresh the API refuses
    window.location.hash = "#/portfolios";
    const expired = { ...SESSION, accessExpiresAt: Date.now() - 60_000 };
    const { fetchImpl } = api((_m, path) =>
      path === "/auth/refresh" ? { status: 401, body: { type: "x/refresh-token-invalid", title: "Authentication required", status: 401 } } : undefined,
    );
    const store = memorySessionStore(expired);
    render(<App config={CONFIG} store={store} fetchImpl={fetchImpl} createSocket={silentSocket} />);
    // Then the sign-in page says why, and the session is gone
    expect(await screen.findByText("Your session expired. Sign in again to continue.")).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "Sign in to Tidewatch" })).toBeInTheDocument();
    expect(store.load()).toBeNull();
  });
});

describe("public pages", () => {
  it("shows the markets to a visitor who has not signed in, without a token", async () => {
    window.location.hash = "#/markets";
    const { fetchImpl } = api((_m, path) => (path === "/markets" ? { status: 200, body: MARKETS } : undefined));
    const seen: Array<string | null> = [];
    const spy = (async (input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(new Headers(init?.headers).get("Authorization"));
      return fetchImpl(input, init);
    }) as typeof fetch;
    render(<App config={CONFIG} store={memorySessionStore()} fetchImpl={spy} createSocket={silentSocket} />);
    expect(await screen.findByTestId("markets-table")).toBeInTheDocument();
    expect(seen).toEqual([null]);
    expect(screen.getByRole("link", { name: "Sign in" })).toBeInTheDocument();
  });
});

describe("markets table", () => {
  it("sorts by a column header and filters by text", async () => {
    window.location.hash = "#/markets";
    const { fetchImpl } = api((_m, path) => (path === "/markets" ? { status: 200, body: MARKETS } : undefined));
    render(<App config={CONFIG} store={memorySessionStore(SESSION)} fetchImpl={fetchImpl} createSocket={silentSocket} />);
    const user = userEvent.setup();
    const table = await screen.findByTestId("markets-table");
    const assets = () => within(table).getAllByRole("row").slice(1).map((r) => within(r).getAllByRole("cell")[3].textContent);
    // Sorting by supply APY: largest first, a market without rates at the bottom; again: ascending
    await user.click(within(table).getByRole("button", { name: /Supply APY/ }));
    expect(within(table).getByRole("columnheader", { name: /Supply APY/ })).toHaveAttribute("aria-sort", "descending");
    expect(assets()).toEqual(["6.00 %", "4.00 %", "—"]);
    await user.click(within(table).getByRole("button", { name: /Supply APY/ }));
    expect(assets()).toEqual(["4.00 %", "6.00 %", "—"]);
    await user.type(screen.getByLabelText("Search"), "weth");
    expect(within(table).getAllByRole("row")).toHaveLength(2);
    expect(screen.getByText("1 of 3 markets")).toBeInTheDocument();
  });

  it("shows an error with a retry when the API fails", async () => {
    window.location.hash = "#/markets";
    let fail = true;
    const { fetchImpl } = api((_m, path) => {
      if (path !== "/markets") return undefined;
      if (fail) return { status: 503, body: { type: "x/unavailable", title: "Service unavailable", status: 503, detail: "Try later." } };
      return { status: 200, body: MARKETS };
    });
    render(<App config={CONFIG} store={memorySessionStore(SESSION)} fetchImpl={fetchImpl} createSocket={silentSocket} />);
    expect(await screen.findByRole("alert")).toHaveTextContent("Service unavailable: Try later.");
    fail = false;
    await userEvent.setup().click(screen.getByRole("button", { name: "Try again" }));
    await waitFor(() => expect(screen.getByTestId("markets-table")).toBeInTheDocument());
  });
});

describe("ConfirmDialog", () => {
  it("focuses Cancel, and Escape cancels", async () => {
    const onCancel = vi.fn();
    const onConfirm = vi.fn();
    render(<ConfirmDialog title="Delete?" message="Gone for good." confirmLabel="Delete" onConfirm={onConfirm} onCancel={onCancel} />);
    expect(screen.getByRole("button", { name: "Cancel" })).toHaveFocus();
    expect(screen.getByRole("alertdialog", { name: "Delete?" })).toHaveAccessibleDescription("Gone for good.");
    await userEvent.setup().keyboard("{Escape}");
    expect(onCancel).toHaveBeenCalledOnce();
    expect(onConfirm).not.toHaveBeenCalled();
  });
});
