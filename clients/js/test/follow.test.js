// follow() against a real `vibepass dev`: list, then every change once and in order,
// resumed after a cut connection with no gap or repeat; failures retrying cannot mend
// are thrown as typed errors.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { AuthError, ModelClient, UnavailableError } from '../dist/index.js'
import { apiKey, asUser, cutter, database, url } from './helpers.js'

/** Reads the follower's events one at a time. */
function reader (follower) {
  const iterator = follower[Symbol.asyncIterator]()
  let last = -1
  return async function next (want) {
    const { value, done } = await iterator.next()
    assert.equal(done, false, `the follower ended before ${want}`)
    const got = value.kind + (value.user ? ` ${value.user.display_name}` : '')
    assert.equal(got, want)
    const cursor = Number(value.kind === 'list' ? value.cursor : value.id)
    assert.ok(cursor > last || (cursor === last && value.kind === 'list'), `cursor ${cursor} after ${last}: in order, each once`)
    last = cursor
    return value
  }
}

const names = (follower) => [...follower.present.values()].map((u) => u.display_name).sort().join(',')

test('follow resumes after a cut with no gap or repeat', { timeout: 60_000 }, async () => {
  const proxy = await cutter(url())
  const notices = []
  const follower = new ModelClient({ url: proxy.url, apiKey: apiKey() })
    .follow({ backoffMs: 50, maxBackoffMs: 200, onNotice: (m) => notices.push(m) })
  try {
    const next = reader(follower)
    const list = await next('list')
    assert.equal(list.reason, 'start')
    assert.equal(names(follower), '')
    await asUser('MusicFan', 'checkin')
    await next('join MusicFan')
    assert.equal(names(follower), 'MusicFan')
    await asUser('MusicFan', 'checkout')
    const left = await next('leave MusicFan')
    assert.equal(left.user_id, left.user.user_id)
    assert.match(left.at, /Z$/)
    assert.equal(names(follower), '')

    // Cut the stream; BeatLover checks in while the follower cannot reconnect, so only a
    // resume from the last event seen can tell it.
    // The follower runs as it is asked for events: ask, so it finds the cut and retries.
    const streams = follower.streams
    proxy.cut()
    await asUser('BeatLover', 'checkin')
    const joined = next('join BeatLover')
    while (follower.streams < streams + 1) await new Promise((resolve) => setTimeout(resolve, 10)) // polling the follower
    proxy.mend()
    await joined
    assert.equal(names(follower), 'BeatLover')
    await asUser('BeatLover', 'checkout')
    await next('leave BeatLover') // no repeat of the join came first
    assert.equal(names(follower), '')
    assert.ok(notices.some((m) => m.startsWith('Connection lost')), `a notice of the cut: ${notices}`)
  } finally {
    follower.close()
    await proxy.close()
    for (const name of ['MusicFan', 'BeatLover']) await asUser(name, 'checkout')
  }
})

test('a wrong key stops follow with AuthError; close() and break end it', { timeout: 60_000 }, async () => {
  const wrong = new ModelClient({ url: url(), apiKey: 'not-the-key' }).follow({ onNotice: () => {} })
  await assert.rejects(wrong[Symbol.asyncIterator]().next(),
    (err) => err instanceof AuthError && err.status === 403 && err.code === 'invalid_api_key')

  const client = new ModelClient({ url: url(), apiKey: apiKey() })
  const follower = client.follow()
  const seen = []
  for await (const event of follower) {
    seen.push(event.kind)
    if (event.kind === 'list') break // a model leaves the loop when it is done
  }
  assert.deepEqual(seen, ['list'])
  const closed = client.follow()
  const pending = closed[Symbol.asyncIterator]().next()
  closed.close()
  assert.deepEqual(await pending, { value: undefined, done: true })
})

test('the database down never looks like an empty room', { timeout: 60_000 }, async () => {
  await asUser('JazzCat', 'checkin')
  await database('down')
  try {
    const follower = new ModelClient({ url: url(), apiKey: apiKey() }).follow({ backoffMs: 10, maxRetries: 1, onNotice: () => {} })
    await assert.rejects(follower[Symbol.asyncIterator]().next(), (err) => err instanceof UnavailableError && err.status === 503)
  } finally {
    await database('up')
    await asUser('JazzCat', 'checkout')
  }
})
