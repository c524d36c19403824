/** Builds EIP-4361 (Sign-In with Ethereum) messages exactly as the spec's ABNF lays them out. */
import { toChecksumAddress } from "../wallet/address";

export interface SiweFields {
  domain: string;
  address: string;
  statement?: string;
  uri: string;
  version?: "1";
  chainId: number;
  nonce: string;
  issuedAt: Date;
  expirationTime?: Date;
  notBefore?: Date;
  requestId?: string;
  resources?: string[];
}

export const SIWE_STATEMENT = "Sign in to Tidewatch.";

/** RFC 3339 without milliseconds, as most verifiers format and compare it. */
function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function buildSiweMessage(f: SiweFields): string {
  if (!/^[A-Za-z0-9]{8,}$/.test(f.nonce)) throw new Error("SIWE nonce must be at least 8 alphanumeric characters.");
  if (f.statement && f.statement.includes("\n")) throw new Error("SIWE statement must be one line.");
  const lines = [
    `${f.domain} wants you to sign in with your Ethereum account:`,
    toChecksumAddress(f.address),
    "",
  ];
  // ABNF: address LF LF [ statement LF ] LF — without a statement, two empty lines.
  if (f.statement) lines.push(f.statement, "");
  else lines.push("");
  lines.push(
    `URI: ${f.uri}`,
    `Version: ${f.version ?? "1"}`,
    `Chain ID: ${f.chainId}`,
    `Nonce: ${f.nonce}`,
    `Issued At: ${isoSeconds(f.issuedAt)}`,
  );
  if (f.expirationTime) lines.push(`Expiration Time: ${isoSeconds(f.expirationTime)}`);
  if (f.notBefore) lines.push(`Not Before: ${isoSeconds(f.notBefore)}`);
  if (f.requestId) lines.push(`Request ID: ${f.requestId}`);
  if (f.resources?.length) lines.push("Resources:", ...f.resources.map((r) => `- ${r}`));
  return lines.join("\n");
}

/** The message the dashboard asks the wallet to sign, bound to the page's own origin. */
export function dashboardSiweMessage(args: {
  location: Pick<Location, "host" | "origin">;
  address: string;
  chainId: number;
  nonce: string;
  now?: Date;
  ttlMinutes?: number;
}): string {
  const now = args.now ?? new Date();
  return buildSiweMessage({
    domain: args.location.host,
    address: args.address,
    statement: SIWE_STATEMENT,
    uri: args.location.origin,
    chainId: args.chainId,
    nonce: args.nonce,
    issuedAt: now,
    expirationTime: new Date(now.getTime() + (args.ttlMinutes ?? 10) * 60_000),
  });
}
