// What the tests share: the environment examples/js_client_test.go sets, the demo users'
// calls, and a TCP proxy the tests can cut.
import assert from 'node:assert/strict'
import net from 'node:net'

/** The variable's value; the tests run only from `go test ./examples -run TestJSClientPackage`. */
export function need (name) {
  const value = process.env[name]
  assert.ok(value, `${name} is not set: run these tests with go test ./examples -run TestJSClientPackage`)
  return value
}

export const url = () => need('VIBEPASS_URL')
export const apiKey = () => need('ML_API_KEY')
const tokens = () => JSON.parse(need('VIBEPASS_TEST_TOKENS'))

/** The demo user's check-in or checkout through the proxy; throws unless it is a 200. */
export async function asUser (name, action) {
  const response = await fetch(`${url()}/api/${action}`, { method: 'POST', headers: { Authorization: `Bearer ${tokens()[name]}` } })
  await response.text()
  assert.equal(response.status, 200, `${action} as ${name}`)
}

/** Takes the database down ("down": vibepass answers 503) or up again, then waits until vibepass answers again. */
export async function database (state) {
  const response = await fetch(`${need('VIBEPASS_TEST_CONTROL')}/db/${state}`, { method: 'POST' })
  assert.equal(response.status, 200, await response.text())
  // The model's list, its other reads and the users' calls have connections of their own: wait for each.
  const probes = [
    ['/api/model/active-users', { 'X-API-Key': apiKey() }],
    ['/api/model/summary', { 'X-API-Key': apiKey() }],
    ['/api/session', { Authorization: `Bearer ${Object.values(tokens())[0]}` }],
  ]
  for (const [path, headers] of state === 'up' ? probes : []) {
    for (;;) {
      const answer = await fetch(url() + path, { headers })
      await answer.text()
      if (answer.status !== 503) break
      await new Promise((resolve) => setTimeout(resolve, 50)) // polling until the proxy reconnects
    }
  }
}

/**
 * A TCP proxy to the server at target (http://host:port): cut() closes every connection
 * and refuses new ones until mend(), so a client sees its stream drop and its reconnects
 * fail for exactly as long as the test says.
 */
export async function cutter (target) {
  const { hostname, port } = new URL(target)
  const open = new Set()
  let cut = false
  const server = net.createServer((conn) => {
    if (cut) {
      conn.destroy()
      return
    }
    const up = net.connect(Number(port), hostname)
    open.add(conn)
    open.add(up)
    conn.pipe(up).pipe(conn)
    const close = () => { conn.destroy(); up.destroy(); open.delete(conn); open.delete(up) }
    conn.on('error', close).on('close', close)
    up.on('error', close).on('close', close)
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const cutAll = () => {
    cut = true
    for (const conn of open) conn.destroy()
  }
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut: cutAll,
    mend () { cut = false },
    close: () => new Promise((resolve) => { cutAll(); server.close(resolve) }),
  }
}

/**
 * An address that refuses connections: the Go test holds its port with a socket that never
 * listens (Node cannot bind one without listening), so no other process can start listening
 * there, as it could on a port freed by closing a server.
 */
export const refusedURL = () => need('VIBEPASS_TEST_REFUSED_URL')

/** A server that accepts connections and never answers: the client's timeout must end the wait. */
export async function silentServer () {
  const sockets = new Set()
  const server = net.createServer((socket) => { sockets.add(socket); socket.on('error', () => {}) })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(resolve) }),
  }
}
