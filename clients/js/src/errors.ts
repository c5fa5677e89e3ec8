// The errors the client throws: every failure is a VibepassError, never an empty answer.

/** The client's own codes, for failures that got no error answer from the server. */
export const ClientCode = {
  /** No answer: the server could not be reached, or the connection broke before the answer was complete. */
  connection: 'connection_error',
  /** No answer within the client's timeout (or, on the event stream, no heartbeat). */
  timeout: 'timeout',
  /** The server answered something that is not the API's JSON. */
  badResponse: 'bad_response',
  /** The request was given up because the caller stopped it. */
  canceled: 'canceled',
} as const

/** What a VibepassError is made from. */
export interface VibepassErrorInit {
  /** The HTTP status; null when no answer came. */
  status?: number | null
  /** The server's `code`, or one of ClientCode's. */
  code: string
  /** Seconds from a Retry-After header, when there was one. */
  retryAfter?: number | null
  /** The underlying failure, if any. */
  cause?: unknown
}

/**
 * A request to vibepass failed. `status` is the HTTP status (null when no answer came),
 * `code` the server's machine-readable `code` (or the client's own, see ClientCode),
 * `message` the server's `error` or what went wrong, `retryAfter` the seconds of a
 * Retry-After header.
 */
export class VibepassError extends Error {
  override name = 'VibepassError'
  /** The HTTP status; null when no answer came. */
  readonly status: number | null
  /** The server's `code`, or one of ClientCode's. */
  readonly code: string
  /** Seconds from a Retry-After header, when there was one. */
  readonly retryAfter: number | null

  constructor (message: string, init: VibepassErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause })
    this.status = init.status ?? null
    this.code = init.code
    this.retryAfter = init.retryAfter ?? null
  }

  /** Whether asking again later may succeed: no answer, a 429 or a 5xx. A wrong key or token, or a bad request, will not. */
  get transient (): boolean {
    return this.status === null || this.status === 429 || this.status >= 500
  }

  override toString (): string {
    return `${this.name}: ${this.status === null ? this.code : `HTTP ${this.status}`}: ${this.message}`
  }
}

/** 401 (no or a refused token or key) or 403 (a wrong model key, a role the database refuses): retrying as is will not help. */
export class AuthError extends VibepassError {
  override name = 'AuthError'
}

/** 429: too many requests; wait `retryAfter` seconds. */
export class RateLimitError extends VibepassError {
  override name = 'RateLimitError'
}

/** 503 or 504: vibepass cannot reach its database, it is too slow, or too many reads or streams are open. Try again shortly. */
export class UnavailableError extends VibepassError {
  override name = 'UnavailableError'
}

/** No answer: the server could not be reached, or the connection broke before the answer was complete (status null). */
export class VibepassConnectionError extends VibepassError {
  override name = 'VibepassConnectionError'
}

/** No answer within the client's timeout (status null, code "timeout"). */
export class VibepassTimeoutError extends VibepassConnectionError {
  override name = 'VibepassTimeoutError'
}

/** The server answered something that is not the API's JSON (code "bad_response"). */
export class ResponseError extends VibepassError {
  override name = 'ResponseError'
}

/** The error for a non-2xx answer, from the API's {"success": false, "error", "code"}. */
export function errorFromResponse (status: number, headers: Headers, body: string): VibepassError {
  let message = `HTTP ${status} with a body that is not the API's JSON`
  let code: string = ClientCode.badResponse
  try {
    const data: unknown = JSON.parse(body)
    if (isObject(data)) {
      if (typeof data['error'] === 'string') message = data['error']
      if (typeof data['code'] === 'string') code = data['code']
    }
  } catch {
    // not JSON: the message above says so
  }
  const header = headers.get('Retry-After')
  const seconds = header === null ? NaN : Number(header)
  const init = { status, code, retryAfter: Number.isFinite(seconds) ? seconds : null }
  if (status === 401 || status === 403) return new AuthError(message, init)
  if (status === 429) return new RateLimitError(message, init)
  if (status === 503 || status === 504) return new UnavailableError(message, init)
  return new VibepassError(message, init)
}

/** Whether v is a plain JSON object. */
export function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
