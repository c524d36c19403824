/**
 * A small stand-in for the Tidewatch API (HTTP + WebSocket) that serves the built dashboard from
 * dist/ on the same origin, as the local run does. It mimics the API's shapes and conventions
 * (RFC 9457 problems with field errors, cursor pages, SIWE with real signature recovery, rotating
 * refresh tokens) so the browser tests have a fast tier that needs no Postgres, Redis or devnet.
 *
 * Layout as in the local run: dashboard at `/`, API under `/api`, WebSocket at `/ws`, plus `/rpc`
 * (a minimal JSON-RPC for the test wallet) and `/__test/drop-sockets` (closes every socket).
 *
 *   node e2e/mock-server.mjs [port]     # then open http://127.0.0.1:<port>/
 */
import { createServer } from "node:http";
import { randomBytes, randomUUID } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";
import { createSpecChecker } from "./spec-check.mjs";
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

  // Markets in the API's shape (MarketSummary): registry fields and the latest reading, flat.
  const market = (id, chain_id, protocol, market_key, asset_symbol, decimals, price, units, supply, borrow, util, stale = false) => ({
    id,
    chain_id,
    protocol,
    market_key,
    asset_symbol,
    asset_address: market_key,
    asset_decimals: decimals,
    supply_apy: supply,
    borrow_apy: borrow,
    utilization: util,
    total_supplied: (BigInt(units) * 10n ** BigInt(decimals)).toString(),
    total_borrowed: null,
    price_usd: price,
    tvl_usd: (units * Number(price)).toFixed(2),
    block_number: 19_000_000 + id,
    observed_at: iso(stale ? 3 * 3600_000 : 40_000),
    age_seconds: stale ? 10800 : 40,
    stale,
  });
  const markets = [
    {
      ...market(1, 1, "aave-v3", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "USDC", 6, "1.0", 2_150_000_000, "0.0412", "0.0561", "0.78"),
      // The API's 24 h APY outlook (ApyOutlook), present where the model has enough history.
      forecast: { predicted_apy: 0.0425, lower: 0.0391, upper: 0.0462, horizon_hours: 24, interval_level: 0.8, fall_probability: 0.3, label: "stay", model_version: "mock" },
    },
    market(2, 1, "aave-v3", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "WETH", 18, "3125.0", 1_530_000, "0.0191", "0.0262", "0.61"),
    market(3, 1, "compound-v3", COMET_USDC, "USDC", 6, "1.0", 980_000_000, "0.0487", "0.0633", "0.84"),
    market(4, 8453, "aave-v3", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USDC", 6, "1.0", 310_000_000, "0.0455", "0.0598", "0.8"),
    market(5, 8453, "compound-v3", "0xb125E6687d4313864e53df431d5425969c15Eb2F", "USDC", 6, "1.0", 145_000_000, "0.0521", "0.0675", "0.87", true),
    market(6, 1, "eigenlayer", "0x93c4b944D05dfe6df7645A86cd2206016c51564D", "stETH", 18, "3120.0", 385_000, null, null, null),
  ];

  function positionsFor(address) {
    // The seeded address holds an Aave borrow against WETH and a Compound supply, like the devnet seed.
    if (!seeded || address !== seeded) return [];
    const p = (chain_id, protocol, market, asset_symbol, asset_decimals, supplied_usd, borrowed_usd, supply_apy, borrow_apy, health_factor) => ({
      chain_id, protocol, address, market, asset_symbol, asset_decimals, supplied: 0, borrowed: 0, supplied_usd, borrowed_usd, supply_apy, borrow_apy, health_factor,
    });
    return [
      { ...p(1, "aave-v3", AAVE_POOL, "WETH", 18, "12500.00", "0", "0.0191", null, "1.42"), supplied: 4e18 },
      p(1, "aave-v3", AAVE_POOL, "USDC", 6, "0", "6800.00", null, "0.0561", "1.42"),
      p(8453, "compound-v3", "0xb125E6687d4313864e53df431d5425969c15Eb2F", "USDC", 6, "3000.00", "0", "0.0521", null, null),
    ];
  }

  /** GET /portfolios/{id} in the API's shape: {portfolio, positions, totals, sources, cache, risk}. */
  function portfolioView(p) {
    const positions = p.wallets.flatMap((w) => positionsFor(w.address));
    const sum = (k) => positions.reduce((s, x) => s + Number(x[k]), 0);
    const supplied = sum("supplied_usd");
    const borrowed = sum("borrowed_usd");
    const hfs = positions.map((x) => x.health_factor).filter((x) => x !== null).map(Number);
    return {
      portfolio: strip(p),
      positions,
      totals: { supplied_usd: supplied.toFixed(2), borrowed_usd: borrowed.toFixed(2), net_worth_usd: (supplied - borrowed).toFixed(2), min_health_factor: hfs.length ? String(Math.min(...hfs)) : null },
      sources: [
        { chain_id: 1, protocol: "aave-v3", as_of: iso(30_000), block_number: 19_000_123, stale: false, error: null },
        { chain_id: 8453, protocol: "compound-v3", as_of: iso(95_000), block_number: 8_000_456, stale: true, error: null },
      ],
      cache: { source: "origin", age_seconds: 0 },
      // The API's risk shape (tidewatch.portfolios.risk_forecaster): one forecast per account.
      risk: positions.length
        ? {
            model_version: "mock",
            horizons_hours: [24, 168],
            accounts: [
              {
                chain_id: 1, protocol: "aave-v3", address: seeded, market: AAVE_POOL,
                probability: 0.034, band: "medium", distance_to_liquidation: 0.2957, health_factor: 1.42,
                by_horizon: { "24": { probability: 0.034, band: "medium", distance_to_liquidation: 0.2957, health_factor: 1.42 }, "168": { probability: 0.118, band: "high", distance_to_liquidation: 0.2957, health_factor: 1.42 } },
              },
            ],
            errors: [],
          }
        : null,
    };
  }

  // ---- contract check ------------------------------------------------------------------------
  // Every API response the mock sends is checked against docs/openapi.json (e2e/spec-check.mjs);
  // the browser tests fail at the end when any response strayed from the spec.
  const specChecker = options.checkSpec === false ? null : createSpecChecker();
  const violations = [];
  function watchResponse(method, path, res) {
    const end = res.end.bind(res);
    const writeHead = res.writeHead.bind(res);
    let type = null;
    res.writeHead = (status, headers, ...rest) => {
      if (headers && typeof headers === "object") type = headers["Content-Type"] ?? headers["content-type"] ?? null;
      return writeHead(status, headers, ...rest);
    };
    res.end = (chunk, ...rest) => {
      type = type ?? res.getHeader("content-type");
      let body;
      try {
        body = chunk && String(chunk) ? JSON.parse(String(chunk)) : undefined;
      } catch {
        body = String(chunk);
      }
      const error = specChecker.check(method, path, res.statusCode, type, body);
      if (error) violations.push(error);
      return end(chunk, ...rest);
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
    return { access_token: access, refresh_token: refresh, token_type: "Bearer", expires_in: accessTtl, refresh_expires_at: iso(-30 * 86400_000), user: { id: user.id, address: user.address, plan: user.plan } };
  }
  function userFromToken(token) {
    const t = state.access.get(token);
    if (!t || t.exp * 1000 < Date.now()) return null;
    return [...state.users.values()].find((u) => u.id === t.userId) ?? null;
  }
  function push(userId, topic, message) {
    for (const s of state.sockets) if (s.userId === userId && s.topics.has(topic)) s.ws.send(JSON.stringify(message));
  }
  function notify(user, rule, title, body) {
    const n = { id: nextId(), kind: "rule_fired", title, body, rule_id: rule?.id ?? null, created_at: iso(), read_at: null, userId: user.id };
    state.notifications.unshift(n);
    // The API's frame: flat, keyed by type (tidewatch.rules.actions).
    push(user.id, "notifications", { type: "notification", id: n.id, title, body });
  }
  const own = (map, id, user) => {
    const v = map.get(Number(id)) ?? map.get(id);
    return v && v.userId === user.id ? v : null;
  };
  function strip(record) {
    const rest = { ...record };
    delete rest.userId;
    return rest;
  }

  function validateRule(body, user) {
    const errors = [];
    if (!body.name || typeof body.name !== "string") errors.push({ field: "name", message: "Field required" });
    if (body.portfolio_id != null && !own(state.portfolios, body.portfolio_id, user)) errors.push({ field: "portfolio_id", message: "Unknown portfolio" });
    const t = body.trigger;
    const known = ["market_apy", "apy_spread", "health_factor_below", "risk_forecast_above", "price_change"];
    if (!t || !known.includes(t.type)) errors.push({ field: "trigger.type", message: "Unknown trigger type" });
    else if (t.type === "health_factor_below" && !(t.threshold > 0 && t.threshold <= 100)) errors.push({ field: "trigger.threshold", message: "Input should be greater than 0" });
    (body.actions ?? []).forEach((a, i) => {
      // A server-only rule (the real API refuses private targets), so the e2e can see a server
      // error placed at its field.
      if (a.type === "webhook" && !String(a.url ?? "").startsWith("https://")) errors.push({ field: `actions.${i}.url`, message: "Webhook URLs must use https" });
    });
    if (!(body.cadence_seconds >= 60)) errors.push({ field: "cadence_seconds", message: "Input should be greater than or equal to 60" });
    return errors;
  }

  const hex = (n) => `0x${BigInt(n).toString(16)}`;
  const title = (action) => action[0].toUpperCase() + action.slice(1);

  /** PreparedTransactions as the wallet function returns them (hex quantities, `transactions`). */
  function buildTxs(user, intent, portfolio) {
    const from = getAddress(intent.from);
    const to = intent.protocol === "compound-v3" ? (intent.market ?? COMET_USDC) : AAVE_POOL;
    const base = { from, value: "0x0", chainId: hex(intent.chain_id), gas: hex(120000), maxFeePerGas: hex(30_000_000_000), maxPriorityFeePerGas: hex(1_000_000_000), type: "0x2", simulated_gas_used: 90000, status: "prepared", hash: null };
    const token = markets.find((m) => m.asset_symbol === intent.asset && m.chain_id === intent.chain_id)?.asset_address ?? "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48";
    const steps = [];
    let nonce = state.chainNonce.get(from) ?? 0;
    if (intent.action === "supply" || intent.action === "repay" || intent.action === "deposit") {
      steps.push({ ...base, to: token, data: "0x095ea7b3" + "0".repeat(128), nonce: hex(nonce++), summary: `Approve ${intent.amount} ${intent.asset}`, decoded: { function: "approve(address,uint256)", args: { spender: to, amount: "1" } } });
    }
    steps.push({ ...base, to, data: "0x617ba037" + "0".repeat(256), nonce: hex(nonce), summary: `${title(intent.action)} ${intent.amount} ${intent.asset}`, decoded: { function: `${intent.action}(address,uint256,address,uint16)`, args: {} } });
    const id = randomUUID();
    return {
      id,
      // The API names the id twice: `id` and the read-only `transaction_id` (docs/openapi.json).
      transaction_id: id,
      userId: user.id,
      status: "prepared",
      chain_id: intent.chain_id,
      portfolio_id: portfolio.id,
      summary: `${title(intent.action)} ${intent.amount} ${intent.asset} on ${intent.protocol === "compound-v3" ? "Compound v3" : intent.protocol === "eigenlayer" ? "EigenLayer" : "Aave v3"}`,
      intent,
      transactions: steps,
      fees: { base_fee_per_gas: 20_000_000_000, slow: { max_fee_per_gas: 1, max_priority_fee_per_gas: 1 }, normal: { max_fee_per_gas: 30_000_000_000, max_priority_fee_per_gas: 1_000_000_000 }, fast: { max_fee_per_gas: 2, max_priority_fee_per_gas: 2 } },
      created_at: iso(),
      updated_at: iso(),
      tx_hash: null,
      block_number: null,
      error: null,
    };
  }

  // ---- routes --------------------------------------------------------------------------------
  async function api(req, res, url) {
    // Like the local run (tidewatch dev), the API lives under /api; test helpers at the root.
    const path = url.pathname.startsWith("/api/") ? url.pathname.slice(4) : url.pathname;
    if (path === url.pathname && !["/rpc", "/__test/drop-sockets", "/__test/violations"].includes(path)) {
      return serveStatic(req, res, new URL("/index.html", url));
    }
    const method = req.method ?? "GET";
    if (specChecker && !["/rpc", "/__test/drop-sockets", "/__test/violations"].includes(path)) watchResponse(method, path, res);
    if (path === "/health") return send(res, 200, { status: "ok" });
    if (path === "/auth/nonce" && method === "GET") {
      const nonce = randomBytes(12).toString("hex");
      state.nonces.add(nonce);
      return send(res, 200, { nonce, expires_in: 300 });
    }
    if (path === "/rpc" && method === "POST") {
      // Just enough JSON-RPC for the test wallet: raw transactions are "mined" by hashing them.
      const { id, method: rpcMethod, params } = await readJson(req);
      const m = rpcMethod;
      if (m === "eth_sendRawTransaction") return send(res, 200, { jsonrpc: "2.0", id, result: keccak256(params[0]) });
      if (m === "eth_chainId") return send(res, 200, { jsonrpc: "2.0", id, result: "0x1" });
      if (m === "eth_getTransactionCount") return send(res, 200, { jsonrpc: "2.0", id, result: "0x0" });
      return send(res, 200, { jsonrpc: "2.0", id, error: { code: -32601, message: "method not found" } });
    }
    if (path === "/__test/violations" && method === "GET") return send(res, 200, { violations: [...new Set(violations)] });
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

    // markets and any address's positions: public, like the API (no token needed)
    if (path === "/markets" && method === "GET") return send(res, 200, { items: markets, as_of: iso(), stale: false, age_seconds: 0 });
    let mm = path.match(/^\/markets\/(\d+)(\/history)?$/);
    if (mm) {
      const market = markets.find((x) => x.id === Number(mm[1]));
      if (!market) return problem(res, 404, "not-found", "Not found", "No such market.");
      if (!mm[2]) return send(res, 200, market);
      const s = Number(market.supply_apy ?? 0);
      const b = Number(market.borrow_apy ?? 0);
      // The API's shape: {market, start, end, bucket_seconds, points: [{t, ..., samples}]}.
      const points = Array.from({ length: 60 }, (_, i) => ({
        t: iso((59 - i) * 3600_000),
        samples: 4,
        supply_apy: market.supply_apy === null ? null : (s * (1 + 0.15 * Math.sin(i / 6))).toFixed(6),
        borrow_apy: market.borrow_apy === null ? null : (b * (1 + 0.12 * Math.sin(i / 6 + 0.5))).toFixed(6),
        utilization: market.utilization,
      }));
      return send(res, 200, { market, start: points[0].t, end: iso(), bucket_seconds: 3600, points });
    }

    mm = path.match(/^\/positions\/(0x[0-9a-fA-F]{40})$/);
    if (mm && method === "GET") {
      if (!isAddress(mm[1], { strict: false })) return invalid(res, [{ field: "address", message: "not an address", in: "path" }]);
      const address = getAddress(mm[1].toLowerCase());
      return send(res, 200, { positions: positionsFor(address), sources: [{ chain_id: 1, protocol: "aave-v3", as_of: iso(), block_number: 1, stale: false, error: null }] });
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
      if (b.wallets !== undefined && b.wallets !== null) {
        if (!Array.isArray(b.wallets)) errors.push({ field: "wallets", message: "Input should be a valid list" });
        else b.wallets.forEach((w, i) => !isAddress(w?.address ?? "", { strict: false }) && errors.push({ field: `wallets.${i}.address`, message: "Value error, not an Ethereum address" }));
      }
      return errors;
    };
    if (path === "/portfolios" && method === "POST") {
      const errors = validatePortfolio(body, false);
      if (errors.length) return invalid(res, errors);
      const wallets = (body.wallets ?? []).map((w) => ({ address: getAddress(w.address), label: w.label ?? null }));
      const p = { id: nextId(), userId: user.id, name: body.name, wallets, chains: body.chains ?? [1, 8453], created_at: iso(), updated_at: iso() };
      state.portfolios.set(p.id, p);
      return send(res, 201, strip(p));
    }
    let m = path.match(/^\/portfolios\/(\d+)(\/history)?$/);
    if (m) {
      const p = own(state.portfolios, m[1], user);
      if (!p) return problem(res, 404, "not-found", "Not found", "No such portfolio.");
      if (m[2]) {
        const view = portfolioView(p);
        const net = Number(view.totals.net_worth_usd);
        // Newest first, as the API pages them.
        const items = Array.from({ length: 30 }, (_, i) => ({
          id: i + 1,
          taken_at: iso((29 - i) * 6 * 3600_000),
          net_worth_usd: (net * (0.9 + 0.1 * Math.sin(i / 4) + i / 300)).toFixed(2),
          min_health_factor: net ? (1.35 + 0.2 * Math.cos(i / 5)).toFixed(3) : null,
        }));
        return send(res, 200, { items: items.reverse(), next_cursor: null });
      }
      if (method === "GET") return send(res, 200, portfolioView(p));
      if (method === "PATCH") {
        const errors = validatePortfolio(body, true);
        if (errors.length) return invalid(res, errors);
        if (body.name !== undefined) p.name = body.name;
        if (body.wallets) p.wallets = body.wallets.map((w) => ({ address: getAddress(w.address), label: w.label ?? null }));
        p.updated_at = iso();
        return send(res, 200, strip(p));
      }
      if (method === "DELETE") {
        state.portfolios.delete(p.id);
        res.writeHead(204).end();
        return;
      }
    }

    // rules
    if (path === "/rules" && method === "GET") return send(res, 200, { items: [...state.rules.values()].filter((r) => r.userId === user.id).map(strip), next_cursor: null });
    if (path === "/rules" && method === "POST") {
      const errors = validateRule(body, user);
      if (errors.length) return invalid(res, errors);
      const minCadence = user.plan === "pro" ? 60 : 300;
      if (body.cadence_seconds < minCadence) {
        return send(res, 402, { type: PROBLEM + "plan-limit", title: "Plan limit reached", status: 402, detail: `Your plan evaluates rules at most every ${minCadence} s.`, errors: [{ field: "cadence_seconds", message: `At least ${minCadence} on your plan` }] });
      }
      const hasWebhook = (body.actions ?? []).some((a) => a.type === "webhook");
      const r = {
        id: nextId(), userId: user.id, name: body.name, portfolio_id: body.portfolio_id ?? null,
        trigger: body.trigger, conditions: body.conditions ?? null, actions: body.actions,
        cadence_seconds: body.cadence_seconds, cooldown_seconds: body.cooldown_seconds ?? 3600, enabled: body.enabled !== false,
        disabled_reason: null, armed: true, last_fired_at: null, created_at: iso(), updated_at: iso(),
        webhook_secret: hasWebhook ? randomBytes(16).toString("hex") : null,
      };
      state.rules.set(r.id, r);
      state.executions.set(r.id, []);
      if (r.enabled) {
        // The first evaluation tick after creation fires the rule (the seeded HF 1.42 is below 1.5).
        setTimeout(() => {
          r.last_evaluated_at = r.last_fired_at = iso();
          state.executions.get(r.id)?.unshift({ id: nextId(), window_key: `w${Date.now()}`, evaluated_at: iso(), fired: true, observed: { trigger_value: 1.42, at: iso() }, actions: [{ type: "notify", ok: true, attempts: 1 }], error: null });
          notify(user, r, `Rule '${r.name}' fired`, { event: "rule.fired", rule_id: r.id, rule_name: r.name, portfolio_id: r.portfolio_id, observed: { trigger_value: 1.42 }, severity: "warning" });
        }, options.fireDelayMs ?? 1500);
      }
      return send(res, 201, strip(r));
    }
    m = path.match(/^\/rules\/(\d+)(\/test|\/executions)?$/);
    if (m) {
      const r = own(state.rules, m[1], user);
      if (!r) return problem(res, 404, "not-found", "Not found", "No such rule.");
      if (m[2] === "/test" && method === "POST") {
        return send(res, 200, {
          rule_id: r.id, evaluated_at: iso(), would_fire: r.enabled, matched: true, armed: true, cooling_down: false,
          trigger: { type: r.trigger.type, value: 1.42, threshold: r.trigger.threshold ?? null },
          conditions: [], conditions_ok: true,
          actions: r.actions.map((a) => (a.type === "notify" ? "store and push a notification" : a.type === "webhook" ? `POST a signed payload to ${a.url}` : "prepare a transaction for you to sign")),
        });
      }
      if (m[2] === "/executions") return send(res, 200, { items: state.executions.get(r.id) ?? [], next_cursor: null });
      if (method === "GET") return send(res, 200, strip(r));
      if (method === "PATCH") {
        Object.assign(r, Object.fromEntries(Object.entries(body).filter(([k]) => ["name", "enabled", "trigger", "conditions", "actions", "cadence_seconds", "cooldown_seconds", "portfolio_id"].includes(k))));
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
      const intent = body.intent ?? {};
      if (!isAddress(intent.from ?? "") || !portfolio.wallets.some((w) => w.address === getAddress(intent.from))) {
        return problem(res, 403, "not-your-address", "Forbidden", "The sender must be one of your portfolio's addresses.");
      }
      if (!/^(max|\d+(\.\d+)?)$/.test(String(intent.amount))) return invalid(res, [{ field: "intent.amount", message: "amount must be a decimal number of token units or \"max\"" }]);
      const tx = buildTxs(user, intent, portfolio);
      state.transactions.set(tx.id, tx);
      return send(res, 201, strip(tx));
    }
    m = path.match(/^\/transactions\/([0-9a-f-]+)\/broadcast$/);
    if (m && method === "POST") {
      const tx = own(state.transactions, m[1], user);
      if (!tx) return problem(res, 404, "not-found", "Not found", "No such transaction.");
      // Exactly one of: a signed raw transaction (the API broadcasts it) or the hash of one the
      // wallet sent; like the API (extra="forbid"), any other field is refused. The API finds the
      // step by matching the transaction; steps are sent in order, so here it is the first unsent one.
      const extra = Object.keys(body).filter((k) => k !== "raw_transaction" && k !== "tx_hash");
      if (extra.length) return invalid(res, extra.map((k) => ({ field: k, message: "Extra inputs are not permitted" })));
      const raw = typeof body.raw_transaction === "string" && /^0x([0-9a-f]{2})+$/i.test(body.raw_transaction);
      const sent = typeof body.tx_hash === "string" && /^0x[0-9a-f]{64}$/i.test(body.tx_hash);
      if (raw === sent || (body.raw_transaction != null && !raw) || (body.tx_hash != null && !sent)) {
        return invalid(res, [{ field: "raw_transaction", message: "exactly one of raw_transaction or tx_hash" }]);
      }
      const index = tx.transactions.findIndex((t) => t.status === "prepared");
      const hash = raw ? keccak256(body.raw_transaction) : body.tx_hash.toLowerCase();
      const step = tx.transactions[index];
      if (!step || step.status !== "prepared") return problem(res, 409, "already-sent", "Conflict", "Every step of this transaction was already sent.");
      step.status = "submitted";
      step.hash = hash;
      tx.tx_hash = hash;
      state.chainNonce.set(step.from, Number(BigInt(step.nonce)) + 1);
      tx.status = "submitted";
      if (index === tx.transactions.length - 1) {
        setTimeout(() => {
          for (const t of tx.transactions) t.status = "confirmed";
          tx.status = "confirmed";
          tx.block_number = 19_000_999;
          tx.updated_at = iso();
          // The API's frame (tidewatch.live.transaction_status).
          push(user.id, "notifications", { type: "transaction_status", transaction_id: tx.id, status: tx.status, chain_id: tx.chain_id, summary: tx.summary, tx_hash: tx.tx_hash });
        }, 1000);
      }
      tx.updated_at = iso();
      return send(res, 200, { transaction_id: tx.id, index, hash, status: "submitted" });
    }

    // billing
    if (path === "/billing" && method === "GET") {
      const pro = user.plan === "pro";
      const entitlements = pro
        ? { plan: "pro", max_portfolios: 25, max_addresses_per_portfolio: 50, max_rules: 100, min_rule_cadence_seconds: 60, rate_limit_tier: "pro", requests_per_minute: 600, webhook_actions: true }
        : { plan: "free", max_portfolios: 2, max_addresses_per_portfolio: 5, max_rules: 3, min_rule_cadence_seconds: 300, rate_limit_tier: "free", requests_per_minute: 60, webhook_actions: false };
      return send(res, 200, { plan: user.plan, status: pro ? "active" : null, renews_at: pro ? iso(-30 * 86400_000) : null, ends_at: null, grace_until: null, entitlements });
    }
    if (path === "/billing/checkout" && method === "POST") {
      // Stands in for Stripe Checkout and the webhook that follows a payment; the return URL is
      // server configuration in the real API (here: the dashboard's billing page).
      user.plan = "pro";
      return send(res, 200, { session_id: `cs_test_${randomBytes(6).toString("hex")}`, url: `http://${req.headers.host}/billing?checkout=success` });
    }
    if (path === "/billing/portal" && method === "POST") return send(res, 200, { url: `http://${req.headers.host}/billing` });

    return problem(res, 404, "not-found", "Not found", `No route ${method} ${path}.`);
  }

  async function serveStatic(req, res, url) {
    if (url.pathname === "/config.json") return send(res, 200, { apiBaseUrl: "/api", wsUrl: `ws://${req.headers.host}/ws`, walletConnectProjectId: "" });
    const rel = url.pathname === "/" ? "index.html" : normalize(decodeURIComponent(url.pathname)).replace(/^(\.\.[/\\])+/, "").replace(/^[/\\]+/, "");
    const file = join(DIST, rel);
    try {
      if (!(await stat(file)).isFile()) throw new Error("dir");
      res.writeHead(200, { "Content-Type": MIME[extname(file)] ?? "application/octet-stream" });
      res.end(await readFile(file));
    } catch {
      if (url.pathname.startsWith("/assets/")) return problem(res, 404, "not-found", "Not found", "No such file.");
      // Single-page-app fallback, like CloudFront's error responses and the local gateway.
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end(await readFile(join(DIST, "index.html")));
    }
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", `http://${req.headers.host}`);
    const isStatic = req.method === "GET" && !url.pathname.startsWith("/api/") && !url.pathname.startsWith("/__test/") && url.pathname !== "/rpc";
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
    /** Responses that did not match docs/openapi.json (route, status, content type or schema). */
    violations: () => [...new Set(violations)],
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
