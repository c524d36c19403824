/** The app's top-level routes (hash routing: `/#/markets`). */
export const ROUTE_ROOTS = ["signin", "portfolios", "markets", "rules", "transactions", "notifications", "billing"];

/**
 * Hosts with a single-page-app fallback (CloudFront's error responses, the local gateway) may
 * open the app at a path such as `/billing?checkout=success` (Stripe's configured return URL).
 * Returns the URL that shows the same route with hash routing, or null when nothing is to move.
 */
export function hashUrlForPath(loc: Pick<Location, "pathname" | "search" | "hash">): string | null {
  if (loc.hash && loc.hash !== "#") return null;
  const segments = loc.pathname.split("/");
  const at = segments.findIndex((s) => ROUTE_ROOTS.includes(s));
  if (at < 0) return null;
  const base = segments.slice(0, at).join("/") + "/";
  const route = "/" + segments.slice(at).join("/");
  return `${base}#${route}${loc.search}`;
}
