/** One Server-Sent Event as the WHATWG parsing rules produce it. */
export interface SseEvent {
  event: string
  data: string
  id: string | undefined
}

/** A line longer than this is not an event this CLI reads; a hostile stream cannot make it buffer without end. */
export const MAX_SSE_LINE = 1024 * 1024

export class SseLineTooLong extends Error {
  constructor() {
    super(`an event stream line longer than ${MAX_SSE_LINE / 1024} KiB`)
    this.name = 'SseLineTooLong'
  }
}

/**
 * An incremental `text/event-stream` parser (WHATWG HTML, "Parsing an event
 * stream"): CRLF, LF or CR line ends, split anywhere across chunks; comment
 * lines; `data` lines joined by LF; `id`, `event`; one leading space of a
 * value dropped; a BOM at the start ignored. `retry` is read by nobody here.
 * No SSE parser library is installed (eventsource-parser would do this), so
 * it is small and tested on its own, byte by byte (test/unit/sse-reader.test.ts).
 */
export function createSseReader(onEvent: (event: SseEvent) => void) {
  // TextDecoder drops one leading BOM itself, as the spec asks.
  const decoder = new TextDecoder('utf-8')
  let buffer = ''
  /** The previous chunk ended in CR: an LF opening the next one belongs to it. */
  let pendingCr = false
  let data: string[] = []
  let event = ''
  let lastId: string | undefined

  function line(text: string) {
    if (text === '') {
      if (data.length) onEvent({ event: event || 'message', data: data.join('\n'), id: lastId })
      data = []
      event = ''
      return
    }
    if (text.startsWith(':')) return
    const colon = text.indexOf(':')
    const field = colon === -1 ? text : text.slice(0, colon)
    let value = colon === -1 ? '' : text.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'data') data.push(value)
    else if (field === 'event') event = value
    else if (field === 'id' && !value.includes('\0')) lastId = value
  }

  function feed(text: string) {
    if (pendingCr && text.startsWith('\n')) text = text.slice(1)
    pendingCr = false
    buffer += text
    let start = 0
    for (;;) {
      const cr = buffer.indexOf('\r', start)
      const lf = buffer.indexOf('\n', start)
      const end = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf)
      if (end === -1) break
      line(buffer.slice(start, end))
      if (buffer[end] === '\r') {
        if (end + 1 === buffer.length) pendingCr = true
        else if (buffer[end + 1] === '\n') {
          start = end + 2
          continue
        }
      }
      start = end + 1
    }
    buffer = buffer.slice(start)
    if (buffer.length > MAX_SSE_LINE) throw new SseLineTooLong()
  }

  return {
    /** Bytes as they arrive, split anywhere (even inside a UTF-8 character). */
    push(chunk: Uint8Array) {
      feed(decoder.decode(chunk, { stream: true }))
    },
    /** The last id seen, for a reconnect's Last-Event-ID. */
    get lastEventId() {
      return lastId
    },
  }
}
