import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

const HEX_ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** EIP-55 mixed-case checksum of an address. */
export function toChecksumAddress(address: string): string {
  if (!HEX_ADDRESS.test(address)) throw new Error(`Not an address: ${address}`);
  const lower = address.slice(2).toLowerCase();
  const hash = bytesToHex(keccak_256(utf8ToBytes(lower)));
  let out = "0x";
  for (let i = 0; i < 40; i++) out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
  return out;
}

export type AddressCheck = { ok: true; address: string } | { ok: false; error: string };

/**
 * Validates user input: 0x + 40 hex digits; all-lower/all-upper is accepted and checksummed,
 * mixed case must match its EIP-55 checksum (a typo in a checksummed address is caught).
 */
export function checkAddress(input: string): AddressCheck {
  const value = input.trim();
  if (!value) return { ok: false, error: "Enter an address." };
  if (!value.startsWith("0x")) return { ok: false, error: "An address starts with 0x." };
  if (!HEX_ADDRESS.test(value)) return { ok: false, error: "An address is 0x followed by 40 hexadecimal digits." };
  const body = value.slice(2);
  const checksummed = toChecksumAddress(value);
  const mixed = body !== body.toLowerCase() && body !== body.toUpperCase();
  if (mixed && checksummed !== value) return { ok: false, error: "Checksum mismatch: check the address for typos." };
  if (/^0x0{40}$/.test(value)) return { ok: false, error: "The zero address cannot hold positions." };
  return { ok: true, address: checksummed };
}
