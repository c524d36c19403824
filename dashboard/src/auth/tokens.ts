import type { TokenPair } from "../api/types";

/** What survives a reload: both tokens, the access expiry and the signed-in address. */
export interface StoredSession {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds after which the access token is treated as expired. */
  accessExpiresAt: number;
  address: string;
}

export interface SessionStore {
  load(): StoredSession | null;
  save(session: StoredSession): void;
  clear(): void;
}

const KEY = "tidewatch.session";

/**
 * localStorage so a session survives reloads and new tabs; the refresh token rotates on every
 * use and logout revokes it server-side, which bounds what a stolen copy is worth.
 */
export function browserSessionStore(storage: Storage = window.localStorage): SessionStore {
  return {
    load() {
      try {
        const raw = storage.getItem(KEY);
        if (!raw) return null;
        const s = JSON.parse(raw) as Partial<StoredSession>;
        if (typeof s.accessToken !== "string" || typeof s.refreshToken !== "string") return null;
        return {
          accessToken: s.accessToken,
          refreshToken: s.refreshToken,
          accessExpiresAt: typeof s.accessExpiresAt === "number" ? s.accessExpiresAt : 0,
          address: typeof s.address === "string" ? s.address : "",
        };
      } catch {
        return null;
      }
    },
    save(session) {
      storage.setItem(KEY, JSON.stringify(session));
    },
    clear() {
      storage.removeItem(KEY);
    },
  };
}

export function memorySessionStore(initial: StoredSession | null = null): SessionStore {
  let value = initial;
  return {
    load: () => value,
    save: (s) => {
      value = s;
    },
    clear: () => {
      value = null;
    },
  };
}

/** Reads `exp` from a JWT without verifying it (the server verifies; we only schedule refresh). */
export function jwtExpiry(token: string): number | null {
  const part = token.split(".")[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    return typeof exp === "number" ? exp * 1000 : null;
  } catch {
    return null;
  }
}

export function sessionFromTokens(pair: TokenPair, address: string, now: number = Date.now()): StoredSession {
  const fromJwt = jwtExpiry(pair.access_token);
  const fromBody = pair.expires_in ? now + pair.expires_in * 1000 : null;
  return {
    accessToken: pair.access_token,
    refreshToken: pair.refresh_token,
    accessExpiresAt: fromJwt ?? fromBody ?? now + 5 * 60_000,
    address: pair.user?.address ?? address,
  };
}
