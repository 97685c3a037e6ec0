// The one place the editor talks HTTP: same-origin requests with the session cookie, JSON in
// and out, and API errors turned into `ApiError` with the server's code and message.

export interface ApiErrorBody {
  error: { code: string; message: string; details?: unknown };
}

/** An error answer from the API (or the network), with what the server said. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: unknown;

  constructor(status: number, code: string, message: string, details?: unknown) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

type QueryValue = string | number | boolean | null | undefined;

export interface RequestOptions {
  method: string;
  query?: Record<string, QueryValue | QueryValue[]>;
  headers?: Record<string, string | null | undefined>;
  body?: unknown;
}

/** Called with every 401, so the app can send the user back to the login screen. */
let onUnauthorized: (() => void) | null = null;

export function setUnauthorizedHandler(handler: (() => void) | null): void {
  onUnauthorized = handler;
}

export function buildUrl(path: string, query?: RequestOptions["query"]): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null) params.append(key, String(item));
    }
  }
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

export async function request<T>(path: string, options: RequestOptions): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  for (const [key, value] of Object.entries(options.headers ?? {})) {
    if (value !== undefined && value !== null) headers[key] = value;
  }
  let body: string | undefined;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(buildUrl(path, options.query), {
      method: options.method,
      headers,
      body,
      credentials: "same-origin",
    });
  } catch (error) {
    throw new ApiError(0, "network", `The server could not be reached (${String(error)}).`);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    if (response.status === 401 && onUnauthorized) onUnauthorized();
    const error = (data as ApiErrorBody | null)?.error;
    throw new ApiError(
      response.status,
      error?.code ?? "http_error",
      error?.message ?? `${response.status} ${response.statusText}`,
      error?.details,
    );
  }
  return data as T;
}
