import { describe, expect, it } from "vitest";
import { checkAddress, toChecksumAddress } from "./address";
import { toSendParams } from "./transactions";

describe("addresses", () => {
  it("checksums per EIP-55", () => {
    // Test vectors from the EIP-55 specification
    for (const a of ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359", "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB"]) {
      expect(toChecksumAddress(a.toLowerCase())).toBe(a);
    }
  });

  it("accepts lower case, rejects a mistyped checksummed address and junk", () => {
    expect(checkAddress(" 0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed ")).toEqual({ ok: true, address: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" });
    expect(checkAddress("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")).toMatchObject({ ok: false, error: expect.stringMatching(/Checksum/) });
    expect(checkAddress("0x1234")).toMatchObject({ ok: false });
    expect(checkAddress("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")).toMatchObject({ ok: false, error: expect.stringMatching(/0x/) });
    expect(checkAddress("")).toMatchObject({ ok: false });
    expect(checkAddress("0x" + "0".repeat(40))).toMatchObject({ ok: false, error: expect.stringMatching(/zero/) });
  });
});

describe("toSendParams", () => {
  it("turns decimal API quantities into hex JSON-RPC quantities", () => {
    const params = toSendParams({
      from: "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
      to: "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
      data: "0x",
      value: "1000000000000000000",
      chainId: 8453,
      gas: 21000,
      maxFeePerGas: "0x3b9aca00",
      nonce: 0,
    });
    expect(params).toMatchObject({ value: "0xde0b6b3a7640000", chainId: "0x2105", gas: "0x5208", maxFeePerGas: "0x3b9aca00", nonce: "0x0", type: "0x2" });
    expect(params).not.toHaveProperty("maxPriorityFeePerGas");
  });
});

