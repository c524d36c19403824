/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build is fully static: runtime settings come from /config.json next to index.html,
// so one build deploys to any origin (S3 + CloudFront, or the local run at `/`).
export default defineConfig({
  plugins: [react()],
  base: "./",
  // The manifest lets scripts/bundle-size.mjs tell first-load chunks from lazily loaded ones.
  build: { outDir: "dist", sourcemap: true, manifest: true },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
    restoreMocks: true,
  },
});
