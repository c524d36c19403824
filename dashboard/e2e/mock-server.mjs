/**
 * A small stand-in for the Tidewatch API (HTTP + WebSocket) that serves the built dashboard from
 * dist/ on the same origin, as the local run does. It mimics the API's shapes and conventions
 * (RFC 9457 problems with field errors, cursor pages, SIWE with real signature recovery, rotating
 * refresh tokens) so the browser tests have a fast tier that needs no Postgres, Redis or devnet.
 *
 *   node e2e/mock-server.mjs [port]     # then open http://127.0.0.1:<port>/
 */
import { createServer } from "node:http";
import { randomBytes, randomUUID } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";
import { getAddress, isAddress, keccak256, recoverMessageAddress } from "viem";

const DIST = fileURLToPath(new URL("../dist/", import.meta.url));
const PROBLEM = "https://tidewatch.dev/problems/";
const MIME = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".json": "application/json", ".svg": "image/svg+xml", ".map": "application/json", ".png": "image/png" };

// Registry-like addresses so prepared transactions look like the real thing.
const AAVE_POOL = "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2";
const COMET_USDC = "0xc3d688B66703497DAA19211EEdff47f25384cdc3";

function b64url(obj) {
  return Buffer.from(JSON.stringify(obj)).toString("base64url");
}

function iso(msAgo = 0) {
  return new Date(Date.now() - msAgo).toISOString();
}

