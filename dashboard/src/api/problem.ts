/** RFC 9457 problem details as the API sends them, and the error the client throws. */
export interface FieldProblem {
  field: string;
  message: string;
}

export interface ProblemBody {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  errors?: FieldProblem[];
  [extra: string]: unknown;
}

export class ApiError extends Error {
  readonly status: number;
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  readonly fieldErrors: FieldProblem[];
  readonly retryAfterSeconds: number | null;

  constructor(init: {
    status: number;
    type?: string;
    title?: string;
    detail?: string;
    fieldErrors?: FieldProblem[];
    retryAfterSeconds?: number | null;
  }) {
    const title = init.title || defaultTitle(init.status);
    super(init.detail ? `${title}: ${init.detail}` : title);
    this.name = "ApiError";
    this.status = init.status;
    this.type = init.type || "about:blank";
    this.title = title;
    this.detail = init.detail || "";
    this.fieldErrors = init.fieldErrors ?? [];
    this.retryAfterSeconds = init.retryAfterSeconds ?? null;
  }

  /** The last path segment of the problem type, a stable slug such as "rate-limited". */
  get slug(): string {
    const parts = this.type.split("/");
    return parts[parts.length - 1] || this.type;
  }

  /** Field errors keyed by field path ("definition.trigger.threshold"); first message wins. */
  fieldMap(): Record<string, string> {
    const map: Record<string, string> = {};
    for (const e of this.fieldErrors) if (!(e.field in map)) map[e.field] = e.message;
    return map;
  }

  /** A sentence fit for a banner. */
  get userMessage(): string {
    if (this.status === 0) return "Cannot reach the Tidewatch API. Check your connection and try again.";
    if (this.status === 429) {
      const wait = this.retryAfterSeconds != null ? ` Try again in ${this.retryAfterSeconds} s.` : "";
      return `Too many requests.${wait}`;
    }
    return this.detail ? `${this.title}: ${this.detail}` : this.title;
  }
}

function defaultTitle(status: number): string {
  if (status === 0) return "Network error";
  if (status === 401) return "Authentication required";
  if (status === 403) return "Forbidden";
  if (status === 404) return "Not found";
  if (status === 422) return "Invalid input";
  if (status === 429) return "Too many requests";
  if (status >= 500) return "Server error";
  return `HTTP ${status}`;
}

function parseRetryAfter(value: string | null): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds));
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.round((at - Date.now()) / 1000));
}

function normalizeFieldErrors(raw: unknown): FieldProblem[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((item) => {
    if (!item || typeof item !== "object") return [];
    const obj = item as Record<string, unknown>;
    // Accept {field,message} (ours) and FastAPI-ish {loc,msg} or JSON-pointer {pointer,detail}.
    let field = typeof obj.field === "string" ? obj.field : "";
    if (!field && Array.isArray(obj.loc)) field = obj.loc.filter((p) => p !== "body").join(".");
    if (!field && typeof obj.pointer === "string") field = obj.pointer.replace(/^#?\//, "").replace(/\//g, ".");
    const message = String(obj.message ?? obj.msg ?? obj.detail ?? "Invalid value");
    return [{ field: field || "(body)", message }];
  });
}

/** Builds an ApiError from a non-2xx response, whatever its body (problem+json, JSON, text). */
export async function problemFromResponse(response: Response): Promise<ApiError> {
  let body: ProblemBody = {};
  const text = await response.text().catch(() => "");
  if (text) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === "object") body = parsed as ProblemBody;
    } catch {
      // A proxy's HTML error page: keep only the status line.
    }
  }
  return new ApiError({
    status: typeof body.status === "number" ? body.status : response.status,
    type: body.type,
    title: body.title,
    detail: typeof body.detail === "string" ? body.detail : undefined,
    fieldErrors: normalizeFieldErrors(body.errors),
    retryAfterSeconds: parseRetryAfter(response.headers.get("Retry-After")),
  });
}
