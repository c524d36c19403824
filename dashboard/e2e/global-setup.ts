/**
 * Starts the mock API + dashboard server unless TIDEWATCH_E2E_BASE_URL points at a running
 * Tidewatch (e.g. `tidewatch dev`), and hands the base URL to the specs.
 */
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { privateKeyToAccount } from "viem/accounts";
import { e2eEnv } from "./env";
// @ts-expect-error -- plain ESM module without type declarations
import { createMockApi } from "./mock-server.mjs";

declare module "vitest" {
  export interface ProvidedContext {
    baseUrl: string;
    mock: boolean;
  }
}

export default async function setup(project: TestProject) {
  const env = e2eEnv();
  if (!existsSync(env.chromium)) throw new Error(`Chromium not found at ${env.chromium}: apt-get install -y chromium (or set TIDEWATCH_CHROMIUM).`);
  if (env.baseUrl) {
    project.provide("baseUrl", env.baseUrl);
    project.provide("mock", false);
    return;
  }
  if (!existsSync(fileURLToPath(new URL("../dist/index.html", import.meta.url)))) throw new Error("dist/ is missing: run `npm run build` first.");
  const seeded = env.seededAddress ?? privateKeyToAccount(env.privateKey).address;
  const mock = createMockApi({ seededAddress: seeded });
  const url: string = await mock.listen(0);
  project.provide("baseUrl", url);
  project.provide("mock", true);
  return async () => {
    const violations: string[] = mock.violations();
    await mock.close();
    if (violations.length) throw new Error(`The mock API sent responses docs/openapi.json does not document:\n${violations.join("\n")}`);
  };
}
