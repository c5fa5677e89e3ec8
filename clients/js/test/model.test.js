// The model client against a real `vibepass dev` (examples/js_client_test.go starts it):
// typed answers, 304 as Unchanged, and every failure kind thrown as its typed error,
// never answered as an empty list.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import {
  AuthError, ModelClient, UnavailableError, VERSION, VibepassConnectionError, VibepassError, VibepassTimeoutError,
} from '../dist/index.js'
import { apiKey, asUser, database, refusedURL, silentServer, url } from './helpers.js'

/** Checks the demo user in for the test t, and out when it ends. */
async function checkin (t, name) {
  await asUser(name, 'checkin')
  t.after(() => asUser(name, 'checkout'))
}

test('active users are typed rows, and an unchanged list is Unchanged', async (t) => {
  const client = new ModelClient({ url: url(), apiKey: apiKey() })
  await checkin(t, 'MusicFan')
  const room = await client.activeUsers()
  assert.equal(room.unchanged, false)
  assert.equal(room.count, 1)
  const [fan] = room.rows
  assert.equal(fan.display_name, 'MusicFan')
  assert.deepEqual(fan.preferences, [0.5, 0.8, 0.2, 1.0, 0.0])
  assert.equal(fan.is_anonymous, false)
  assert.match(fan.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
  assert.match(room.cursor, /^\d+$/)
  assert.ok(room.etag, 'the list has an ETag')

  assert.deepEqual(await client.activeUsers({ etag: room.etag }), { unchanged: true, etag: room.etag })
  await checkin(t, 'BeatLover')
  const again = await client.activeUsers({ etag: room.etag })
  assert.equal(again.unchanged, false)
  assert.deepEqual(again.rows.map((u) => u.display_name), ['BeatLover', 'MusicFan'])
})

test('summary and history', async (t) => {
  const client = new ModelClient({ url: url(), apiKey: apiKey() })
  await checkin(t, 'MusicFan')
  const summary = await client.summary()
  assert.equal(summary.count, 1)
  assert.deepEqual(summary.mean, [0.5, 0.8, 0.2, 1.0, 0.0])
  const history = await client.history()
  assert.equal(history.minutes.length, 60)
  assert.ok(history.minutes[59].count >= 1)
})

test('the URL and the key come from the environment as the Python client takes them', () => {
  const saved = { ...process.env }
  try {
    process.env.VIBEPASS_URL = 'http://vibes.example:8080/'
    delete process.env.ML_API_KEY
    process.env.MODEL_API_KEY = ' first-key ,second-key'
    const client = new ModelClient()
    assert.equal(client.url, 'http://vibes.example:8080')
    assert.equal(client.headers({ credential: 'X-API-Key' })['X-API-Key'], 'first-key')
    process.env.ML_API_KEY = 'the-spec-name'
    assert.equal(new ModelClient().headers({ credential: 'X-API-Key' })['X-API-Key'], 'the-spec-name')
    assert.throws(() => new ModelClient({ url: 'localhost:3000' }), TypeError)
  } finally {
    process.env = saved
  }
  assert.match(VERSION, /^\d+\.\d+\.\d+$/)
})

/** Calls the methods (default: all three reads) and checks each throws want (never answers). */
async function everyCallThrows (client, want, methods = ['activeUsers', 'summary', 'history']) {
  for (const call of methods.map((name) => () => client[name]())) {
    await assert.rejects(call(), (err) => {
      assert.ok(err instanceof VibepassError, `${err} is a VibepassError`)
      for (const [key, value] of Object.entries(want)) {
        assert.equal(key === 'class' ? err instanceof value : err[key], key === 'class' ? true : value, `${key} of ${err}`)
      }
      return true
    })
  }
}

test('every failure throws its typed error, never an empty list', async (t) => {
  await checkin(t, 'MusicFan') // someone is here: an empty list would be a lie
  await t.test('wrong key', () => everyCallThrows(new ModelClient({ url: url(), apiKey: 'not-the-key' }),
    { class: AuthError, status: 403, code: 'invalid_api_key', message: 'Invalid API key', transient: false }))
  await t.test('no key', () => everyCallThrows(new ModelClient({ url: url(), apiKey: null }),
    { class: AuthError, status: 401, code: 'missing_api_key', transient: false }))
  await t.test('no server', async () => everyCallThrows(new ModelClient({ url: refusedURL(), apiKey: apiKey() }),
    { class: VibepassConnectionError, status: null, code: 'connection_error', transient: true }))
  await t.test('no answer', async () => {
    const silent = await silentServer()
    try {
      await everyCallThrows(new ModelClient({ url: silent.url, apiKey: apiKey(), timeoutMs: 300 }),
        { class: VibepassTimeoutError, status: null, code: 'timeout', transient: true })
    } finally {
      await silent.close()
    }
  })
  await t.test('database down', async () => {
    await database('down')
    try {
      // The history is computed at most once a minute and shared, so it may still answer.
      await everyCallThrows(new ModelClient({ url: url(), apiKey: apiKey() }),
        { class: UnavailableError, status: 503, code: 'unavailable', transient: true }, ['activeUsers', 'summary'])
    } finally {
      await database('up')
    }
    assert.equal((await new ModelClient({ url: url(), apiKey: apiKey() }).activeUsers()).count, 1, 'answers again once the database is back')
  })
})
