// @vitest-environment node
/** The committed API types are what openapi-typescript makes of docs/openapi.json today. */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

describe("generated API types", () => {
  it("match docs/openapi.json (regenerate with `npm run gen:api`)", () => {
    // Given the committed schema.d.ts and the spec the API generates
    const dir = mkdtempSync(join(tmpdir(), "tidewatch-schema-"));
    try {
      const out = join(dir, "schema.d.ts");
      const cli = join(createRequire(import.meta.url).resolve("openapi-typescript/package.json"), "../bin/cli.js");
      // When the types are generated afresh from the spec
      execFileSync(process.execPath, [cli, here("../../../docs/openapi.json"), "-o", out], { stdio: "pipe" });
      // Then they are byte for byte the committed ones
      expect(readFileSync(out, "utf8") === readFileSync(here("./schema.d.ts"), "utf8"), "src/api/schema.d.ts is stale: run `npm run gen:api`").toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Generation takes a few seconds; on a loaded CI machine several times that.
  }, 60_000);
});
