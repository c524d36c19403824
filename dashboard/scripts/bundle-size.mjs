/**
 * Prints what the built dashboard weighs and fails the build when the first load goes over
 * budget. First load = the entry chunk and everything it imports statically (what the browser
 * must fetch before the first paint), gzip-compressed as a CDN serves it. Lazily loaded chunks
 * (WalletConnect's SDK and pairing modal, charts) are listed separately: they cost only whoever
 * uses them.
 */
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

// React + router + wagmi + viem (signing, ABI, SIWE) measure ~230 KB; the budget keeps growth visible.
const BUDGET_FIRST_LOAD_JS_GZIP = 240 * 1024;
const dist = new URL("../dist/", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL(".vite/manifest.json", dist), "utf8"));

const gz = (file) => gzipSync(readFileSync(new URL(file, dist)), { level: 9 }).length;
const raw = (file) => readFileSync(new URL(file, dist)).length;
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

const entryKey = Object.keys(manifest).find((k) => manifest[k].isEntry);
const firstLoad = new Set();
const css = new Set();
(function walk(key) {
  const chunk = manifest[key];
  if (!chunk || firstLoad.has(chunk.file)) return;
  firstLoad.add(chunk.file);
  for (const c of chunk.css ?? []) css.add(c);
  for (const i of chunk.imports ?? []) walk(i);
})(entryKey);

const lazy = new Set(Object.values(manifest).map((c) => c.file).filter((f) => f.endsWith(".js") && !firstLoad.has(f)));
const jsGzip = [...firstLoad].reduce((s, f) => s + gz(f), 0);
const jsRaw = [...firstLoad].reduce((s, f) => s + raw(f), 0);
const cssGzip = [...css].reduce((s, f) => s + gz(f), 0);
const lazyGzip = [...lazy].reduce((s, f) => s + gz(f), 0);
const walletConnect = [...lazy].filter((f) => /walletConnect|w3m|appkit|ApiController|core-|dist-|wui-/i.test(f));

console.log("\nBundle weight (gzip -9):");
console.log(`  first-load JS   ${kb(jsGzip)} gzip (${kb(jsRaw)} raw) in ${firstLoad.size} chunk(s); budget ${kb(BUDGET_FIRST_LOAD_JS_GZIP)}`);
console.log(`  first-load CSS  ${kb(cssGzip)} gzip`);
console.log(`  lazy JS         ${kb(lazyGzip)} gzip in ${lazy.size} chunk(s), of which WalletConnect ≈ ${kb(walletConnect.reduce((s, f) => s + gz(f), 0))}`);
if (jsGzip > BUDGET_FIRST_LOAD_JS_GZIP) {
  console.error(`FAIL: first-load JS ${kb(jsGzip)} gzip is over the ${kb(BUDGET_FIRST_LOAD_JS_GZIP)} budget`);
  process.exit(1);
}