export function createMockApi(options = {}) {
  const accessTtl = options.accessTtlSeconds ?? 900;
  const seeded = options.seededAddress ? getAddress(options.seededAddress) : null;
  const state = {
    nonces: new Set(),
    access: new Map(), // token -> { userId, exp }
    refresh: new Map(), // token -> userId (rotating: used tokens are deleted)
    users: new Map(), // address -> { id, address, plan }
    portfolios: new Map(),
    rules: new Map(),
    executions: new Map(), // ruleId -> []
    notifications: [],
    transactions: new Map(),
    sockets: new Set(),
    seq: 100,
    chainNonce: new Map(), // address -> next nonce
  };
  const nextId = () => ++state.seq;

  const markets = [
    { id: 1, chain_id: 1, protocol: "aave-v3", market_key: "0xa0b8", asset_symbol: "USDC", supply_apy: "0.0412", borrow_apy: "0.0561", utilization: "0.78", tvl_usd: "2150000000", apy_forecast: { supply_apy: "0.0398", low: "0.031", high: "0.047", horizon_hours: 24 } },
    { id: 2, chain_id: 1, protocol: "aave-v3", market_key: "0xc02a", asset_symbol: "WETH", supply_apy: "0.0191", borrow_apy: "0.0262", utilization: "0.61", tvl_usd: "4800000000", apy_forecast: { supply_apy: "0.0187", low: "0.015", high: "0.022", horizon_hours: 24 } },
    { id: 3, chain_id: 1, protocol: "compound-v3", market_key: COMET_USDC, asset_symbol: "USDC", supply_apy: "0.0487", borrow_apy: "0.0633", utilization: "0.84", tvl_usd: "980000000", apy_forecast: { supply_apy: "0.0471", horizon_hours: 24 } },
    { id: 4, chain_id: 8453, protocol: "aave-v3", market_key: "0x8335", asset_symbol: "USDC", supply_apy: "0.0455", borrow_apy: "0.0598", utilization: "0.8", tvl_usd: "310000000", apy_forecast: null },
    { id: 5, chain_id: 8453, protocol: "compound-v3", market_key: "0xb125", asset_symbol: "USDC", supply_apy: "0.0521", borrow_apy: "0.0675", utilization: "0.87", tvl_usd: "145000000", apy_forecast: { supply_apy: "0.05", horizon_hours: 24 } },
    { id: 6, chain_id: 1, protocol: "eigenlayer", market_key: "0x93c4", asset_symbol: "stETH", supply_apy: null, borrow_apy: null, utilization: null, tvl_usd: "1200000000", apy_forecast: null },
  ].map((m) => ({ ...m, observed_at: iso(40_000) }));

  function positionsFor(address) {
    // The seeded address holds an Aave borrow against WETH and a Compound supply, like the devnet seed.
    if (!seeded || address !== seeded) return [];
    return [
      { address, chain_id: 1, protocol: "aave-v3", market_id: 2, asset_symbol: "WETH", supplied_usd: "12500.00", borrowed_usd: "0", supply_apy: "0.0191", borrow_apy: null, health_factor: "1.42", liquidation_price_usd: "2212.40", liquidation_buffer: "0.2957", risk: { probability: 0.034, band: "medium", hf_low: "1.18", hf_high: "1.61", horizon_hours: 24 }, as_of: iso(30_000) },
      { address, chain_id: 1, protocol: "aave-v3", market_id: 1, asset_symbol: "USDC", supplied_usd: "0", borrowed_usd: "6800.00", supply_apy: null, borrow_apy: "0.0561", health_factor: "1.42", liquidation_price_usd: null, liquidation_buffer: null, risk: null, as_of: iso(30_000) },
      { address, chain_id: 8453, protocol: "compound-v3", market_id: 5, asset_symbol: "USDC", supplied_usd: "3000.00", borrowed_usd: "0", supply_apy: "0.0521", borrow_apy: null, health_factor: null, liquidation_price_usd: null, liquidation_buffer: null, risk: null, as_of: iso(95_000) },
    ];
  }

  function portfolioView(p) {
    const positions = p.addresses.flatMap(positionsFor);
    const sum = (k) => positions.reduce((s, x) => s + Number(x[k]), 0);
    const supplied = sum("supplied_usd");
    const borrowed = sum("borrowed_usd");
    return {
      ...p,
      net_worth_usd: (supplied - borrowed).toFixed(2),
      supplied_usd: supplied.toFixed(2),
      borrowed_usd: borrowed.toFixed(2),
      positions,
      staleness: [
        { source: "aave-v3", chain_id: 1, as_of: iso(30_000), age_seconds: 30, stale: false },
        { source: "compound-v3", chain_id: 8453, as_of: iso(95_000), age_seconds: 95, stale: true },
      ],
    };
  }

  // ---- helpers -------------------------------------------------------------------------------
  function send(res, status, body, headers = {}) {
    const isProblem = status >= 400;
    res.writeHead(status, { "Content-Type": isProblem ? "application/problem+json" : "application/json", "Cache-Control": "no-store", ...headers });
    res.end(body === undefined ? "" : JSON.stringify(body));
  }
  function problem(res, status, slug, title, detail, errors) {
    send(res, status, { type: PROBLEM + slug, title, status, detail, ...(errors ? { errors } : {}) });
  }
  function invalid(res, errors) {
    problem(res, 422, "validation-error", "Invalid input", errors.map((e) => `${e.field}: ${e.message}`).join("; "), errors);
  }
  async function readJson(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString("utf8");
    if (!text) return {};
    return JSON.parse(text);
  }
  function issueTokens(user) {
    const exp = Math.floor(Date.now() / 1000) + accessTtl;
    const access = `${b64url({ alg: "ES256", kid: "mock" })}.${b64url({ sub: String(user.id), exp, jti: randomUUID() })}.${randomBytes(16).toString("base64url")}`;
    const refresh = randomBytes(24).toString("base64url");
    state.access.set(access, { userId: user.id, exp });
    state.refresh.set(refresh, user.id);
    return { access_token: access, refresh_token: refresh, token_type: "Bearer", expires_in: accessTtl, user: { address: user.address, plan: user.plan } };
  }
  function userFromToken(token) {
    const t = state.access.get(token);
    if (!t || t.exp * 1000 < Date.now()) return null;
    return [...state.users.values()].find((u) => u.id === t.userId) ?? null;
  }
  function push(userId, message) {
    for (const s of state.sockets) if (s.userId === userId && s.topics.has(message.topic)) s.ws.send(JSON.stringify(message));
  }
  function notify(user, rule, title, message) {
    const n = { id: nextId(), kind: "rule_fired", title, body: { message }, rule_id: rule?.id ?? null, created_at: iso(), read_at: null, userId: user.id };
    state.notifications.unshift(n);
    const { userId: _omit, ...publicN } = n;
    push(user.id, { topic: "notifications", type: "notification", data: publicN });
  }
  const own = (map, id, user) => {
    const v = map.get(Number(id)) ?? map.get(id);
    return v && v.userId === user.id ? v : null;
  };
  const strip = ({ userId: _u, ...rest }) => rest;

  function validateRule(body, user) {
    const errors = [];
    if (!body.name || typeof body.name !== "string") errors.push({ field: "name", message: "Field required" });
    if (body.portfolio_id != null && !own(state.portfolios, body.portfolio_id, user)) errors.push({ field: "portfolio_id", message: "Unknown portfolio" });
    const t = body.definition?.trigger;
    const known = ["apy_above", "apy_below", "apy_spread", "health_factor_below", "risk_above", "price_change"];
    if (!t || !known.includes(t.type)) errors.push({ field: "definition.trigger.type", message: "Unknown trigger type" });
    else if (t.type === "health_factor_below" && !(t.threshold >= 1)) errors.push({ field: "definition.trigger.threshold", message: "must be >= 1" });
    (body.definition?.actions ?? []).forEach((a, i) => {
      // A server-only rule, so the e2e can see a server error placed at its field.
      if (a.type === "webhook" && !String(a.url ?? "").startsWith("https://")) errors.push({ field: `definition.actions.${i}.url`, message: "Webhook URLs must use https" });
    });
    if (!(body.cadence_seconds >= 60)) errors.push({ field: "cadence_seconds", message: "must be >= 60" });
    return errors;
  }

  function buildTxs(user, body, portfolio) {
    const from = getAddress(body.from);
    const to = body.protocol === "compound-v3" ? COMET_USDC : AAVE_POOL;
    const base = { from, chainId: body.chain_id, value: "0", gas: "120000", maxFeePerGas: "30000000000", maxPriorityFeePerGas: "1000000000" };
    const market = markets.find((m) => m.id === body.market_id);
    const steps = [];
    let nonce = state.chainNonce.get(from) ?? 0;
    if (body.action === "supply" || body.action === "repay" || body.action === "deposit") {
      steps.push({ ...base, to: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", data: "0x095ea7b3" + "0".repeat(128), nonce: nonce++, summary: `Approve ${market?.asset_symbol ?? body.asset_symbol}` });
    }
    steps.push({ ...base, to, data: "0x617ba037" + "0".repeat(256), nonce: nonce++, summary: `${body.action[0].toUpperCase()}${body.action.slice(1)} ${body.amount} ${body.asset_symbol}` });
    return {
      id: randomUUID(),
      userId: user.id,
      status: "prepared",
      chain_id: body.chain_id,
      portfolio_id: portfolio.id,
      rule_id: null,
      summary: `${body.action[0].toUpperCase()}${body.action.slice(1)} ${body.amount} ${body.asset_symbol} on ${body.protocol === "compound-v3" ? "Compound v3" : "Aave v3"}`,
      txs: steps,
      tx_hashes: [],
      tx_hash: null,
      error: null,
      created_at: iso(),
      updated_at: iso(),
    };
  }

  // ---- routes --------------------------------------------------------------------------------
  async function api(req, res, url) {
    const path = url.pathname;
    const method = req.method ?? "GET";
    if (path === "/health") return send(res, 200, { status: "ok" });
    if (path === "/auth/nonce" && method === "GET") {
      const nonce = randomBytes(12).toString("hex");
      state.nonces.add(nonce);
      return send(res, 200, { nonce, expires_at: iso(-300_000) });
    }
    if (path === "/rpc" && method === "POST") {
      // Just enough JSON-RPC for the test wallet: raw transactions are "mined" by hashing them.
      const { id, method: m, params } = await readJson(req);
      if (m === "eth_sendRawTransaction") return send(res, 200, { jsonrpc: "2.0", id, result: keccak256(params[0]) });
      if (m === "eth_chainId") return send(res, 200, { jsonrpc: "2.0", id, result: "0x1" });
      if (m === "eth_getTransactionCount") return send(res, 200, { jsonrpc: "2.0", id, result: "0x0" });
      return send(res, 200, { jsonrpc: "2.0", id, error: { code: -32601, message: "method not found" } });
    }
    if (path === "/__test/drop-sockets" && method === "POST") {
      for (const s of state.sockets) s.ws.terminate();
      return send(res, 200, { dropped: true });
    }

    let body = {};
    if (method === "POST" || method === "PATCH") {
      try {
        body = await readJson(req);
      } catch {
        return problem(res, 400, "malformed-json", "Malformed JSON", "The request body is not valid JSON.");
      }
    }

    if (path === "/auth/verify" && method === "POST") {
      const message = String(body.message ?? "");
      const lines = message.split("\n");
      const field = (name) => lines.find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
      const domain = lines[0]?.split(" wants you to sign in")[0];
      if (domain !== req.headers.host) return problem(res, 401, "siwe-domain-mismatch", "Sign-in failed", "The message is for another site.");
      const nonce = field("Nonce");
      if (!nonce || !state.nonces.delete(nonce)) return problem(res, 401, "siwe-nonce-invalid", "Sign-in failed", "The nonce is unknown or already used.");
      let recovered;
      try {
        recovered = await recoverMessageAddress({ message, signature: body.signature });
      } catch {
        return problem(res, 401, "siwe-bad-signature", "Sign-in failed", "The signature is malformed.");
      }
      if (recovered !== lines[1]) return problem(res, 401, "siwe-bad-signature", "Sign-in failed", "The signature does not match the address.");
      let user = state.users.get(recovered);
      if (!user) {
        user = { id: nextId(), address: recovered, plan: "free" };
        state.users.set(recovered, user);
      }
      return send(res, 200, issueTokens(user));
    }
    if (path === "/auth/refresh" && method === "POST") {
      const userId = state.refresh.get(body.refresh_token);
      if (!userId) return problem(res, 401, "refresh-token-invalid", "Authentication required", "The refresh token is not valid.");
      state.refresh.delete(body.refresh_token);
      return send(res, 200, issueTokens([...state.users.values()].find((u) => u.id === userId)));
    }
    if (path === "/auth/logout" && method === "POST") {
      state.refresh.delete(body.refresh_token);
      res.writeHead(204).end();
      return;
    }

    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    const user = userFromToken(token);
    if (!user) return problem(res, 401, "unauthorized", "Authentication required", "A valid access token is required.");

    // portfolios
    if (path === "/portfolios" && method === "GET") {
      return send(res, 200, { items: [...state.portfolios.values()].filter((p) => p.userId === user.id).map(strip), next_cursor: null });
    }
    const validatePortfolio = (b, partial) => {
      const errors = [];
      if (!partial || b.name !== undefined) if (!b.name || String(b.name).length > 100) errors.push({ field: "name", message: "Name must be 1 to 100 characters" });
      if (!partial || b.addresses !== undefined) {
        if (!Array.isArray(b.addresses) || !b.addresses.length) errors.push({ field: "addresses", message: "At least one address is required" });
        else b.addresses.forEach((a, i) => !isAddress(a, { strict: false }) && errors.push({ field: `addresses.${i}`, message: "Not a valid address" }));
      }
      return errors;
    };
    if (path === "/portfolios" && method === "POST") {
      const errors = validatePortfolio(body, false);
      if (errors.length) return invalid(res, errors);
      const p = { id: nextId(), userId: user.id, name: body.name, addresses: body.addresses.map((a) => getAddress(a)), chains: body.chains ?? [1, 8453], created_at: iso(), updated_at: iso() };
      state.portfolios.set(p.id, p);
      return send(res, 201, strip(p));
    }
    let m = path.match(/^\/portfolios\/(\d+)(\/history)?$/);
    if (m) {
      const p = own(state.portfolios, m[1], user);
      if (!p) return problem(res, 404, "not-found", "Not found", "No such portfolio.");
      if (m[2]) {
        const view = portfolioView(p);
        const net = Number(view.net_worth_usd);
        const items = Array.from({ length: 30 }, (_, i) => ({
          taken_at: iso((29 - i) * 6 * 3600_000),
          net_worth_usd: (net * (0.9 + 0.1 * Math.sin(i / 4) + i / 300)).toFixed(2),
          min_health_factor: net ? (1.35 + 0.2 * Math.cos(i / 5)).toFixed(3) : null,
        }));
        return send(res, 200, { items, next_cursor: null });
      }
      if (method === "GET") return send(res, 200, strip(portfolioView(p)));
      if (method === "PATCH") {
        const errors = validatePortfolio(body, true);
        if (errors.length) return invalid(res, errors);
        if (body.name !== undefined) p.name = body.name;
        if (body.addresses !== undefined) p.addresses = body.addresses.map((a) => getAddress(a));
        p.updated_at = iso();
        return send(res, 200, strip(p));
      }
      if (method === "DELETE") {
        state.portfolios.delete(p.id);
        res.writeHead(204).end();
        return;
      }
    }

    // markets
    if (path === "/markets" && method === "GET") return send(res, 200, { items: markets, next_cursor: null });
    m = path.match(/^\/markets\/(\d+)\/history$/);
    if (m) {
      const market = markets.find((x) => x.id === Number(m[1]));
      if (!market) return problem(res, 404, "not-found", "Not found", "No such market.");
      const s = Number(market.supply_apy ?? 0);
      const b = Number(market.borrow_apy ?? 0);
      const items = Array.from({ length: 60 }, (_, i) => ({
        observed_at: iso((59 - i) * 3600_000),
        supply_apy: market.supply_apy === null ? null : (s * (1 + 0.15 * Math.sin(i / 6))).toFixed(6),
        borrow_apy: market.borrow_apy === null ? null : (b * (1 + 0.12 * Math.sin(i / 6 + 0.5))).toFixed(6),
        utilization: market.utilization,
      }));
      return send(res, 200, { items, next_cursor: null });
    }

    // rules
    if (path === "/rules" && method === "GET") return send(res, 200, { items: [...state.rules.values()].filter((r) => r.userId === user.id).map(strip), next_cursor: null });
    if (path === "/rules" && method === "POST") {
      const errors = validateRule(body, user);
      if (errors.length) return invalid(res, errors);
      const r = { id: nextId(), userId: user.id, name: body.name, portfolio_id: body.portfolio_id ?? null, definition: body.definition, cadence_seconds: body.cadence_seconds, cooldown_seconds: body.cooldown_seconds ?? 3600, enabled: body.enabled !== false, disabled_reason: null, last_evaluated_at: null, last_fired_at: null, created_at: iso() };
      state.rules.set(r.id, r);
      state.executions.set(r.id, []);
      if (r.enabled) {
        // The first evaluation tick after creation fires the rule (the seeded HF 1.42 is below 1.5).
        setTimeout(() => {
          r.last_evaluated_at = r.last_fired_at = iso();
          state.executions.get(r.id)?.unshift({ id: nextId(), evaluated_at: iso(), fired: true, observed: { health_factor: "1.42" }, actions: [{ type: "notify", status: "delivered" }], error: null });
          notify(user, r, `Rule “${r.name}” fired`, "Health factor 1.42 is below 1.50 on Aave v3 (Ethereum).");
        }, options.fireDelayMs ?? 1500);
      }
      return send(res, 201, strip(r));
    }
    m = path.match(/^\/rules\/(\d+)(\/test|\/executions)?$/);
    if (m) {
      const r = own(state.rules, m[1], user);
      if (!r) return problem(res, 404, "not-found", "Not found", "No such rule.");
      if (m[2] === "/test" && method === "POST") {
        return send(res, 200, { would_fire: true, reason: "Lowest health factor 1.42 < 1.50.", observed: { health_factor: "1.42" }, actions: r.definition.actions.map((a) => ({ type: a.type, description: a.type === "notify" ? "Send a live notification" : `Run ${a.type}` })) });
      }
      if (m[2] === "/executions") return send(res, 200, { items: state.executions.get(r.id) ?? [], next_cursor: null });
      if (method === "GET") return send(res, 200, strip(r));
      if (method === "PATCH") {
        Object.assign(r, Object.fromEntries(Object.entries(body).filter(([k]) => ["name", "enabled", "definition", "cadence_seconds", "cooldown_seconds", "portfolio_id"].includes(k))));
        return send(res, 200, strip(r));
      }
      if (method === "DELETE") {
        state.rules.delete(r.id);
        res.writeHead(204).end();
        return;
      }
    }

    if (path === "/notifications" && method === "GET") return send(res, 200, { items: state.notifications.filter((n) => n.userId === user.id).map(strip), next_cursor: null });

    // transactions
    if (path === "/transactions" && method === "GET") {
      const items = [...state.transactions.values()].filter((t) => t.userId === user.id).sort((a, b) => b.created_at.localeCompare(a.created_at)).map(strip);
      return send(res, 200, { items, next_cursor: null });
    }
    if (path === "/transactions/prepare" && method === "POST") {
      const portfolio = own(state.portfolios, body.portfolio_id, user);
      if (!portfolio) return invalid(res, [{ field: "portfolio_id", message: "Unknown portfolio" }]);
      if (!isAddress(body.from ?? "") || !portfolio.addresses.includes(getAddress(body.from))) return invalid(res, [{ field: "from", message: "Not an address of this portfolio" }]);
      if (!/^(max|\d+(\.\d+)?)$/.test(String(body.amount))) return invalid(res, [{ field: "amount", message: "Not an amount" }]);
      const tx = buildTxs(user, body, portfolio);
      state.transactions.set(tx.id, tx);
      return send(res, 201, strip(tx));
    }
    m = path.match(/^\/transactions\/([0-9a-f-]+)\/broadcast$/);
    if (m && method === "POST") {
      const tx = own(state.transactions, m[1], user);
      if (!tx) return problem(res, 404, "not-found", "Not found", "No such transaction.");
      if (!/^0x[0-9a-f]{64}$/i.test(body.tx_hash ?? "")) return invalid(res, [{ field: "tx_hash", message: "Not a transaction hash" }]);
      tx.tx_hashes[body.index] = body.tx_hash;
      tx.tx_hash = body.tx_hash;
      const step = tx.txs[body.index];
      if (step) state.chainNonce.set(step.from, Number(step.nonce) + 1);
      if (body.index === tx.txs.length - 1) {
        tx.status = "submitted";
        setTimeout(() => {
          tx.status = "confirmed";
          tx.updated_at = iso();
          push(user.id, { topic: "notifications", type: "transaction_status", data: { id: tx.id, status: tx.status } });
        }, 1000);
      }
      tx.updated_at = iso();
      return send(res, 200, strip(tx));
    }

    // billing
    if (path === "/billing" && method === "GET") {
      const pro = user.plan === "pro";
      return send(res, 200, {
        plan: user.plan,
        status: pro ? "active" : null,
        current_period_end: pro ? iso(-30 * 86400_000) : null,
        cancel_at_period_end: false,
        grace_until: null,
        entitlements: pro ? { portfolios: 25, rules: 100, min_cadence_seconds: 60, webhooks: true } : { portfolios: 2, rules: 3, min_cadence_seconds: 300, webhooks: false },
        usage: { portfolios: [...state.portfolios.values()].filter((p) => p.userId === user.id).length, rules: [...state.rules.values()].filter((r) => r.userId === user.id).length },
      });
    }
    if (path === "/billing/checkout" && method === "POST") {
      // Stands in for Stripe Checkout + the webhook that follows a successful payment.
      user.plan = "pro";
      return send(res, 200, { url: body.success_url });
    }
    if (path === "/billing/portal" && method === "POST") return send(res, 200, { url: body.return_url });

    return problem(res, 404, "not-found", "Not found", `No route ${method} ${path}.`);
  }

  async function serveStatic(req, res, url) {
    if (url.pathname === "/config.json") return send(res, 200, { apiBaseUrl: "", wsUrl: "", walletConnectProjectId: "" });
    const rel = url.pathname === "/" ? "index.html" : normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, "").replace(/^[/\\]+/, "");
    const file = join(DIST, rel);
    try {
      if (!(await stat(file)).isFile()) throw new Error("dir");
      res.writeHead(200, { "Content-Type": MIME[extname(file)] ?? "application/octet-stream" });
      res.end(await readFile(file));
    } catch {
      problem(res, 404, "not-found", "Not found", "No such file.");
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", `http://${req.headers.host}`);
    const isStatic = req.method === "GET" && (url.pathname === "/" || url.pathname === "/index.html" || url.pathname === "/config.json" || url.pathname.startsWith("/assets/") || url.pathname === "/favicon.ico");
    (isStatic ? serveStatic(req, res, url) : api(req, res, url)).catch((err) => {
      console.error(err);
      if (!res.headersSent) problem(res, 500, "internal", "Internal error", "Unexpected error.");
    });
  });

  const wss = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    const url = new URL(req.url ?? "/", `http://${req.headers.host}`);
    const user = url.pathname === "/ws" ? userFromToken(url.searchParams.get("token") ?? "") : null;
    if (!user) {
      socket.write("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n");
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const entry = { ws, userId: user.id, topics: new Set() };
      state.sockets.add(entry);
      ws.on("message", (data) => {
        try {
          const msg = JSON.parse(String(data));
          if (msg.action === "subscribe") entry.topics.add(msg.topic);
          if (msg.action === "unsubscribe") entry.topics.delete(msg.topic);
        } catch {
          // ignore junk, as the real $default route answers with an error frame
        }
      });
      ws.on("close", () => state.sockets.delete(entry));
    });
  });

  return {
    server,
    state,
    listen(port = 0, host = "127.0.0.1") {
      return new Promise((resolve) => server.listen(port, host, () => resolve(`http://${host}:${server.address().port}`)));
    },
    close() {
      for (const s of state.sockets) s.ws.terminate();
      wss.close();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const mock = createMockApi({ seededAddress: process.env.TIDEWATCH_E2E_SEEDED_ADDRESS ?? "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" });
  mock.listen(Number(process.argv[2] ?? 5174)).then((url) => console.log(`mock Tidewatch API + dashboard on ${url}`));
}
