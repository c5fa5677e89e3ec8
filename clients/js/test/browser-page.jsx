// The page examples/js_client_test.go opens in Chromium: the package's VibePass with React,
// a stand-in for supabase-js's auth (there is no Supabase Auth to sign in with), and a
// clock the test moves. Everything it asserts goes through window.vibepassTest.
import { createRoot } from 'react-dom/client'
import { VibePass } from 'vibepass'
import { VibePassProvider, VibePassTimer } from 'vibepass/react'

// The clock: real time plus what the test added. advance(ms) moves it, running each timer
// that falls due at its own time and letting the controller finish what it started. The
// page's pass is moved back on the server by as much, first (/test/travel), so the server
// sees the same time go by.
const user = new URLSearchParams(location.search).get('user')
const timers = new Map()
let offset = 0
async function travel (ms) {
  if (ms <= 0) return
  const response = await fetch(`/test/travel?user=${encodeURIComponent(user)}&ms=${Math.round(ms)}`, { method: 'POST' })
  if (!response.ok) throw new Error(`travel: ${await response.text()}`)
  offset += ms
}
let nextId = 0
const now = () => Date.now() + offset
function arm (id) {
  const timer = timers.get(id)
  clearTimeout(timer.real)
  timer.real = setTimeout(() => { if (timers.delete(id)) timer.callback() }, Math.max(0, timer.due - now()))
}
const clock = {
  now,
  setTimeout (callback, ms) {
    const id = ++nextId
    timers.set(id, { due: now() + ms, callback })
    arm(id)
    return id
  },
  clearTimeout (id) {
    const timer = timers.get(id)
    if (timer === undefined) return
    clearTimeout(timer.real)
    timers.delete(id)
  },
  async advance (ms) {
    const target = now() + ms
    for (;;) {
      const due = [...timers].filter(([, t]) => t.due <= target).sort(([, a], [, b]) => a.due - b.due)[0]
      if (due === undefined) break
      const [id, timer] = due
      timers.delete(id)
      clearTimeout(timer.real)
      await travel(timer.due - now())
      timer.callback()
      await vibepass.whenIdle()
    }
    await travel(target - now())
    for (const id of timers.keys()) arm(id)
  },
}

// supabase-js's auth as far as VibePass uses it: the session the page was served with;
// emit() plays an auth event as supabase-js would.
let session = window.vibepassTestSession
const listeners = new Set()
const supabase = {
  auth: {
    getSession: async () => ({ data: { session }, error: null }),
    onAuthStateChange (callback) {
      listeners.add(callback)
      return { data: { subscription: { unsubscribe: () => listeners.delete(callback) } } }
    },
  },
}

// Every request VibePass sends, with the clock's time and what the page showed then.
const requests = []
function recordingFetch (input, init) {
  requests.push({
    at: now(),
    method: init.method,
    path: input,
    token: init.headers.Authorization.slice('Bearer '.length),
    keepalive: init.keepalive === true,
    minutesLeft: vibepass.state.minutesLeft,
  })
  return fetch(input, init)
}

let visible = true
const options = JSON.parse(new URLSearchParams(location.search).get('options') ?? '{}')
const vibepass = new VibePass(supabase, { ...options, clock, fetch: recordingFetch })

window.vibepassTest = {
  vibepass,
  clock,
  requests,
  emit (event, next) {
    session = next
    for (const callback of listeners) callback(event, next)
  },
  setVisible (value) {
    visible = value
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (visible ? 'visible' : 'hidden') })
    document.dispatchEvent(new Event('visibilitychange'))
  },
  timer: () => document.querySelector('.session-timer')?.textContent ?? null,
}

createRoot(document.getElementById('root')).render(
  <VibePassProvider client={vibepass}>
    <VibePassTimer />
  </VibePassProvider>
)
