// follow(): list, then the presence feed (GET /api/model/events, Server-Sent Events).

import { ClientCode, VibepassConnectionError, VibepassError, VibepassTimeoutError, errorFromResponse, isObject } from './errors.js'
import { badResponse, networkError } from './http.js'
import { type ActiveUser, type ModelClient, checkUser } from './model.js'
import { operations } from './openapi.js'
import { SSEParser, type SSEMessage } from './sse.js'

/** After the first list (reason "start"), and after the feed's `reset` (reason "reset"), which lists again. */
export interface Listed {
  kind: 'list'
  reason: 'start' | 'reset'
  rows: ActiveUser[]
  cursor: string
}

/** join, renew or update: the row as the list shows it, upserted into `present`. */
export interface UserChanged {
  kind: 'join' | 'renew' | 'update'
  /** The feed's cursor after this event. */
  id: string
  user: ActiveUser
}

/** leave (checkout, sign-out, account deleted) or expire (the pass ran out at `at`): the user is removed from `present`. */
export interface UserLeft {
  kind: 'leave' | 'expire'
  id: string
  user_id: string
  at: string
  /** The row `present` held for the user, or null if it held none. */
  user: ActiveUser | null
}

/** What a Follower yields. */
export type FollowEvent = Listed | UserChanged | UserLeft

/** How a Follower resumes, and when it stops. */
export interface FollowOptions {
  /** How long a stream may carry nothing, not even a heartbeat, before it is resumed (default 45 000 ms; the server sends one every 15 s). */
  heartbeatTimeoutMs?: number
  /** The wait after the first failure in a row (default 500 ms), doubled after each next one up to maxBackoffMs (default 30 000 ms). */
  backoffMs?: number
  maxBackoffMs?: number
  /** Give up (throw) after this many transient failures in a row (default: retry for ever). */
  maxRetries?: number | null
  /** Stops the follower, as close() does. */
  signal?: AbortSignal
  /** Where notices go (a lost connection, a reset, a drop); default console.warn. */
  onNotice?: (message: string) => void
}

const UPSERTS = new Set(['join', 'renew', 'update'])
const REMOVALS = new Set(['leave', 'expire'])

/** How one stream ended, when it did not fail: list again, resume from the named cursor, or it ended. */
type StreamEnd = 'reset' | 'dropped' | 'ended' | 'closed'

/**
 * An async iterable of the presence feed's events that keeps `present` up to date.
 *
 * It lists first (a Listed event), then yields a UserChanged for each join, renew and
 * update and a UserLeft for each leave and expire, in commit order, each once. `present`
 * maps user_id to the row of everyone present after the event just yielded; `cursor` is
 * the feed position it reflects.
 *
 * A stream that breaks, ends, or carries nothing for heartbeatTimeoutMs is resumed with
 * Last-Event-ID after the last event, waiting backoffMs after the first failure, twice
 * that after the next, up to maxBackoffMs (or a 429's or 503's Retry-After, if longer).
 * `reset` lists again (a Listed event with reason "reset"); `dropped` resumes from the
 * cursor it names. A failure retrying cannot mend (401, 403, 400) is thrown from the
 * iteration as its VibepassError, and so is a transient one after maxRetries in a row.
 * It ends on close(), when the signal aborts, or when the loop over it breaks.
 */
export class Follower implements AsyncIterable<FollowEvent> {
  /** Everyone present after the last event yielded, by user_id. */
  present = new Map<string, ActiveUser>()
  /** The feed position after the last event yielded (null before the first list). */
  cursor: string | null = null
  /** How many event streams it has opened (each resume opens one). */
  streams = 0

  readonly #client: ModelClient
  readonly #heartbeatMs: number
  readonly #backoffMs: number
  readonly #maxBackoffMs: number
  readonly #maxRetries: number | null
  readonly #notice: (message: string) => void
  #closed = false
  /** The request in flight (a list or a stream), for close() to give up. */
  #request: AbortController | null = null
  #wake: (() => void) | null = null
  #iterator: AsyncGenerator<FollowEvent, void, undefined> | null = null

