/** EIP-4361 (Sign-In with Ethereum) messages, built and parsed with viem's SIWE utilities. */
import { createSiweMessage, parseSiweMessage, validateSiweMessage } from "viem/siwe";
import { toChecksumAddress } from "../wallet/address";

export const SIWE_STATEMENT = "Sign in to Tidewatch.";

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
  return createSiweMessage({
    domain: args.location.host,
    address: toChecksumAddress(args.address),
    statement: SIWE_STATEMENT,
    uri: args.location.origin,
    version: "1",
    chainId: args.chainId,
    nonce: args.nonce,
    issuedAt: now,
    expirationTime: new Date(now.getTime() + (args.ttlMinutes ?? 10) * 60_000),
  });
}

/**
 * Whether `message` is a well-formed sign-in for this page by `address`, valid at `now`: checked
 * before a signature is asked for, so a wallet never signs a message the API would refuse anyway.
 */
export function isSiweMessageFor(message: string, args: { host: string; address: string; now?: Date }): boolean {
  const parsed = parseSiweMessage(message);
  if (!parsed.address || parsed.version !== "1" || !parsed.uri || !parsed.nonce || !parsed.chainId) return false;
  return validateSiweMessage({
    message: parsed,
    domain: args.host,
    address: toChecksumAddress(args.address),
    time: args.now ?? new Date(),
  });
}
