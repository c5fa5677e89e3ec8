// A parser of text/event-stream (Server-Sent Events), fed text as it arrives.

/** One Server-Sent Event. */
export interface SSEMessage {
  /** The `id:` field; null when the event had none. */
  id: string | null
  /** The `event:` field, "message" when absent. */
  event: string
  /** The `data:` lines, joined with newlines. */
  data: string
}

/** Parses a text/event-stream fed in chunks of any size; comment lines (": heartbeat") are skipped. */
export class SSEParser {
  private buffer = ''
  private id: string | null = null
  private event = ''
  private data: string[] = []
  private seen = false

  /** Adds text and returns the events it completed. */
  push (text: string): SSEMessage[] {
    this.buffer += text
    const messages: SSEMessage[] = []
    for (;;) {
      const end = this.buffer.search(/\r\n|\r|\n/)
      // A lone \r at the end may be the first half of \r\n: wait for the next chunk.
      if (end < 0 || (end === this.buffer.length - 1 && this.buffer.endsWith('\r'))) break
      const line = this.buffer.slice(0, end)
      this.buffer = this.buffer.slice(end + (this.buffer.startsWith('\r\n', end) ? 2 : 1))
      const message = this.line(line)
      if (message !== null) messages.push(message)
    }
    return messages
  }

  /** Whether part of an event has arrived but not its end: a stream that stops now was cut off. */
  get partial (): boolean {
    return this.seen || this.buffer !== ''
  }

  private line (line: string): SSEMessage | null {
    if (line === '') {
      if (!this.seen) return null
      const message = { id: this.id, event: this.event === '' ? 'message' : this.event, data: this.data.join('\n') }
      this.id = null
      this.event = ''
      this.data = []
      this.seen = false
      return message
    }
    if (line.startsWith(':')) return null
    const colon = line.indexOf(':')
    const name = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    switch (name) {
      case 'id':
        this.id = value
        this.seen = true
        break
      case 'event':
        this.event = value
        this.seen = true
        break
      case 'data':
        this.data.push(value)
        this.seen = true
        break
    }
    return null
  }
}
