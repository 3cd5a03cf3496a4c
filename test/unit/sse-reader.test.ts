import fc from 'fast-check'
import t from 'tap'
import { createSseReader, MAX_SSE_LINE, SseLineTooLong, type SseEvent } from '../../cli/remote/sse-reader.js'

const encode = (s: string) => new TextEncoder().encode(s)

function parse(chunks: Uint8Array[]): SseEvent[] {
  const events: SseEvent[] = []
  const reader = createSseReader((e) => events.push(e))
  for (const c of chunks) reader.push(c)
  return events
}

/** Splits bytes at the given cut points (anywhere, even inside a UTF-8 character). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let start = 0
  for (const p of points) {
    out.push(bytes.subarray(start, p))
    start = p
  }
  out.push(bytes.subarray(start))
  return out
}

t.test('the log stream contract: id, event, data, keep-alive comments', async (t) => {
  const entry = { id: '42', log_type: 'stdout', container: 'web', message: 'hello: world', created_at: '2026-12-02T00:00:00.000Z', seq: 7 }
  const stream = `retry: 3000\n: connected\n\nid: 42\nevent: log\ndata: ${JSON.stringify(entry)}\n\n: keep-alive\n\n`
  t.same(parse([encode(stream)]), [{ event: 'log', data: JSON.stringify(entry), id: '42' }])
})

t.test('the WHATWG parsing rules', async (t) => {
  t.same(parse([encode('data: a\ndata: b\n\n')]), [{ event: 'message', data: 'a\nb', id: undefined }], 'data lines join with LF; the default type is message')
  t.same(parse([encode('data:no-space\r\n\r\ndata:  two\r\r')]), [
    { event: 'message', data: 'no-space', id: undefined },
    { event: 'message', data: ' two', id: undefined },
  ], 'CRLF and CR end lines; only one leading space is dropped')
  t.same(parse([encode('\uFEFFdata: x\n\n')]), [{ event: 'message', data: 'x', id: undefined }], 'a leading BOM is ignored')
  t.same(parse([encode('event: log\nid: 1\n\ndata: later\n\n')]), [{ event: 'message', data: 'later', id: '1' }], 'an event without data is not dispatched, and its type does not carry over; the id does')
  t.same(parse([encode('data\n\n')]), [{ event: 'message', data: '', id: undefined }], 'a field with no colon has an empty value')
  t.same(parse([encode('data: unterminated')]), [], 'an event is dispatched only at its blank line')
  t.same(parse([encode('id: a\0b\ndata: x\n\n')]), [{ event: 'message', data: 'x', id: undefined }], 'an id with NUL is ignored')
  t.same(parse([encode('data: x\r'), encode('\ndata: y\n\n')]), [{ event: 'message', data: 'x\ny', id: undefined }], 'a CRLF split between chunks is one line end')
})

t.test('a line longer than the limit is refused, not buffered', async (t) => {
  const reader = createSseReader(() => {})
  const big = encode('data: ' + 'x'.repeat(64 * 1024))
  let thrown: unknown
  try {
    for (let i = 0; i <= MAX_SSE_LINE / big.length + 1; i++) reader.push(big)
  } catch (err) {
    thrown = err
  }
  t.ok(thrown instanceof SseLineTooLong, 'SseLineTooLong')
  t.match(thrown, { message: /longer than 1024 KiB/ })
})

t.test('property: how the bytes are chunked never changes the events', async (t) => {
  const field = fc.constantFrom('data', 'event', 'id', 'retry', '', 'x')
  const value = fc.string({ unit: 'binary', maxLength: 20 }).map((v) => v.replace(/[\r\n]/g, ''))
  const lineEnd = fc.constantFrom('\n', '\r\n', '\r')
  const line = fc.oneof(fc.tuple(field, value).map(([f, v]) => `${f}: ${v}`), value.map((v) => `:${v}`), fc.constant(''))
  const stream = fc.array(fc.tuple(line, lineEnd).map(([l, e]) => l + e), { maxLength: 30 }).map((ls) => ls.join(''))
  let n = 0
  fc.assert(
    fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), (text, cuts) => {
      n++
      const bytes = encode(text)
      const whole = parse([bytes])
      const chunked = parse(split(bytes, cuts))
      const byteByByte = parse([...bytes].map((b) => Uint8Array.of(b)))
      return JSON.stringify(chunked) === JSON.stringify(whole) && JSON.stringify(byteByByte) === JSON.stringify(whole)
    }),
    { numRuns: 300 },
  )
  t.comment(`ran ${n} cases`)
  t.ok(n >= 300)
})
