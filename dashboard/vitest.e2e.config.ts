import { defineConfig } from "vitest/config";

// Browser tests: headless Debian Chromium driven by playwright-core (no browser download).
// Without TIDEWATCH_E2E_BASE_URL the global setup serves dist/ with the mock API (fast tier).
export default defineConfig({
  test: {
    environment: "node",
    include: ["e2e/**/*.spec.ts"],
    globalSetup: ["e2e/global-setup.ts"],
    testTimeout: 480_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
