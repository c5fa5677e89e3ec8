// The event-stream parser, fed the way networks cut text: anywhere.
import assert from 'node:assert/strict'
import { test } from 'node:test'

import { SSEParser } from '../dist/sse.js'

const stream = ': heartbeat\r\n\r\nid: 7\r\nevent: join\r\ndata: {"a":1}\r\n\r\nevent: reset\ndata: {"cursor":"9"}\n\ndata:x\rdata: y\r\r\n'

test('every cut of a stream gives the same events', () => {
  const want = [
    { id: '7', event: 'join', data: '{"a":1}' },
    { id: null, event: 'reset', data: '{"cursor":"9"}' },
    { id: null, event: 'message', data: 'x\ny' },
  ]
  for (let cut = 0; cut <= stream.length; cut++) {
    const parser = new SSEParser()
    const got = [...parser.push(stream.slice(0, cut)), ...parser.push(stream.slice(cut))]
    assert.deepEqual(got, want, `cut at ${cut}`)
    assert.equal(parser.partial, false)
  }
  const parser = new SSEParser()
  parser.push('id: 8\ndata: {')
  assert.equal(parser.partial, true, 'an event without its blank line was cut off')
})
