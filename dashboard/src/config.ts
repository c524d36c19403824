/** Runtime configuration, read from `config.json` served next to index.html. */
export interface AppConfig {
  /** Base URL of the HTTP API, without trailing slash; "" means the same origin as the app. */
  apiBaseUrl: string;
  /** WebSocket URL; "" derives `ws(s)://<api host>/ws` from apiBaseUrl (or the page origin). */
  wsUrl: string;
  /** WalletConnect Cloud project id; "" disables WalletConnect. */
  walletConnectProjectId: string;
  /** "local" in `tidewatch dev`; anything else is a deployed stack. */
  environment: string;
  /** The local run offers one-click sign-in as the devnet's seeded accounts (never when deployed). */
  devSignIn: boolean;
}

export const DEFAULT_CONFIG: AppConfig = { apiBaseUrl: "", wsUrl: "", walletConnectProjectId: "", environment: "", devSignIn: false };

function str(value: unknown): string {
  return typeof value === "string" ? value.trim() : "";
}

export function parseConfig(raw: unknown): AppConfig {
  const obj = (raw && typeof raw === "object" ? raw : {}) as Record<string, unknown>;
  return {
    apiBaseUrl: str(obj.apiBaseUrl).replace(/\/+$/, ""),
    wsUrl: str(obj.wsUrl),
    walletConnectProjectId: str(obj.walletConnectProjectId),
    environment: str(obj.environment),
    // Only the local run's own config turns it on, and only the local gateway can sign.
    devSignIn: obj.devSignIn === true && str(obj.environment) === "local",
  };
}

/** The WebSocket URL to use: explicit config wins, else the API origin with ws(s) and /ws. */
export function resolveWsUrl(config: AppConfig, pageOrigin: string): string {
  if (config.wsUrl) return config.wsUrl;
  const base = new URL(config.apiBaseUrl || pageOrigin, pageOrigin);
  base.protocol = base.protocol === "https:" ? "wss:" : "ws:";
  base.pathname = base.pathname.replace(/\/+$/, "") + "/ws";
  base.search = "";
  return base.toString();
}

export async function loadConfig(fetchImpl: typeof fetch = fetch): Promise<AppConfig> {
  // Relative to the document so the app works under any path prefix.
  const response = await fetchImpl(new URL("config.json", document.baseURI).toString(), { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  return parseConfig(await response.json());
}
