import t from 'tap'
import fc from 'fast-check'
import net from 'node:net'
import { startTestGateway } from '../lib/test-gateway.js'

/**
 * Hostile bodies and headers on POST /api/auth/login, sent as raw bytes so
 * that NUL, unicode and oversized values reach the gateway exactly as written
 * (fetch refuses to send most of them). Never a 5xx, the gateway stays up.
 */

interface RawAnswer {
  status: number
  body: string
}

function rawRequest(port: number, head: Buffer, body: Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error('no answer within 20 s'))
    }, 20_000)
    socket.on('data', (d) => chunks.push(d))
    // The gateway may answer (413, 431) and close before reading everything we send.
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString('latin1')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) })
    })
    socket.write(Buffer.concat([head, body]))
  })
}

const junkText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', ',', ',,,', 'unknown', '\u0000', 'a\u0000b', '\ud800', '💥', '::ffff:127.0.0.1', '127.0.0.1:8080', '[::1]', '999.1.1.1'),
  fc.integer({ min: 1, max: 20_000 }).map((n) => 'x'.repeat(n)),
)
const address = fc.oneof(fc.ipV4(), fc.ipV6())
const forwardedFor = fc.oneof(
  { arbitrary: address, weight: 3 },
  { arbitrary: fc.array(fc.oneof(address, junkText), { minLength: 1, maxLength: 6 }).map((a) => a.join(', ')), weight: 2 },
  { arbitrary: junkText, weight: 1 },
)

const text = fc.oneof(
  { arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }), weight: 4 },
  fc.string({ unit: 'grapheme', maxLength: 2 }),
  fc.constantFrom('admin', 'Admin', 'admin\u0000', '\u0000', '\ud800x', 'a'.repeat(101), 'ghost', '../../etc/passwd', "' OR 1=1 --"),
  fc.integer({ min: 1, max: 3000 }).map((n) => 'p'.repeat(n)),
)
const wrongType = fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 3 }), fc.object({ maxDepth: 1 }))
const loginBody = fc.oneof(
  { arbitrary: fc.record({ username: text, password: text }).map((b) => JSON.stringify(b)), weight: 10 },
  fc.record({ username: fc.oneof(text, wrongType), password: fc.oneof(text, wrongType) }, { requiredKeys: [] }).map((b) => JSON.stringify(b)),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom('', '{', '{"username":"admin","password":"\\ud800"}', '{"username":"admin","password":"x","__proto__":{"admin":true}}', 'null', '[]'),
  fc.integer({ min: 1_000_000, max: 1_100_000 }).map((n) => JSON.stringify({ username: 'admin', password: 'p'.repeat(n) })),
)
const contentType = fc.constantFrom(
  'application/json',
  'application/json',
  'application/json',
  'application/json',
  'application/json',
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'application/json; charset=utf-16',
  'text/plain',
  'application/x-www-form-urlencoded',
  '',
  'application/json\u0000',
)

t.test('fuzzed login bodies and headers: never a 5xx, the gateway stays up', async (t) => {
  const gw = await startTestGateway(t, 'postgres', {
    env: { EDGETAINER_TRUST_PROXY: '1' },
    start: {
      // Limits high enough that most cases reach the password check; a cheap scrypt cost (test-only) keeps it quick.
      loginLimit: { perAddress: { points: 100_000 }, perUserAtAddress: { points: 100_000 }, perUser: { points: 100_000 } },
      passwordHashing: { cost: { N: 2 ** 10, r: 8, p: 1 } },
    },
  })
  const port = gw.server.httpPort
  const statuses = new Map<number, number>()
  let runs = 0

  await fc.assert(
    fc.asyncProperty(loginBody, contentType, fc.option(forwardedFor, { nil: undefined, freq: 4 }), fc.option(junkText, { nil: undefined, freq: 6 }), async (body, type, xff, extra) => {
      runs++
      const payload = Buffer.from(body, 'utf8')
      const lines = ['POST /api/auth/login HTTP/1.1', 'Host: 127.0.0.1', `Content-Length: ${payload.length}`, 'Connection: close']
      if (type) lines.push(`Content-Type: ${type}`)
      if (xff !== undefined) lines.push(`X-Forwarded-For: ${xff}`)
      if (extra !== undefined) lines.push(`X-Real-IP: ${extra}`, `Forwarded: for=${extra}`)
      const answer = await rawRequest(port, Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'utf8'), payload)
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
      if (answer.status >= 500) throw new Error(`${answer.status} for body ${body.slice(0, 80)} xff ${String(xff).slice(0, 80)}: ${answer.body.slice(0, 200)}`)
      if (answer.status === 200) throw new Error(`a fuzzed login succeeded: ${body.slice(0, 80)}`)
      if (answer.status >= 400 && answer.status !== 431 && answer.status !== 413 && answer.body) {
        // The gateway's own answers are `{error, code}`; Node's parser refusals (400/431 before express) have no JSON.
        if (answer.body.startsWith('{')) {
          const parsed = JSON.parse(answer.body) as { error?: unknown; code?: unknown }
          if (typeof parsed.error !== 'string' || typeof parsed.code !== 'string') throw new Error(`unclear error: ${answer.body.slice(0, 200)}`)
        }
      }
    }),
    { numRuns: 150 },
  )
  t.comment(`ran ${runs} cases; statuses ${JSON.stringify(Object.fromEntries(statuses))}`)
  t.ok(runs >= 150, 'every case ran')
  t.notOk([...statuses.keys()].some((s) => s >= 500), 'no 5xx')
  t.ok((statuses.get(401) ?? 0) >= 10, 'many cases reached the password check')
  t.ok(statuses.get(400), 'some cases were refused as bad input')

  const health = await gw.http.get('/healthz')
  t.equal(health.status, 200, 'the gateway still answers')
  const ok = await gw.http.post('/api/auth/login', { username: 'admin', password: 'admin-password-for-tests' })
  t.equal(ok.status, 200, 'and a real login still works')
})
