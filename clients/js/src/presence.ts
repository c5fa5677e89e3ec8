// Presence that follows the app: check in on load and sign-in, renew while the page is in
// use, check out when it goes away or the person signs out, and count the minutes down
// locally instead of asking the server every minute.

import { ClientCode, VibepassError } from './errors.js'
import { type Answer, type FetchLike, badResponse, send, successBody } from './http.js'
import { type Responses, operations } from './openapi.js'

/** The part of a supabase-js session the controller reads (a supabase-js `Session` is one). */
export interface AuthSession {
  access_token: string
  /** When the access token expires, in seconds since the epoch. */
  expires_at?: number | undefined
  user?: { id: string } | null | undefined
}

/** The part of supabase-js's `auth` the controller uses; `createClient(...)` gives one, and so can anything else. */
export interface SupabaseAuthLike {
  getSession(): Promise<{ data: { session: AuthSession | null } }>
  onAuthStateChange(callback: (event: string, session: AuthSession | null) => void): { data: { subscription: { unsubscribe(): void } } }
}

/** A supabase-js client, or anything with its `auth.getSession()` and `auth.onAuthStateChange()`. */
export interface SupabaseLike {
  auth: SupabaseAuthLike
}

/** Where the controller reads the time and sets its timers: the platform's, or a test's fake. */
export interface Clock {
  now(): number
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** The platform's clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
}

/**
 * Where the person stands: `loading` until the first answer; `active` with a live pass;
 * `ended` when there is none (checked out, ran out, or ended elsewhere); `signed-out` with
 * nobody signed in; `expired` when the sign-in expired or the server refused it.
 */
export type PassStatus = 'loading' | 'active' | 'ended' | 'signed-out' | 'expired'

/** What the controller knows, replaced (never changed in place) whenever anything in it changes. */
export interface PassState {
  status: PassStatus
  /** Whole minutes left on the live pass, counted down locally and rounded up as the API rounds them; null unless `active`. */
  minutesLeft: number | null
  /** The live pass's end (ISO 8601 UTC, the server's clock); null unless `active`. */
  expiresAt: string | null
  /** The live pass's id; null unless `active`. */
  sessionId: string | null
  /** Why the last request failed, until one succeeds; the status and minutes stay what they were. */
  error: VibepassError | null
}

/** How the controller behaves; every field has a default. */
export interface VibePassOptions {
  /** The proxy's URL ('' for the page's own origin, the default). */
  url?: string
  /** Renew before less than this remains, while the page is in use (default 10 minutes). */
  renewMarginMs?: number
  /** Ask the server at most this often while the page is in use (default 10 minutes). */
  refreshIntervalMs?: number
  /** On visibility and focus, ask again only if the last answer is at least this old (default 60 s). */
  recheckAfterMs?: number
  /** Bounds each request (default 30 s). */
  timeoutMs?: number
  /** Whether the person is using the page now: it renews and asks only then (default: the page is visible). */
  active?: () => boolean
  /** Coordinate the page's tabs (BroadcastChannel), so closing one of several does not check out (default true). */
  tabs?: boolean
  /** The clock (default: the platform's). */
  clock?: Clock
  /** The fetch to call (default: the platform's). */
  fetch?: FetchLike
}

/** The spec's timer text for the state, or the message for a state without minutes; null while loading. */
export function timerText (state: PassState): string | null {
  if (state.minutesLeft !== null) return `🎫 Vibe Pass: ${state.minutesLeft} min remaining` // 0 is a real value: show it
  return STATUS_MESSAGES[state.status] ?? null
}

const STATUS_MESSAGES: Partial<Record<PassStatus, string>> = {
  'signed-out': 'Sign in to get your vibe pass.',
  expired: 'Your sign-in has expired. Sign in again to get your vibe pass.',
  ended: 'Your vibe pass has ended.',
}

const MINUTE = 60_000
const LOADING: PassState = { status: 'loading', minutesLeft: null, expiresAt: null, sessionId: null, error: null }

/** Why the controller asks the server now. */
type Reason = 'load' | 'signin' | 'pageshow' | 'visible' | 'timer' | 'checkin' | 'refresh'

/** Reasons that ask whatever the time since the last answer. */
const FORCED = new Set<Reason>(['load', 'signin', 'pageshow', 'timer', 'checkin', 'refresh'])

/** What tabs of one page tell each other. */
interface TabMessage {
  type: 'hello' | 'here' | 'bye'
  tab: string
  user: string | null
}

