/** Presentation formatting. Values may be numbers or decimal strings from the API. */
import type { Num } from "./api/types";

export function toNumber(value: Num | null | undefined): number | null {
  if (value === null || value === undefined || value === "") return null;
  const n = typeof value === "number" ? value : Number(value);
  return Number.isFinite(n) ? n : null;
}

const DASH = "—";

export function formatUsd(value: Num | null | undefined, opts: { compact?: boolean } = {}): string {
  const n = toNumber(value);
  if (n === null) return DASH;
  const abs = Math.abs(n);
  if (opts.compact && abs >= 1_000_000) {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", notation: "compact", minimumFractionDigits: 0, maximumFractionDigits: 2 }).format(n);
  }
  return new Intl.NumberFormat("en-US", {
    style: "currency",
    currency: "USD",
    minimumFractionDigits: abs > 0 && abs < 1 ? 4 : 2,
    maximumFractionDigits: abs > 0 && abs < 1 ? 4 : 2,
  }).format(n);
}

/** A fraction (0.0345) as a percentage ("3.45 %"). */
export function formatPct(value: Num | null | undefined, digits = 2): string {
  const n = toNumber(value);
  if (n === null) return DASH;
  return `${(n * 100).toFixed(digits)} %`;
}

/** Health factors: huge values mean "no debt"; below 1 is liquidatable. */
export function formatHealthFactor(value: Num | null | undefined): string {
  const n = toNumber(value);
  if (n === null) return DASH;
  if (n > 1e6) return "∞";
  return n.toFixed(2);
}

export type HealthLevel = "none" | "safe" | "watch" | "danger" | "liquidatable";

export function healthLevel(value: Num | null | undefined): HealthLevel {
  const n = toNumber(value);
  if (n === null) return "none";
  if (n < 1) return "liquidatable";
  if (n < 1.1) return "danger";
  if (n < 1.5) return "watch";
  return "safe";
}

export function formatProbability(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return DASH;
  if (p > 0 && p < 0.001) return "< 0.1 %";
  return `${(p * 100).toFixed(1)} %`;
}

/** "42 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function formatAge(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "never";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return DASH;
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function formatDateTime(iso: string | null | undefined): string {
  if (!iso) return DASH;
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return DASH;
  return new Date(t).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }) + " UTC";
}

export function shortAddress(address: string): string {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}

const CHAINS: Record<number, string> = { 1: "Ethereum", 8453: "Base", 31337: "Devnet" };
export function chainName(chainId: number): string {
  return CHAINS[chainId] ?? `Chain ${chainId}`;
}

const PROTOCOLS: Record<string, string> = { "aave-v3": "Aave v3", "compound-v3": "Compound v3", eigenlayer: "EigenLayer" };
export function protocolName(slug: string): string {
  return PROTOCOLS[slug] ?? slug;
}
