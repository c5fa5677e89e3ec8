// The model client: who is present, the summary, the history, and follow().

import { isObject } from './errors.js'
import { Follower, type FollowOptions } from './follow.js'
import { type Answer, type FetchLike, badResponse, send, successBody } from './http.js'
import { type Responses, type Schemas, operations } from './openapi.js'

/** A present user as the API gives it: `preferences` are five floats in [0, 1], times are ISO 8601 UTC strings. */
export type ActiveUser = Schemas['ActiveUser']

/** GET /api/model/active-users: everyone with a live pass, newest check-in first. */
export interface ActiveUsers {
  unchanged: false
  /** The present users, newest check-in first. */
  rows: ActiveUser[]
  /** rows.length. */
  count: number
  /** The presence feed's position the list reflects. */
  cursor: string
  /** The value to pass as `etag` next time (null if the server sent none). */
  etag: string | null
  /** The server's clock when the read began. */
  timestamp: string
}

/** The answer to activeUsers({ etag }) while nothing changed (the server's 304): keep the rows you have. */
export interface Unchanged {
  unchanged: true
  etag: string
}

/** GET /api/model/summary: how many are present and their mean preferences. */
export interface Summary {
  count: number
  /** The per-dimension mean of the present users' preferences; null when nobody is present. */
  mean: number[] | null
  cursor: string
  timestamp: string
}

/** GET /api/model/history: how many were present at the end of each of the last 60 minutes. */
export interface History {
  /** Oldest first; the last point is when the server computed it. */
  minutes: Array<{ at: string, count: number }>
  timestamp: string
}

/** One of the model's operations, as proxy/openapi.json describes it. */
export type ModelOperation = (typeof operations)['activeUsers' | 'summary' | 'history' | 'events']

/** How to reach vibepass as the model. */
export interface ModelClientOptions {
  /** The server (default: VIBEPASS_URL, else http://localhost:3000). */
  url?: string
  /** The model API key (default: ML_API_KEY, else the first key of MODEL_API_KEY). */
  apiKey?: string | null
  /** Bounds each request but the event stream (default 30 000 ms; 0: no bound). */
  timeoutMs?: number
  /** The fetch to call (default: the platform's). */
  fetch?: FetchLike
}

/** The default server: VIBEPASS_URL, or http://localhost:3000. */
export function defaultURL (): string {
  return env('VIBEPASS_URL') || 'http://localhost:3000'
}

/** ML_API_KEY (the spec's name), else the first key of MODEL_API_KEY (the server's, comma-separated); null without either. */
export function defaultAPIKey (): string | null {
  const key = env('ML_API_KEY') || (env('MODEL_API_KEY').split(',')[0] ?? '').trim()
  return key === '' ? null : key
}

function env (name: string): string {
  return globalThis.process?.env?.[name] ?? ''
}

/** A client of one vibepass server's model endpoints. Every method throws a VibepassError on any failure, never answering an empty list for one. */
export class ModelClient {
  /** The server's URL, without a trailing slash. */
  readonly url: string
  /** The fetch it calls. */
  readonly fetch: FetchLike
  /** The bound of each request but the event stream, in milliseconds. */
  readonly timeoutMs: number
  readonly #apiKey: string | null

  constructor (options: ModelClientOptions = {}) {
    const url = (options.url ?? defaultURL()).replace(/\/+$/, '')
    if (!/^https?:\/\/[^/]/.test(url)) throw new TypeError(`vibepass: url must be an http(s) URL, got ${JSON.stringify(url)}`)
    this.url = url
    this.#apiKey = options.apiKey === undefined ? defaultAPIKey() : options.apiKey
    this.timeoutMs = options.timeoutMs ?? 30_000
    this.fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  }

