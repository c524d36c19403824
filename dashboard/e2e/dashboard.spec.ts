/**
 * The dashboard in headless Chromium, driven like a user: read markets and an address without an
 * account, sign in through wagmi with an EIP-6963 test wallet, build a portfolio for the seeded
 * address, read markets and their charts, create a rule and receive its notification live,
 * prepare and send a transaction, billing, every page at desktop and phone width (axe-core, no
 * cut columns, screenshots), sign out.
 * Runs against TIDEWATCH_E2E_BASE_URL (the local run) or, by default, the mock API server.
 */
import { mkdirSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { privateKeyToAccount } from "viem/accounts";
import { e2eEnv } from "./env";
import { TestWallet } from "./wallet";
import { axeSerious, chartInk, cutContent } from "./checks";

const env = e2eEnv();
const baseUrl = inject("baseUrl");
const mock = inject("mock");
const SHOTS = new URL("../test-results/screenshots/", import.meta.url).pathname;
const seeded = env.seededAddress ?? privateKeyToAccount(env.privateKey).address;
const portfolioName = `E2E ${new Date().toISOString().slice(0, 19)}`;

let browser: Browser;
let context: BrowserContext;
let page: Page;
let wallet: TestWallet;
const pageErrors: string[] = [];
let marketPath = "/markets";
let portfolioPath = "/portfolios";

/** The page as it settles: heading shown, nothing loading. */
async function settled() {
  await page.locator("main h1").first().waitFor();
  await expect.poll(() => page.locator(".state-loading").count(), { timeout: 30_000 }).toBe(0);
}

/** Screenshot, axe-core and the fit check of the page on screen, named for its width. */
async function inspect(name: string) {
  const width = page.viewportSize()?.width ?? 0;
  const label = `${width >= 1000 ? "desktop" : "phone"}-${name}`;
  await settled();
  await shot(label);
  expect(await cutContent(page), `${label}: cut content`).toEqual([]);
  expect(await axeSerious(page, label), `${label}: serious/critical axe violations`).toEqual([]);
}

async function shot(name: string) {
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
}

async function liveStatusIs(text: string, timeout = 15_000) {
  await expect.poll(async () => (await page.getByTestId("live-status").innerText()).trim(), { timeout }).toBe(text);
}

async function go(hashPath: string) {
  await page.goto(`${baseUrl}/#${hashPath}`);
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: env.chromium,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on("pageerror", (err) => pageErrors.push(String(err)));
  wallet = new TestWallet({
    privateKey: env.privateKey,
    chainId: env.chainId,
    rpcUrl: env.rpcUrl ?? (mock ? `${baseUrl}/rpc` : "http://127.0.0.1:8545"),
    mode: env.walletMode,
  });
  await wallet.install(page);
});

afterEach(async (ctx) => {
  // A failing step leaves a picture of what the user saw.
  if (ctx.task.result?.state === "fail" && page) {
    const name = ctx.task.name.replace(/[^A-Za-z0-9]+/g, "-").slice(0, 60);
    await page.screenshot({ path: `${SHOTS}FAILED-${name}.png`, fullPage: true }).catch(() => undefined);
  }
});

afterAll(async () => {
  await browser?.close();
});

