import t from 'tap'
import fc from 'fast-check'
import { createResponseParser, type ResponseHead } from '../../server/proxy/node-http-parser.js'

/**
 * The proxy reads device answers with Node's internal llhttp binding
 * (server/proxy/node-http-parser.ts). These fail if a Node upgrade moves or
 * changes what that module relies on.
 */

function read(chunks: Buffer[], options: { head?: boolean; countBodiesFrom?: number } = {}) {
  const parser = createResponseParser({ countBodiesFrom: options.countBodiesFrom })
  const heads: ResponseHead[] = []
  const bodies: string[] = []
  let completed = 0
  let body = ''
  parser.listen({
    head(h) {
      heads.push(h)
      return Boolean(options.head) || h.statusCode < 200
    },
    body(chunk) {
      body += chunk.toString('latin1')
    },
    complete() {
      completed++
      bodies.push(body)
      body = ''
    },
  })
  let error: Error | undefined
  for (const chunk of chunks) error ??= parser.execute(chunk)
  parser.close()
  return { heads, bodies, completed, error }
}

const text = (s: string) => Buffer.from(s, 'latin1')

t.test('answers in order on one connection: lengths, chunks, 204, and raw header case', async (t) => {
  const r = read([text('HTTP/1.1 200 OK\r\nX-Case: A\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 201 Made\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n')])
  t.equal(r.error, undefined)
  t.same(
    r.heads.map((h) => [h.statusCode, h.statusMessage, h.keepAlive]),
    [
      [200, 'OK', true],
      [201, 'Made', true],
      [204, 'No Content', true],
    ],
  )
  t.same(r.heads[0]!.rawHeaders, ['X-Case', 'A', 'Content-Length', '2'], 'names keep their case')
  t.same(r.bodies, ['ok', 'abc', ''], 'chunked bodies arrive de-chunked')
  t.equal(r.completed, 3)
})

t.test('an answer split at every byte reads the same', async (t) => {
  const whole = 'HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nContent-Length: 5\r\n\r\nhello'
  const r = read([...whole].map((c) => text(c)))
  t.equal(r.error, undefined)
  t.same(r.heads[0]!.rawHeaders, ['A', '1', 'B', '2', 'Content-Length', '5'], 'headers given in parts are joined')
  t.same(r.bodies, ['hello'])
})

t.test('HEAD answers and 1xx have no body; Connection: close is not kept alive', async (t) => {
  const head = read([text('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n')], { head: true })
  t.equal(head.completed, 1, 'a HEAD answer ends with its head')
  const informational = read([text('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx')])
  t.same(
    informational.heads.map((h) => [h.statusCode, h.keepAlive]),
    [
      [100, true],
      [200, false],
    ],
  )
  t.same(informational.bodies, ['', 'x'])
})

t.test('an answer delimited by the end of the connection completes on finish', async (t) => {
  const parser = createResponseParser()
  let body = ''
  let completed = false
  parser.listen({ head: () => false, body: (c) => (body += c.toString()), complete: () => (completed = true) })
  t.equal(parser.execute(text('HTTP/1.1 200 OK\r\n\r\nuntil the end')), undefined)
  t.notOk(completed)
  t.equal(parser.finish(), undefined)
  t.ok(completed)
  t.equal(body, 'until the end')
  parser.close()
})

t.test('a cut answer is an error on finish, not a throw', async (t) => {
  const parser = createResponseParser()
  parser.listen({ head: () => false, body: () => {}, complete: () => {} })
  t.equal(parser.execute(text('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab')), undefined)
  t.type(parser.finish(), Error)
  parser.close()
})

t.test('malformed answers are errors: bad status, control bytes in headers, both length and chunked', async (t) => {
  for (const bad of ['HTTP/1.1 2x0 OK\r\n\r\n', 'SSH-2.0-OpenSSH_9\r\n', 'HTTP/1.1 200 OK\r\nX: a\x01b\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n']) {
    t.type(read([text(bad)]).error, Error, JSON.stringify(bad))
  }
})

