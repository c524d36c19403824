/** Address input checks with viem's EIP-55 checksums. */
import { getAddress, isAddress } from "viem";

/** EIP-55 mixed-case checksum of a 0x address (throws on anything that is not one). */
export function toChecksumAddress(address: string): `0x${string}` {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) throw new Error(`Not an address: ${address}`);
  return getAddress(address.toLowerCase());
}

export type AddressCheck = { ok: true; address: `0x${string}` } | { ok: false; error: string };

/**
 * Validates user input: 0x + 40 hex digits; all-lower/all-upper is accepted and checksummed,
 * mixed case must match its EIP-55 checksum (a typo in a checksummed address is caught).
 */
export function checkAddress(input: string): AddressCheck {
  const value = input.trim();
  if (!value) return { ok: false, error: "Enter an address." };
  if (!value.startsWith("0x")) return { ok: false, error: "An address starts with 0x." };
  if (!isAddress(value, { strict: false })) return { ok: false, error: "An address is 0x followed by 40 hexadecimal digits." };
  const body = value.slice(2);
  const mixed = body !== body.toLowerCase() && body !== body.toUpperCase();
  if (mixed && !isAddress(value, { strict: true })) return { ok: false, error: "Checksum mismatch: check the address for typos." };
  if (/^0x0{40}$/.test(value)) return { ok: false, error: "The zero address cannot hold positions." };
  return { ok: true, address: toChecksumAddress(value) };
}
