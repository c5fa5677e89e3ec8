// One HTTP request with a timeout, every failure turned into a VibepassError.

import { ClientCode, ResponseError, VibepassConnectionError, VibepassError, VibepassTimeoutError, errorFromResponse, isObject } from './errors.js'

/** The fetch the client calls: the platform's, or one you pass (to add headers, count requests, …). */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

/** A complete answer, with the local times the request left and the answer arrived. */
export interface Answer {
  status: number
  headers: Headers
  body: string
  sentAt: number
  receivedAt: number
}

/** What send needs besides the request itself. */
export interface SendOptions {
  fetch: FetchLike
  /** The server's URL, for messages ('' for the page's own origin). */
  base: string
  timeoutMs: number
  /** Local time in milliseconds (the presence controller's clock). */
  now?: () => number
  /** Stops the request; it then fails with code "canceled". */
  signal?: AbortSignal | undefined
}

/** Sends the request and reads the whole answer; any failure to get one is a VibepassError. */
export async function send (path: string, init: RequestInit, opts: SendOptions): Promise<Answer> {
  const now = opts.now ?? Date.now
  const controller = new AbortController()
  let timedOut = false
  const timer = opts.timeoutMs > 0 ? setTimeout(() => { timedOut = true; controller.abort() }, opts.timeoutMs) : undefined
  const stop = (): void => controller.abort()
  opts.signal?.addEventListener('abort', stop)
  const sentAt = now()
  try {
    if (opts.signal?.aborted === true) throw new Error('aborted')
    const response = await opts.fetch(opts.base + path, { ...init, signal: controller.signal })
    const body = await response.text()
    return { status: response.status, headers: response.headers, body, sentAt, receivedAt: now() }
  } catch (err) {
    throw networkError(err, opts.base, { timedOut, timeoutMs: opts.timeoutMs, canceled: opts.signal?.aborted === true })
  } finally {
    clearTimeout(timer)
    opts.signal?.removeEventListener('abort', stop)
  }
}

/** How a request that got no complete answer ended. */
export interface NetworkFailure {
  timedOut: boolean
  timeoutMs: number
  canceled: boolean
}

/** The client's error for a failure to get a complete answer from base. */
export function networkError (err: unknown, base: string, how: NetworkFailure): VibepassError {
  if (err instanceof VibepassError) return err
  const where = base === '' ? 'vibepass' : `vibepass at ${base}`
  if (how.canceled) return new VibepassError('the request was canceled', { code: ClientCode.canceled, cause: err })
  if (how.timedOut) {
    return new VibepassTimeoutError(`${where} did not answer within ${how.timeoutMs / 1000} seconds`, { code: ClientCode.timeout, cause: err })
  }
  // Node's fetch (undici) says "terminated" when a body is cut off part way, and puts the
  // socket's error (ECONNREFUSED, …) in cause; browsers say only "Failed to fetch".
  const cause = isObject(err) ? err['cause'] : undefined
  const sysCode = isObject(cause) && typeof cause['code'] === 'string' ? cause['code'] : ''
  if (err instanceof Error && err.message === 'terminated') {
    return new VibepassConnectionError(`the answer from ${where} was cut off`, { code: ClientCode.connection, cause: err })
  }
  if (sysCode === 'ECONNREFUSED' || sysCode === 'ENOTFOUND' || sysCode === 'EAI_AGAIN') {
    return new VibepassConnectionError(`cannot connect to ${where}: is the server running?`, { code: ClientCode.connection, cause: err })
  }
  const detail = err instanceof Error ? `${err.message}${sysCode === '' ? '' : ` (${sysCode})`}` : String(err)
  return new VibepassConnectionError(`connection to ${where} failed: ${detail}`, { code: ClientCode.connection, cause: err })
}

/** The body of a 2xx answer with "success": true, parsed; any other answer is a VibepassError. */
export function successBody (answer: Answer, what: string): Record<string, unknown> {
  if (answer.status < 200 || answer.status > 299) throw errorFromResponse(answer.status, answer.headers, answer.body)
  let data: unknown
  try {
    data = JSON.parse(answer.body)
  } catch {
    throw badResponse(answer.status, `${what}: HTTP ${answer.status} with a body that is not JSON`)
  }
  if (!isObject(data) || data['success'] !== true) throw badResponse(answer.status, `${what}: HTTP ${answer.status} without "success": true`)
  return data
}

/** A ResponseError: the answer is not what the API documents. */
export function badResponse (status: number | null, message: string): ResponseError {
  return new ResponseError(message, { status, code: ClientCode.badResponse })
}