/**
 * The presence controller: give it a supabase-js client and call start(). It checks the
 * signed-in person in on start and on sign-in, and out on sign-out and when the page goes
 * away (`pagehide`, with a keepalive request, unless another tab of the page is still
 * open); it renews the pass while the page is in use before less than renewMarginMs
 * remains; it counts the minutes down locally from `expires_at` (aligned with the server's
 * clock by each answer's Date header) and asks the server only when the page becomes
 * visible or focused, and at most every refreshIntervalMs while it is in use. Every
 * request uses the session's current access token, so a refreshed one is picked up.
 */
export class VibePass {
  readonly #auth: SupabaseAuthLike
  readonly #url: string
  readonly #marginMs: number
  readonly #intervalMs: number
  readonly #recheckMs: number
  readonly #timeoutMs: number
  readonly #active: () => boolean
  readonly #tabs: boolean
  readonly #clock: Clock
  readonly #fetch: FetchLike
  readonly #tab = Math.random().toString(36).slice(2)

  #state: PassState = LOADING
  readonly #listeners = new Set<(state: PassState) => void>()
  #running = false
  #stopListening: Array<() => void> = []
  #channel: BroadcastChannel | null = null
  readonly #peers = new Map<string, string | null>()
  #queue: Promise<void> = Promise.resolve()
  #contactTimer: unknown = null
  #tickTimer: unknown = null
  /** The check-in start() asked for, until it has run: a second start() (React's StrictMode) shares it. */
  #starting: Promise<void> | null = null

  /** The session last seen: undefined before any. */
  #session: AuthSession | null | undefined = undefined
  /** The live pass's end on the server's clock, in milliseconds. */
  #expiresAt: number | null = null
  /** The server's clock minus ours, as the last answers' Date headers bound it. */
  #offset = 0
  /** Our clock when the last answer came. */
  #lastAnswer: number | null = null
  /** Our clock when the last request ended, answered or not. */
  #lastAttempt: number | null = null
  /** The user the tabs were last told of. */
  #announced: string | null | undefined = undefined
  #failures = 0
  #retryAfterMs = 0
  /** The person checked out here: no new pass until checkin() or another sign-in. */
  #checkedOut = false
  /** The server said there is no pass while ours had time left: someone ended it, so do not make a new one unasked. */
  #endedElsewhere = false

  constructor (supabase: SupabaseLike, options: VibePassOptions = {}) {
    this.#auth = supabase.auth
    this.#url = (options.url ?? '').replace(/\/+$/, '')
    this.#marginMs = options.renewMarginMs ?? 10 * MINUTE
    this.#intervalMs = options.refreshIntervalMs ?? 10 * MINUTE
    this.#recheckMs = options.recheckAfterMs ?? MINUTE
    this.#timeoutMs = options.timeoutMs ?? 30_000
    this.#active = options.active ?? (() => globalThis.document?.visibilityState !== 'hidden')
    this.#tabs = options.tabs ?? true
    this.#clock = options.clock ?? systemClock
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  }

  /** What the controller knows now (a new object after every change). */
  get state (): PassState {
    return this.#state
  }