describe("Tidewatch dashboard", () => {
  it("shows markets and any address's positions to a visitor without an account", async () => {
    // Given a first visit: no session, no configuration
    await go("/");
    // Then the markets are there at once, and an address can be looked up
    await page.getByRole("heading", { name: "Markets", level: 1 }).waitFor();
    await page.getByTestId("markets-table").locator("tbody tr").first().waitFor();
    await shot("00-public-markets");
    await page.getByRole("link", { name: "Address" }).click();
    await page.getByLabel("Address", { exact: true }).fill(seeded.toLowerCase());
    await page.getByRole("button", { name: "Show positions" }).click();
    await page.waitForURL(new RegExp(`#/address/${seeded}$`));
    await page.getByTestId("position-row").first().waitFor({ timeout: 60_000 });
    expect(await page.getByTestId("min-hf").innerText()).toMatch(/^\d+\.\d\d$/);
    await shot("00-public-address");
  });

  it("signs in through wagmi with the discovered wallet using only the keyboard", async () => {
    // Given a visitor without a session
    await go("/portfolios");
    await page.getByRole("heading", { name: "Sign in to Tidewatch" }).waitFor();
    // The test wallet announced itself over EIP-6963 and is listed by its name
    await page.getByRole("button", { name: "Sign in with Tidewatch Test Wallet" }).waitFor();
    await shot("01-sign-in");
    // When they Tab to the wallet button and press Enter
    for (let i = 0; i < 25; i++) {
      await page.keyboard.press("Tab");
      const label = await page.evaluate(() => document.activeElement?.textContent ?? "");
      if (label.includes("Sign in with Tidewatch Test Wallet")) break;
    }
    expect(await page.evaluate(() => document.activeElement?.textContent)).toContain("Sign in with Tidewatch Test Wallet");
    await page.keyboard.press("Enter");
    // Then the wallet signed an EIP-4361 message for this site and they land on their portfolios
    await page.getByRole("heading", { name: "Portfolios", level: 1 }).waitFor();
    const sign = wallet.log.find((l) => l.method === "personal_sign");
    const message = Buffer.from(String((sign?.params as string[])[0]).slice(2), "hex").toString("utf8");
    expect(message).toContain(`${new URL(baseUrl).host} wants you to sign in with your Ethereum account:\n${wallet.address}`);
    expect(message).toMatch(/\nNonce: [A-Za-z0-9]{8,}\n/);
    await liveStatusIs("Live");
  });

  it("keeps the session across a reload", async () => {
    await page.reload();
    await page.getByRole("heading", { name: "Portfolios", level: 1 }).waitFor();
    expect(await page.evaluate(() => localStorage.getItem("tidewatch.session"))).toContain("refreshToken");
    await shot("02-portfolios-empty");
  });

  it("validates addresses and creates a portfolio for the seeded address", async () => {
    // Given the new-portfolio form
    await page.getByLabel("Name", { exact: true }).fill(portfolioName);
    const addressInput = page.getByLabel("Add address");
    // When a malformed address is added, then it is refused with a reason at the field
    await addressInput.fill("0x1234");
    await page.getByRole("button", { name: "Add", exact: true }).click();
    await page.getByText("An address is 0x followed by 40 hexadecimal digits.").waitFor();
    // When the seeded address is typed in lower case, then it is accepted and checksummed
    await addressInput.fill(seeded.toLowerCase());
    await addressInput.press("Enter");
    await page.locator(".address-list code", { hasText: seeded }).waitFor();
    await page.getByRole("button", { name: "Create portfolio" }).click();
    // Then the portfolio page shows its Aave and Compound positions with a health factor
    await page.getByRole("heading", { name: portfolioName, level: 1 }).waitFor();
    const rows = page.getByTestId("position-row");
    await rows.first().waitFor();
    const table = await page.getByRole("region", { name: "Positions table" }).innerText();
    expect(table).toContain("Aave v3");
    expect(table).toContain("Compound v3");
    expect(await page.getByTestId("min-hf").innerText()).toMatch(/^\d+\.\d\d$/);
    expect(await page.getByTestId("net-worth").innerText()).toMatch(/^-?\$[\d,]+\.\d\d$/);
    portfolioPath = new URL(page.url()).hash.slice(1);
    // Every view stores a snapshot: after a reload (or a few, while the API commits the first
    // view's snapshot) the chart holds at least two drawn points
    let ink = { points: [0], pixels: 0 };
    for (let attempt = 0; attempt < 8 && ink.points[0] < 2; attempt++) {
      if (attempt) await page.waitForTimeout(3_000);
      await page.reload();
      await page.getByTestId("position-row").first().waitFor();
      await page.getByRole("img", { name: /Net worth/ }).waitFor();
      ink = await chartInk(page, "chart-Net worth and lowest health factor", [37, 99, 235]);
    }
    expect(ink.points[0]).toBeGreaterThanOrEqual(2);
    expect(ink.pixels).toBeGreaterThan(20);
    await shot("03-portfolio-view");
  });

  it("renames the portfolio", async () => {
    await page.getByRole("button", { name: "Edit" }).click();
    await page.getByLabel("Name", { exact: true }).fill(`${portfolioName} (renamed)`);
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("heading", { name: `${portfolioName} (renamed)`, level: 1 }).waitFor();
  });

  it("shows a sortable, filterable market table and a market's rate history", async () => {
    await page.getByRole("link", { name: "Markets" }).click();
    const table = page.getByTestId("markets-table");
    await table.locator("tbody tr").first().waitFor();
    const total = await table.locator("tbody tr").count();
    expect(total).toBeGreaterThan(1);
    // Sort by supply APY: descending first, missing values last
    await page.getByRole("button", { name: "Supply APY" }).click();
    await expect.poll(() => page.locator("th", { hasText: "Supply APY" }).getAttribute("aria-sort")).toBe("descending");
    const apys = (await table.locator("tbody tr td:nth-child(4)").allInnerTexts()).filter((t) => t !== "—").map((t) => Number.parseFloat(t));
    expect(apys).toEqual([...apys].sort((a, b) => b - a));
    // Filter: only USDC markets remain
    await page.getByLabel("Search", { exact: true }).fill("USDC");
    await expect.poll(async () => (await table.locator("tbody tr td:nth-child(3)").allInnerTexts()).every((t) => t.includes("USDC"))).toBe(true);
    await shot("04-markets");
    await table.locator("tbody tr td:nth-child(3) a").first().click();
    await page.getByRole("heading", { name: "Rate history" }).waitFor();
    marketPath = new URL(page.url()).hash.slice(1);
    // The rate chart is drawn with the stored history (a fresh run has a few readings: ingest
    // runs every tick), supply in green on its own scale
    await expect
      .poll(
        async () => {
          if (await page.getByTestId("chart-Supply and borrow APY").count()) return true;
          await page.reload();
          return false;
        },
        { timeout: 60_000, interval: 5_000 },
      )
      .toBe(true);
    await page.getByRole("img", { name: /Supply and borrow APY/ }).waitFor();
    const ink = await chartInk(page, "chart-Supply and borrow APY", [5, 150, 105]);
    expect(ink.points[0]).toBeGreaterThanOrEqual(1);
    expect(ink.pixels).toBeGreaterThan(5);
    // The range buttons zoom; "All" is the default
    expect(await page.getByRole("button", { name: "All" }).getAttribute("aria-pressed")).toBe("true");
    await page.getByRole("button", { name: "24 h" }).click();
    expect(await page.getByRole("button", { name: "24 h" }).getAttribute("aria-pressed")).toBe("true");
    // Hovering the plot shows each series' value at that time
    const box = (await page.locator(".ts-plot").boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.move(box.x + box.width - 60, box.y + box.height / 2, { steps: 8 });
    await expect.poll(() => page.locator(".chart-legend").innerText()).toMatch(/Supply APY: (\d|—)/);
    await shot("05-market");
    if (mock) {
      // A market with an APY outlook: the forecast band is drawn after "now"
      await go("/markets/1");
      await page.getByRole("img", { name: /Forecast 24 h 3\.91 %–4\.62 %/ }).waitFor();
      const band = await chartInk(page, "chart-Supply and borrow APY", [124, 58, 237]);
      expect(band.pixels).toBeGreaterThan(5);
      await shot("05-market-forecast");
    }
  });

  it("creates a rule with field-level errors, then receives its notification live", async () => {
    await page.getByRole("link", { name: "Rules" }).click();
    await page.getByRole("link", { name: "New rule" }).click();
    await page.getByLabel("Name", { exact: true }).waitFor();
    // A value the form itself refuses is flagged at its field
    await page.getByLabel("Name", { exact: true }).fill("E2E health factor watch");
    await page.getByLabel("Health factor", { exact: true }).fill("0.5");
    await page.getByRole("button", { name: "Create rule" }).click();
    await page.getByText("Health factor must be at least 1.").waitFor();
    expect(await page.getByLabel("Health factor", { exact: true }).getAttribute("aria-invalid")).toBe("true");
    // Any position with debt has a health factor below 10, so the rule fires on its next evaluation
    await page.getByLabel("Health factor", { exact: true }).fill("10");
    if (mock) {
      // The server's own validation error lands at the field it names
      await page.getByRole("button", { name: "Add action" }).click();
      await page.getByLabel("URL", { exact: true }).fill("http://hooks.example.test/x");
      await page.getByRole("button", { name: "Create rule" }).click();
      await page.getByText("Webhook URLs must use https", { exact: true }).waitFor();
      expect(await page.getByLabel("URL", { exact: true }).getAttribute("aria-invalid")).toBe("true");
      await shot("06-rule-form-server-error");
      await page.getByRole("button", { name: "Remove action 2" }).click();
    }
    await page.getByRole("button", { name: "Create rule" }).click();
    await page.getByRole("heading", { name: "E2E health factor watch", level: 1 }).waitFor();
    // The notification arrives over the WebSocket as a toast, without a reload
    // (live notifications are "info" toasts; the "rule created" confirmation is a "success" one)
    const toast = page.locator(".toast-info").first();
    await toast.waitFor({ timeout: env.notifyTimeoutMs });
    await shot("07-rule-notification-toast");
    // Dry run and disable
    await page.getByRole("button", { name: "Test now (dry run)" }).click();
    await page.getByTestId("test-result").waitFor();
    await page.getByRole("button", { name: "Disable" }).click();
    await page.getByRole("button", { name: "Enable" }).waitFor();
    // Delete it again, through the confirmation dialog (keeps a free plan's rule quota for reruns)
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await page.getByRole("alertdialog", { name: "Delete rule?" }).getByRole("button", { name: "Delete rule" }).click();
    await page.getByRole("heading", { name: "Rules", level: 1 }).waitFor();
    await page.getByRole("link", { name: /Notifications/ }).click();
    await page.getByTestId("notification-list").locator("li").first().waitFor();
    await shot("08-notifications");
  });

  it("prepares a transaction and sends it through the wallet", async () => {
    await page.getByRole("link", { name: "Transactions" }).click();
    await page.getByLabel("Portfolio", { exact: true }).waitFor();
    const portfolioValue = await page.getByLabel("Portfolio", { exact: true }).locator("option", { hasText: portfolioName }).first().getAttribute("value");
    await page.getByLabel("Portfolio", { exact: true }).selectOption(portfolioValue!);
    await page.getByLabel("From address", { exact: true }).selectOption(seeded);
    const marketPattern = new RegExp(process.env.TIDEWATCH_E2E_TX_MARKET ?? "USDC · Aave v3");
    const marketValue = await page.getByLabel("Market", { exact: true }).locator("option", { hasText: marketPattern }).first().getAttribute("value");
    await page.getByLabel("Market", { exact: true }).selectOption(marketValue!);
    await page.getByLabel("Action", { exact: true }).selectOption(process.env.TIDEWATCH_E2E_TX_ACTION ?? "supply");
    await page.getByLabel(/^Amount/).fill(process.env.TIDEWATCH_E2E_TX_AMOUNT ?? "1");
    await page.getByRole("button", { name: "Prepare", exact: true }).click();
    const card = page.getByTestId("transaction-card").first();
    await card.getByText("Awaiting signature").waitFor();
    await shot("09-transaction-prepared");
    const steps = await card.locator(".steps li").count();
    await card.getByRole("button", { name: "Sign and send" }).click();
    // The mock confirms at once; the real API moves to confirmed when receipt polling runs (the
    // wallet function's schedule), so a relayed transaction is at least "Submitted" with a hash.
    const done = mock ? ["Confirmed"] : ["Submitted", "Confirmed"];
    await expect.poll(async () => done.includes(await card.getByTestId("tx-status").innerText()), { timeout: 60_000 }).toBe(true);
    await card.getByText(/^Hash/).waitFor();
    // Each step was signed once by the wallet: raw (the API broadcasts) or sent by the wallet itself
    const method = env.walletMode === "sign" ? "eth_signTransaction" : "eth_sendTransaction";
    expect(wallet.log.filter((l) => l.method === method)).toHaveLength(steps);
    await shot("10-transaction-confirmed");
  });

  it("shows the plan and upgrades through Checkout", async () => {
    await page.getByRole("link", { name: "Billing" }).click();
    await page.getByTestId("plan").waitFor();
    await shot("11-billing");
    if (!mock) return; // a real Checkout leaves the site
    expect(await page.getByTestId("plan").innerText()).toBe("Free");
    await page.getByRole("button", { name: "Upgrade to Pro" }).click();
    // Checkout returns to the server-configured URL, a path (/billing?checkout=success)
    await page.waitForURL(/#\/billing\?checkout=success$/);
    await page.getByText("Thank you! Your upgrade is being confirmed").waitFor();
    await expect.poll(() => page.getByTestId("plan").innerText()).toBe("Pro");
  });

  it("reconnects the live socket after the server drops it", async () => {
    if (!mock) return; // needs the mock's drop switch
    await liveStatusIs("Live");
    await page.evaluate((url) => fetch(`${url}/__test/drop-sockets`, { method: "POST" }), baseUrl);
    await liveStatusIs("Reconnecting");
    await liveStatusIs("Live", 20_000);
  });

  it("shows every page whole and accessible at desktop and phone width", async () => {
    const pages: Array<[string, string]> = [
      ["/markets", "markets"],
      [marketPath, "market"],
      [`/address/${seeded}`, "address"],
      ["/portfolios", "portfolios"],
      [portfolioPath, "portfolio"],
      ["/rules", "rules"],
      ["/rules/new", "rule-form"],
      ["/transactions", "transactions"],
      ["/notifications", "notifications"],
      ["/billing", "billing"],
    ];
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width > 1000 ? 900 : 844 });
      for (const [path, name] of pages) {
        await go(path);
        await inspect(name);
      }
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("deletes the portfolio after confirmation", async () => {
    await go("/portfolios");
    const name = `${portfolioName} (renamed)`;
    await page.getByRole("button", { name: `Delete ${name}` }).click();
    const dialog = page.getByRole("alertdialog", { name: "Delete portfolio?" });
    // Cancel keeps it; Escape works as Cancel
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "detached" });
    await page.getByRole("button", { name: `Delete ${name}` }).click();
    await dialog.getByRole("button", { name: "Delete portfolio" }).click();
    await page.getByRole("link", { name }).waitFor({ state: "detached" });
  });

  it("signs out and forgets the session", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to Tidewatch" }).waitFor();
    expect(await page.evaluate(() => localStorage.getItem("tidewatch.session"))).toBeNull();
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: width > 1000 ? 900 : 844 });
      await go("/signin");
      await inspect("sign-in");
    }
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(pageErrors).toEqual([]);
  });

  it("explains a refused signature in place", async () => {
    await go("/signin");
    wallet.refuseSigning = true;
    try {
      await page.getByRole("button", { name: "Sign in with Tidewatch Test Wallet" }).click();
      await page.getByRole("alert").getByText("You rejected the request in your wallet.").waitFor();
      await shot("14-sign-in-refused");
    } finally {
      wallet.refuseSigning = false;
    }
  });

  it("offers the devnet's seeded accounts in the local run: one click and the user is inside", async () => {
    if (mock) return; // only `tidewatch dev` with its devnet serves them
    await go("/signin");
    const signatures = wallet.log.filter((l) => l.method === "personal_sign").length;
    await page.getByRole("button", { name: "Sign in as bob-near-liquidation" }).click();
    await page.getByRole("heading", { name: "Portfolios", level: 1 }).waitFor();
    // Signed on the local side with the seeded key, not by the browser wallet
    expect(wallet.log.filter((l) => l.method === "personal_sign")).toHaveLength(signatures);
    expect(await page.evaluate(() => localStorage.getItem("tidewatch.session"))).toContain("refreshToken");
    await shot("15-dev-account-signed-in");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("heading", { name: "Sign in to Tidewatch" }).waitFor();
  });

  it("serves the API docs without reaching the internet", async () => {
    if (mock) return; // the local gateway serves /api/docs
    const outside: string[] = [];
    const watch = (r: { url(): string }) => {
      const url = new URL(r.url());
      if (url.protocol.startsWith("http") && !["127.0.0.1", "localhost"].includes(url.hostname)) outside.push(r.url());
    };
    page.on("request", watch);
    try {
      await page.goto(`${baseUrl}/api/docs`);
      await page.locator(".swagger-ui .info .title").waitFor();
      expect(await page.locator(".swagger-ui .info .title").innerText()).toContain("Tidewatch API");
      await page.locator(".opblock-summary-path", { hasText: "/markets/{market_id}/history" }).first().waitFor();
      await shot("16-api-docs");
      expect(outside).toEqual([]);
    } finally {
      page.off("request", watch);
    }
  });

  it("answered only as docs/openapi.json documents (mock API)", async () => {
    if (!mock) return; // the real API is the spec's source
    const { violations } = (await (await fetch(`${baseUrl}/__test/violations`)).json()) as { violations: string[] };
    expect(violations).toEqual([]);
  });
});