  constructor (client: ModelClient, options: FollowOptions = {}) {
    this.#client = client
    this.#heartbeatMs = options.heartbeatTimeoutMs ?? 45_000
    this.#backoffMs = options.backoffMs ?? 500
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000
    this.#maxRetries = options.maxRetries ?? null
    this.#notice = options.onNotice ?? ((message) => console.warn(`vibepass: ${message}`))
    if (options.signal?.aborted === true) this.close()
    options.signal?.addEventListener('abort', () => this.close(), { once: true })
  }

  /** The one iteration of this follower (asking twice gives the same one). */
  [Symbol.asyncIterator] (): AsyncGenerator<FollowEvent, void, undefined> {
    this.#iterator ??= this.#run()
    return this.#iterator
  }

  /** Stops: the iteration ends, a read in progress is given up. Safe to call at any time. */
  close (): void {
    this.#closed = true
    this.#request?.abort()
    this.#wake?.()
  }

  async * #run (): AsyncGenerator<FollowEvent, void, undefined> {
    let failures = 0
    let listing: 'start' | 'reset' | null = 'start'
    try {
      while (!this.#closed) {
        if (listing !== null) {
          let list
          const abort = new AbortController()
          this.#request = abort
          try {
            list = await this.#client.activeUsers({ signal: abort.signal })
          } catch (err) {
            if (this.#closed) return
            await this.#wait(++failures, err)
            continue
          } finally {
            this.#request = null
          }
          if (this.#closed) return
          this.present = new Map(list.rows.map((row) => [row.user_id, row]))
          this.cursor = list.cursor
          yield { kind: 'list', reason: listing, rows: list.rows, cursor: list.cursor }
          listing = null
          continue
        }
        let end: StreamEnd
        try {
          end = yield * this.#follow(() => { failures = 0 })
        } catch (err) {
          if (this.#closed) return
          await this.#wait(++failures, err)
          continue
        }
        if (end === 'reset') listing = 'reset'
        if (end === 'ended') {
          await this.#wait(++failures, new VibepassConnectionError(`the event stream from ${this.#client.url} ended`, { code: ClientCode.connection }))
        }
      }
    } finally {
      this.#closed = true
      this.#request?.abort()
    }
  }

  /** Sleeps before the next attempt, or throws err when retrying cannot help. */
  async #wait (failures: number, err: unknown): Promise<void> {
    if (!(err instanceof VibepassError) || !err.transient || (this.#maxRetries !== null && failures > this.#maxRetries)) throw err
    let delay = Math.min(this.#maxBackoffMs, this.#backoffMs * 2 ** (failures - 1)) * (0.75 + Math.random() / 4)
    if (err.retryAfter !== null) delay = Math.max(delay, err.retryAfter * 1000)
    const what = err.status === null ? 'Connection lost' : `Refused (HTTP ${err.status})`
    this.#notice(`${what} (${err.name}: ${err.message}): resuming after ${this.cursor ?? 'the start'} in ${(delay / 1000).toFixed(1)} s`)
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay)
      this.#wake = () => { clearTimeout(timer); resolve() }
    })
    this.#wake = null
  }

  /**
   * One connection to the feed from this.cursor: calls connected once the server accepts
   * it, yields each event (applied to present), and returns how it ended.
   */
  async * #follow (connected: () => void): AsyncGenerator<FollowEvent, StreamEnd, undefined> {
    const op = operations.events
    const base = this.#client.url
    const abort = new AbortController()
    this.#request = abort
    let timedOut = false
    let timer: ReturnType<typeof setTimeout> | undefined
    const watch = (): void => {
      clearTimeout(timer)
      timer = setTimeout(() => { timedOut = true; abort.abort() }, this.#heartbeatMs)
    }
    const failure = (err: unknown): VibepassError => {
      if (timedOut) {
        return new VibepassTimeoutError(`nothing from ${base}'s event stream within ${this.#heartbeatMs / 1000} s`, { code: ClientCode.timeout, cause: err })
      }
      if (err instanceof Error && err.message === 'terminated') {
        return new VibepassConnectionError(`the event stream from ${base} was cut off`, { code: ClientCode.connection, cause: err })
      }
      return networkError(err, base, { timedOut: false, timeoutMs: 0, canceled: false })
    }
    try {
      watch()
      this.streams++
      let response: Response
      try {
        response = await this.#client.fetch(base + op.path, {
          method: op.method,
          headers: { ...this.#client.headers(op, 'text/event-stream'), 'Last-Event-ID': this.cursor ?? '' },
          signal: abort.signal,
        })
      } catch (err) {
        if (this.#closed) return 'closed'
        throw failure(err)
      }
      if (response.status !== 200) {
        let body = ''
        try {
          body = await response.text()
        } catch (err) {
          if (this.#closed) return 'closed'
          throw failure(err)
        }
        throw errorFromResponse(response.status, response.headers, body)
      }
      const type = response.headers.get('Content-Type') ?? ''
      if (!type.startsWith('text/event-stream') || response.body === null) {
        throw badResponse(response.status, `the event stream's Content-Type is ${JSON.stringify(type)}`)
      }
      connected()
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      const parser = new SSEParser()
      for (;;) {
        watch()
        let chunk: ReadableStreamReadResult<string>
        try {
          chunk = await reader.read()
        } catch (err) {
          if (this.#closed) return 'closed'
          throw failure(err)
        }
        if (chunk.done) {
          if (parser.partial) throw new VibepassConnectionError(`the event stream from ${base} was cut off`, { code: ClientCode.connection })
          return this.#closed ? 'closed' : 'ended'
        }
        for (const message of parser.push(chunk.value)) {
          clearTimeout(timer) // the time the caller takes is not the server's silence
          const outcome = this.#apply(message, response.status)
          if (typeof outcome === 'string') return outcome
          if (outcome !== null) yield outcome
          if (this.#closed) return 'closed'
        }
      }
    } finally {
      clearTimeout(timer)
      abort.abort()
      if (this.#request === abort) this.#request = null
    }
  }

  /** Applies one message: the event to yield, null for one to pass over, or how the stream ends. */
  #apply (message: SSEMessage, status: number): FollowEvent | 'reset' | 'dropped' | null {
    if (message.event === 'reset' || message.event === 'dropped') {
      const data = parse(message, status)
      if (typeof data['cursor'] !== 'string' || data['cursor'] === '') {
        throw badResponse(status, `${message.event} without a cursor: ${JSON.stringify(message.data)}`)
      }
      if (message.event === 'reset') {
        this.#notice(`Reset: the cursor ${this.cursor ?? ''} is outside the history kept (${String(data['reason'])}): listing again`)
        return 'reset'
      }
      this.#notice(`Dropped for falling behind: resuming after ${data['cursor']}`)
      this.cursor = data['cursor']
      return 'dropped'
    }
    if (message.id === null) return null // nothing this client knows
    const id = message.id
    if (UPSERTS.has(message.event)) {
      const user = parse(message, status)
      checkUser(user, status)
      this.present.set(user.user_id, user)
      this.cursor = id
      return { kind: message.event as UserChanged['kind'], id, user }
    }
    if (REMOVALS.has(message.event)) {
      const data = parse(message, status)
      const userId = data['user_id']
      const at = data['at']
      if (typeof userId !== 'string' || typeof at !== 'string') {
        throw badResponse(status, `${message.event} without user_id and at: ${JSON.stringify(message.data)}`)
      }
      const user = this.present.get(userId) ?? null
      this.present.delete(userId)
      this.cursor = id
      return { kind: message.event as UserLeft['kind'], id, user_id: userId, at, user }
    }
    this.cursor = id // an event this client does not know yet
    return null
  }
}

/** The message's data as a JSON object, or a ResponseError. */
function parse (message: SSEMessage, status: number): Record<string, unknown> {
  let data: unknown
  try {
    data = JSON.parse(message.data)
  } catch {
    throw badResponse(status, `${message.event} data is not JSON: ${JSON.stringify(message.data)}`)
  }
  if (!isObject(data)) throw badResponse(status, `${message.event} data is not an object: ${JSON.stringify(message.data)}`)
  return data
}