  /** Calls listener after every change of state; returns the function that stops it. */
  subscribe = (listener: (state: PassState) => void): (() => void) => {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  /**
   * Starts following the app: listens to supabase-js and the page, and checks in (unless
   * it answered less than recheckAfterMs ago, as when React mounts a component twice).
   * Resolves when that first answer has come.
   */
  start (): Promise<void> {
    if (this.#running) return this.#starting ?? Promise.resolve()
    this.#running = true
    const { data } = this.#auth.onAuthStateChange((event, session) => this.#onAuth(event, session))
    this.#stopListening.push(() => data.subscription.unsubscribe())
    const win = globalThis.window as Window | undefined
    const doc = globalThis.document as Document | undefined
    if (win !== undefined && doc !== undefined) {
      const onVisible = (): void => { if (doc.visibilityState === 'visible') void this.#contact('visible') }
      const onHidden = (): void => { if (doc.visibilityState === 'hidden') this.#schedule() }
      const onPageHide = (): void => this.#leave()
      const onPageShow = (event: PageTransitionEvent): void => { if (event.persisted) { this.#hello(); void this.#contact('pageshow') } }
      doc.addEventListener('visibilitychange', onVisible)
      doc.addEventListener('visibilitychange', onHidden)
      win.addEventListener('focus', onVisible)
      win.addEventListener('pagehide', onPageHide)
      win.addEventListener('pageshow', onPageShow)
      this.#stopListening.push(() => {
        doc.removeEventListener('visibilitychange', onVisible)
        doc.removeEventListener('visibilitychange', onHidden)
        win.removeEventListener('focus', onVisible)
        win.removeEventListener('pagehide', onPageHide)
        win.removeEventListener('pageshow', onPageShow)
      })
    }
    if (this.#tabs && typeof BroadcastChannel === 'function') {
      this.#channel = new BroadcastChannel(`vibepass ${this.#url}`)
      this.#channel.onmessage = (event: MessageEvent<TabMessage>) => this.#onTab(event.data)
      this.#hello()
    }
    const fresh = this.#lastAnswer !== null && this.#clock.now() - this.#lastAnswer < this.#recheckMs
    this.#starting ??= this.#contact(fresh ? 'visible' : 'load').finally(() => { this.#starting = null })
    return this.#starting
  }

  /** Stops following the app (listeners and timers); it does not check out. start() again resumes. */
  stop (): void {
    if (!this.#running) return
    this.#running = false
    for (const stop of this.#stopListening) stop()
    this.#stopListening = []
    this.#post('bye')
    this.#channel?.close()
    this.#channel = null
    this.#peers.clear()
    this.#clock.clearTimeout(this.#contactTimer)
    this.#clock.clearTimeout(this.#tickTimer)
  }

  /** Checks in now (a new pass, or the live one renewed), also after the person checked out here. */
  checkin = (): Promise<PassState> => {
    this.#checkedOut = false
    this.#endedElsewhere = false
    return this.#contact('checkin').then(() => this.#state)
  }

  /** Asks the server for the pass now. */
  refresh = (): Promise<PassState> => this.#contact('refresh').then(() => this.#state)

  /** Checks out now; the controller then makes no pass by itself until checkin() or another sign-in. */
  checkout = (): Promise<PassState> => {
    this.#checkedOut = true
    return this.#serial(async () => {
      const session = await this.#currentSession()
      if (session === null || this.#expired(session)) return
      await this.#ask(operations.checkout, session)
    }).then(() => this.#state)
  }

  /** Resolves once no request of this controller is waiting or in flight. */
  async whenIdle (): Promise<void> {
    let tail
    do {
      tail = this.#queue
      await tail
    } while (tail !== this.#queue)
  }

  /** Runs task after every task queued before it: one request at a time, in order. */
  #serial (task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(task)
    this.#queue = run.catch(() => {})
    return run
  }

  #onAuth (event: string, session: AuthSession | null): void {
    if (event === 'SIGNED_OUT') {
      const token = this.#session?.access_token
      const hadPass = this.#state.status === 'active' || this.#state.status === 'loading'
      this.#session = null
      this.#forget()
      if (token !== undefined && hadPass) this.#checkoutNow(token)
      this.#set({ status: 'signed-out', error: null })
      this.#hello()
      return
    }
    if (session === null) return
    const previous = this.#session
    this.#session = session
    const newPerson = previous !== undefined && userOf(previous) !== userOf(session)
    if (newPerson) this.#forget()
    if (event === 'SIGNED_IN' || (event === 'TOKEN_REFRESHED' && this.#state.status === 'expired')) {
      this.#hello()
      // supabase-js asks not to call it from inside this callback: start after it returns.
      globalThis.setTimeout(() => { void this.#contact(newPerson || previous === null || this.#state.status === 'expired' ? 'signin' : 'visible') }, 0)
    }
  }

  /** Forgets the pass and the person's choices: someone else signed in, or nobody is. */
  #forget (): void {
    this.#expiresAt = null
    this.#lastAnswer = null
    this.#lastAttempt = null
    this.#checkedOut = false
    this.#endedElsewhere = false
    this.#failures = 0
  }

  /** The session to send: supabase-js's current one (refreshed if it had to be). */
  async #currentSession (): Promise<AuthSession | null> {
    const { data } = await this.#auth.getSession()
    this.#session = data.session
    if (userOf(data.session) !== this.#announced) this.#hello()
    return data.session
  }

  #expired (session: AuthSession): boolean {
    return session.expires_at !== undefined && session.expires_at * 1000 <= this.#now()
  }

  /** Our estimate of the server's clock. */
  #now (): number {
    return this.#clock.now() + this.#offset
  }

  /** Asks the server for the reason, unless it answered too recently for a non-forced one. */
  #contact (reason: Reason): Promise<void> {
    return this.#serial(async () => {
      if (!this.#running) return
      if (!FORCED.has(reason) && this.#failures === 0 && this.#lastAnswer !== null && this.#clock.now() - this.#lastAnswer < this.#recheckMs) {
        this.#schedule() // hidden and shown again within recheckAfterMs: the regular contact still stands
        return
      }
      const session = await this.#currentSession()
      if (!this.#running) return
      if (session === null) {
        this.#set({ status: 'signed-out', error: null })
        return
      }
      if (this.#expired(session)) {
        this.#set({ status: 'expired', error: null })
        return
      }
      await this.#ask(this.#wantsPass(reason) ? operations.checkin : operations.sessionStatus, session)
    })
  }

  /** Whether this contact should check in (make or renew the pass) rather than only look. */
  #wantsPass (reason: Reason): boolean {
    if (reason === 'checkin') return true
    if (this.#checkedOut || this.#endedElsewhere) return false
    if (reason === 'load' || reason === 'signin' || reason === 'pageshow') return true
    if (!this.#active()) return false
    if (this.#state.status !== 'active' || this.#expiresAt === null) return this.#state.status === 'ended'
    // Renew at the last regular contact before less than the margin would remain, so that
    // renewing never adds a request: the pass never runs below the margin while in use.
    return this.#expiresAt - this.#now() - this.#intervalMs <= this.#marginMs
  }

  /** Sends one of the user operations with the session's token and takes in the answer. */
  async #ask (op: (typeof operations)['checkin' | 'sessionStatus' | 'checkout'], session: AuthSession): Promise<void> {
    let answer: Answer
    try {
      answer = await send(op.path, { method: op.method, headers: { [op.credential]: `Bearer ${session.access_token}` }, cache: 'no-store' },
        { fetch: this.#fetch, base: this.#url, timeoutMs: this.#timeoutMs, now: this.#clock.now })
    } catch (err) {
      this.#lastAttempt = this.#clock.now()
      this.#failed(err)
      return
    }
    this.#lastAttempt = answer.receivedAt
    if (this.#session === null) { // signed out while the request was on its way
      if (op === operations.checkin && answer.status === 200) this.#checkoutNow(session.access_token)
      return
    }
    this.#align(answer)
    let body: Record<string, unknown>
    try {
      body = successBody(answer, `${op.method} ${op.path}`)
    } catch (err) {
      if (err instanceof VibepassError && answer.status === 401) {
        this.#set({ status: 'expired', error: err }) // the proxy refused the sign-in: sign in again
        return
      }
      this.#failed(err)
      return
    }
    this.#failures = 0
    this.#lastAnswer = answer.receivedAt
    if (op === operations.checkout) {
      this.#expiresAt = null
      this.#set({ status: 'ended', error: null })
    } else if (op === operations.checkin) {
      this.#takePass((body as Partial<Responses['checkin']>).data, answer.status)
    } else if ((body as Partial<Responses['sessionStatus']>).active === true) {
      this.#takePass((body as Partial<Responses['sessionStatus']>).data, answer.status)
    } else {
      if (this.#expiresAt !== null && this.#expiresAt > this.#now()) this.#endedElsewhere = true
      this.#expiresAt = null
      this.#set({ status: 'ended', error: null })
    }
  }

  #takePass (data: { session_id?: unknown, expires_at?: unknown } | undefined, status: number): void {
    const expiresAt = typeof data?.expires_at === 'string' ? Date.parse(data.expires_at) : NaN
    if (typeof data?.session_id !== 'string' || Number.isNaN(expiresAt)) {
      this.#failed(badResponse(status, 'a pass without session_id or expires_at'))
      return
    }
    this.#expiresAt = expiresAt
    this.#endedElsewhere = false
    this.#set({ status: 'active', sessionId: data.session_id, error: null })
  }

  #failed (err: unknown): void {
    const error = err instanceof VibepassError ? err : new VibepassError(String(err), { code: ClientCode.badResponse, cause: err })
    if (error.code === ClientCode.canceled) return
    this.#failures++
    this.#retryAfterMs = (error.retryAfter ?? 0) * 1000
    this.#set({ error })
  }

  /**
   * Keeps our estimate of the server's clock within what the answer's Date header allows:
   * the server wrote it (whole seconds, rounded down) between our request and its answer,
   * so on arrival its clock read at least Date and at most Date + 1 s + the round trip.
   * A clock that agrees is left alone; one that is off is moved just inside.
   */
  #align (answer: Answer): void {
    const date = Date.parse(answer.headers.get('Date') ?? '')
    if (Number.isNaN(date)) return // a cross-origin proxy that does not expose Date: trust our clock
    const estimate = answer.receivedAt + this.#offset
    const latest = date + 1000 + (answer.receivedAt - answer.sentAt)
    if (estimate < date) this.#offset += date - estimate
    else if (estimate > latest) this.#offset -= estimate - latest
  }

  /** Replaces the state with changes applied and the minutes counted from now, tells the listeners, and sets the timers. */
  #set (changes: Partial<PassState>): void {
    const next: PassState = { ...this.#state, ...changes }
    if (next.status === 'active' && this.#expiresAt !== null) {
      const left = this.#expiresAt - this.#now()
      if (left > 0) {
        next.minutesLeft = Math.ceil(left / MINUTE)
        next.expiresAt = new Date(this.#expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z')
      } else {
        next.status = 'ended' // ran out by the clock
      }
    }
    if (next.status !== 'active') {
      next.minutesLeft = null
      next.expiresAt = null
      next.sessionId = null
    }
    const before = this.#state
    if ((Object.keys(next) as Array<keyof PassState>).some((key) => next[key] !== before[key])) {
      this.#state = next
      for (const listener of this.#listeners) listener(next)
    }
    this.#tick()
    this.#schedule()
  }

  /** Sets the timer that updates the minutes when the next one has passed. */
  #tick (): void {
    this.#clock.clearTimeout(this.#tickTimer)
    this.#tickTimer = null
    if (!this.#running || this.#state.status !== 'active' || this.#expiresAt === null) return
    const left = this.#expiresAt - this.#now()
    const untilNextMinute = left - (Math.ceil(left / MINUTE) - 1) * MINUTE
    this.#tickTimer = this.#clock.setTimeout(() => this.#set({}), Math.max(1, untilNextMinute))
  }

  /** Sets the timer of the next regular contact, while the page is in use and someone is signed in. */
  #schedule (): void {
    this.#clock.clearTimeout(this.#contactTimer)
    this.#contactTimer = null
    const status = this.#state.status
    if (!this.#running || status === 'signed-out' || status === 'expired' || !this.#active()) return
    // Times on our clock, counted from the last request so that setting the timer again
    // (as every minute's update does) never puts the contact off.
    const last = this.#lastAttempt ?? this.#clock.now()
    let due: number
    if (this.#failures > 0) {
      due = last + Math.max(this.#retryAfterMs, Math.min(this.#intervalMs, 5000 * 2 ** (this.#failures - 1)))
    } else {
      due = last + this.#intervalMs
      if (status === 'active' && this.#expiresAt !== null) due = Math.min(due, this.#expiresAt - this.#offset - this.#marginMs)
      due = Math.max(due, last + this.#recheckMs)
    }
    this.#contactTimer = this.#clock.setTimeout(() => { void this.#contact('timer') }, Math.max(0, due - this.#clock.now()))
  }

  /** The page goes away: check out with a keepalive request unless another tab of this person is still open. */
  #leave (): void {
    this.#post('bye')
    const token = this.#session?.access_token
    const status = this.#state.status
    if ((status !== 'active' && status !== 'loading') || token === undefined) return
    const me = userOf(this.#session ?? null)
    if ([...this.#peers.values()].some((user) => user === me)) return
    this.#checkoutNow(token)
    this.#expiresAt = null
    this.#set({ status: 'ended' })
  }

  /** Sends a checkout at once with token, as a keepalive request that outlives the page. */
  #checkoutNow (token: string): void {
    const op = operations.checkout
    this.#fetch(this.#url + op.path, { method: op.method, keepalive: true, headers: { [op.credential]: `Bearer ${token}` } })
      .then((response) => response.body?.cancel())
      .catch(() => {}) // the page is going away or signed out: nobody is left to tell
  }

  #hello (): void {
    this.#post('hello')
  }

  #post (type: TabMessage['type']): void {
    const message: TabMessage = { type, tab: this.#tab, user: userOf(this.#session ?? null) }
    this.#announced = message.user
    this.#channel?.postMessage(message)
  }

  #onTab (message: TabMessage): void {
    if (message.tab === this.#tab) return
    if (message.type === 'bye') {
      this.#peers.delete(message.tab)
      return
    }
    this.#peers.set(message.tab, message.user)
    if (message.type === 'hello') this.#post('here')
  }
}

/** The signed-in user's id: the session's user, else the token's `sub`. */
function userOf (session: AuthSession | null): string | null {
  if (session === null) return null
  if (session.user?.id !== undefined) return session.user.id
  try {
    const payload = session.access_token.split('.')[1] ?? ''
    const claims: unknown = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')))
    return typeof claims === 'object' && claims !== null && 'sub' in claims && typeof claims.sub === 'string' ? claims.sub : null
  } catch {
    return null
  }
}