t.test('a Content-Length body is handed on as views of the chunks it came in, not copies', async (t) => {
  const parser = createResponseParser({ countBodiesFrom: 1 })
  const pieces: Buffer[] = []
  let completed = 0
  parser.listen({ head: () => false, body: (c) => pieces.push(c), complete: () => completed++ })
  const first = text('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd')
  const second = text('efghij')
  t.equal(parser.execute(first), undefined)
  t.equal(parser.execute(second), undefined)
  t.equal(completed, 1)
  t.same(
    pieces.map((p) => p.toString()),
    ['abcd', 'efghij'],
  )
  t.equal(pieces[0]!.buffer, first.buffer, 'the first piece shares the memory of the chunk it came in')
  t.equal(pieces[1], second, 'a chunk that is all body is handed on as it is')
  parser.close()

  const large = createResponseParser()
  const got: Buffer[] = []
  large.listen({ head: () => false, body: (c) => got.push(c), complete: () => {} })
  const body = Buffer.alloc(64 * 1024, 'b')
  t.equal(large.execute(Buffer.concat([text(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body])), undefined)
  t.equal(Buffer.concat(got).length, body.length)
  t.ok(got.every((c) => c.length === 0 || c.buffer.byteLength > body.length), 'by default a 64 KiB body is counted, not copied')
})

t.test('after a Content-Length body the next answer reads from a fresh start, and bytes nobody asked for mark the channel', async (t) => {
  const r = read([text('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nonehttp/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthree')])
  t.type(r.error, Error, 'a lower-case status line is not HTTP (llhttp still reads the heads)')
  const ok = read([text('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\noneHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nthree')], { countBodiesFrom: 1 })
  t.equal(ok.error, undefined)
  t.same(ok.bodies, ['one', 'two', 'three'])

  const parser = createResponseParser({ countBodiesFrom: 1 })
  let completed = 0
  parser.listen({
    head: () => false,
    body: () => {},
    complete() {
      completed++
      parser.listen(undefined)
    },
  })
  // The stray answer's body is read as the start of another answer (nobody asked for one to skip it by): an error too.
  parser.execute(text('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx'))
  t.equal(completed, 1)
  t.ok(parser.stray, 'a second answer after the listener left is stray')
  parser.close()
})

t.test('a connection that ends inside a Content-Length body is an error naming how much was missing', async (t) => {
  const parser = createResponseParser({ countBodiesFrom: 1 })
  parser.listen({ head: () => false, body: () => {}, complete: () => {} })
  t.equal(parser.execute(text('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789')), undefined)
  t.match(parser.finish()?.message ?? '', /990 bytes/)
  parser.close()
})

t.test('fuzzed answers split anywhere read the same as in one piece', async (t) => {
  const answer = fc.oneof(
    fc.string({ maxLength: 40 }).map((body) => ({ raw: `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`, body })),
    fc.string({ minLength: 1, maxLength: 40 }).map((body) => ({ raw: `HTTP/1.1 201 Made\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`, body })),
    fc.constant({ raw: 'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n', body: '' }),
    fc.constant({ raw: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n', body: '' }),
  )
  fc.assert(
    // Bodies from 1 byte up counted here, or none (all through llhttp), or those of 20 bytes and more.
    fc.property(fc.array(answer, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), fc.constantFrom(1, 20, Infinity), (answers, cuts, countBodiesFrom) => {
      const whole = text(answers.map((a) => a.raw).join(''))
      const at = [...new Set(cuts.map((c) => c % (whole.length + 1)))].sort((a, b) => a - b)
      const chunks: Buffer[] = []
      let from = 0
      for (const cut of [...at, whole.length]) {
        chunks.push(whole.subarray(from, cut))
        from = cut
      }
      const r = read(
        chunks.filter((c) => c.length > 0),
        { countBodiesFrom },
      )
      return r.error === undefined && r.completed === answers.length && JSON.stringify(r.bodies) === JSON.stringify(answers.map((a) => a.body))
    }),
    { numRuns: 1000 },
  )
  t.pass('1,000 split sequences read as whole ones')
})

t.test('fuzzed bytes never throw', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 6 }), fc.boolean(), (chunks, prefixed) => {
      const all = chunks.map((c) => Buffer.from(c))
      if (prefixed) all.unshift(text('HTTP/1.1 200 OK\r\n'))
      read(all)
      return true
    }),
    { numRuns: 2000 },
  )
  t.pass('2,000 inputs read without a throw')
})