  /** The headers of a request for the model operation: Accept and the API key in the header the API names (when there is a key). */
  headers (op: ModelOperation, accept = 'application/json'): Record<string, string> {
    const headers: Record<string, string> = { Accept: accept }
    if (this.#apiKey !== null) headers[op.credential] = this.#apiKey
    return headers
  }

  private get (op: ModelOperation, signal: AbortSignal | undefined, extra: Record<string, string> = {}): Promise<Answer> {
    return send(op.path, { method: op.method, headers: { ...this.headers(op), ...extra } }, { fetch: this.fetch, base: this.url, timeoutMs: this.timeoutMs, signal })
  }

  /**
   * Everyone with a live pass now. With `etag` (a previous answer's), the answer is
   * Unchanged while nothing changed. A `signal` that aborts gives up the request (code "canceled").
   */
  activeUsers (options?: { signal?: AbortSignal }): Promise<ActiveUsers>
  activeUsers (options: { etag?: string | null, signal?: AbortSignal }): Promise<ActiveUsers | Unchanged>
  async activeUsers (options: { etag?: string | null, signal?: AbortSignal } = {}): Promise<ActiveUsers | Unchanged> {
    const etag = options.etag ?? null
    const answer = await this.get(operations.activeUsers, options.signal, etag === null ? {} : { 'If-None-Match': etag })
    if (answer.status === 304) {
      if (etag === null) throw badResponse(304, 'HTTP 304 to a request without If-None-Match')
      return { unchanged: true, etag: answer.headers.get('ETag') ?? etag }
    }
    const body = successBody(answer, 'the active users') as Partial<Responses['activeUsers']>
    const { data, count, cursor, timestamp } = body
    if (!Array.isArray(data) || typeof count !== 'number' || typeof cursor !== 'string' || typeof timestamp !== 'string') {
      throw badResponse(answer.status, 'the active users\' answer lacks data, count, cursor or timestamp')
    }
    if (count !== data.length) throw badResponse(answer.status, `count ${count} but ${data.length} rows`)
    for (const row of data) checkUser(row, answer.status)
    return { unchanged: false, rows: data, count, cursor, etag: answer.headers.get('ETag'), timestamp }
  }

  /** How many are present and their mean preferences. */
  async summary (options: { signal?: AbortSignal } = {}): Promise<Summary> {
    const answer = await this.get(operations.summary, options.signal)
    const { count, mean, cursor, timestamp } = successBody(answer, 'the summary') as Partial<Responses['summary']>
    if (typeof count !== 'number' || typeof cursor !== 'string' || typeof timestamp !== 'string' || (mean !== null && !isNumbers(mean))) {
      throw badResponse(answer.status, 'the summary lacks count, mean, cursor or timestamp')
    }
    return { count, mean, cursor, timestamp }
  }

  /** How many were present at the end of each of the last 60 minutes. */
  async history (options: { signal?: AbortSignal } = {}): Promise<History> {
    const answer = await this.get(operations.history, options.signal)
    const { minutes, timestamp } = successBody(answer, 'the history') as Partial<Responses['history']>
    if (!Array.isArray(minutes) || typeof timestamp !== 'string' ||
        !minutes.every((m) => isObject(m) && typeof m.at === 'string' && typeof m.count === 'number')) {
      throw badResponse(answer.status, 'the history lacks minutes or timestamp')
    }
    return { minutes: minutes.map(({ at, count }) => ({ at, count })), timestamp }
  }

  /** Lists, then follows the presence feed from the list's cursor: see Follower. */
  follow (options: FollowOptions = {}): Follower {
    return new Follower(this, options)
  }
}

/** Throws a ResponseError unless row has what every row has. */
export function checkUser (row: unknown, status: number): asserts row is ActiveUser {
  if (!isObject(row) || typeof row['user_id'] !== 'string' || typeof row['display_name'] !== 'string' ||
      typeof row['checked_in_at'] !== 'string' || typeof row['expires_at'] !== 'string' ||
      typeof row['is_anonymous'] !== 'boolean' || !isNumbers(row['preferences']) || row['preferences'].length !== 5) {
    throw badResponse(status, `a user row lacks user_id, display_name, checked_in_at, expires_at, is_anonymous or five preferences: ${JSON.stringify(row)}`)
  }
}

function isNumbers (v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'number')
}
