/** What every page of the browser tests is checked for: accessibility, fit, and drawn charts. */
import { mkdirSync, writeFileSync } from "node:fs";
import AxeBuilder from "@axe-core/playwright";
import type { Page } from "playwright-core";

const AXE_DIR = new URL("../test-results/axe/", import.meta.url).pathname;

export interface AxeSummary {
  page: string;
  violations: Array<{ id: string; impact: string | null | undefined; help: string; nodes: number }>;
}

/**
 * Runs axe-core (WCAG 2.x A/AA rules) on the page as it is, writes the full result to
 * test-results/axe/<name>.json and returns the serious and critical violations.
 */
export async function axeSerious(page: Page, name: string): Promise<AxeSummary["violations"]> {
  // @axe-core/playwright is typed against playwright's Page; playwright-core's is the same object.
  const results = await new AxeBuilder({ page: page as never }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  mkdirSync(AXE_DIR, { recursive: true });
  writeFileSync(`${AXE_DIR}${name}.json`, JSON.stringify(results, null, 2));
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length, targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
}

/**
 * Whether anything is cut: the document scrolls sideways, or a table is wider than the box that
 * holds it (its right-hand columns would be hidden behind a scrollbar). Returns what overflows.
 */
export async function cutContent(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const problems: string[] = [];
    const doc = document.documentElement;
    if (doc.scrollWidth - doc.clientWidth > 1) problems.push(`page is ${doc.scrollWidth - doc.clientWidth}px wider than the window`);
    document.querySelectorAll("table").forEach((table, i) => {
      const box = table.parentElement!;
      if (table.scrollWidth - box.clientWidth > 1) problems.push(`table ${i} (${table.getAttribute("data-testid") ?? table.className}) is ${table.scrollWidth - box.clientWidth}px wider than its box`);
    });
    return problems;
  });
}

/**
 * Points a chart holds per series (its `data-points`) and how many canvas pixels carry the
 * first series' colour: a chart drawn with data has both, an empty frame has neither.
 */
export async function chartInk(page: Page, testId: string, rgb: [number, number, number]): Promise<{ points: number[]; pixels: number }> {
  const chart = page.getByTestId(testId);
  await chart.waitFor();
  await page.waitForFunction((id) => (document.querySelector(`[data-testid="${id}"]`)?.getAttribute("data-points") ?? "") !== "", testId);
  // One frame for the canvas to paint.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  return page.evaluate(
    ({ id, color }) => {
      const figure = document.querySelector(`[data-testid="${id}"]`)!;
      const points = (figure.getAttribute("data-points") ?? "").split(",").filter(Boolean).map(Number);
      let pixels = 0;
      figure.querySelectorAll("canvas").forEach((canvas) => {
        const ctx = (canvas as HTMLCanvasElement).getContext("2d");
        if (!ctx || !canvas.width || !canvas.height) return;
        const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 0; i < data.length; i += 4) {
          if (Math.abs(data[i] - color[0]) < 12 && Math.abs(data[i + 1] - color[1]) < 12 && Math.abs(data[i + 2] - color[2]) < 12 && data[i + 3] > 128) pixels++;
        }
      });
      return { points, pixels };
    },
    { id: testId, color: rgb },
  );
}
