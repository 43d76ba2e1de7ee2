import type { ContentfulStatusCode } from "hono/utils/http-status";

/**
 * Every refusal the API makes, as one exception type. Handlers throw it; `onError` in app.ts
 * renders it once as `{"error": {code, message, details}}`, so the error shape cannot drift.
 */
export class ApiError extends Error {
  readonly status: ContentfulStatusCode;
  readonly code: string;
  readonly details: unknown[] | undefined;
  readonly headers: Record<string, string>;

  constructor(
    status: ContentfulStatusCode,
    code: string,
    message: string,
    options: { details?: unknown[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }
}

export type ErrorBody = { error: { code: string; message: string; details?: unknown[] } };

export function errorBody(code: string, message: string, details?: unknown[]): ErrorBody {
  return { error: details === undefined ? { code, message } : { code, message, details } };
}
