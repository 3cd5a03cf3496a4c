import http from 'node:http'
import type { AddressInfo } from 'node:net'
import fc from 'fast-check'
import { execa } from 'execa'
import t, { type Test } from 'tap'
import { createApiClient } from '../../cli/remote/api-client.js'
import { devicePage, logPage, meAnswer } from '../../cli/remote/api-schemas.js'
import { CliError, describeFailure } from '../../cli/remote/cli-error.js'
import { createCliRunner, EDGETAINER_BIN, isOneLineError, type CliResult } from '../lib/remote-cli.js'
import { waitFor } from '../lib/wait.js'

/** What the hostile server answers for one case. */
type Answer =
  | { kind: 'raw'; status: number; contentType: string | null; body: string }
  | { kind: 'huge' }
  | { kind: 'hang' }
  | { kind: 'reset' }
  | { kind: 'endless-sse' }

const statuses = [200, 201, 204, 301, 302, 400, 401, 403, 404, 409, 418, 429, 500, 502, 503]
/** Text meant to hurt: terminal escapes, C1 controls, newlines, long runs. */
const hostileText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.constantFrom('\u001b[2J\u001b[31mred\u001b]0;title\u0007', 'line one\nline two\r\n    at fake (stack.js:1:1)', '\u009b31m', 'x'.repeat(5000)),
)
const jsonBody = fc.oneof(
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.record({ error: hostileText, code: hostileText }).map((v) => JSON.stringify(v)),
  fc.record({ items: fc.array(fc.jsonValue(), { maxLength: 3 }), total: fc.jsonValue() }).map((v) => JSON.stringify(v)),
  fc.constantFrom('{"items":[{"id":1}],"total":1}', '{"token":"","user":null}', '[', '{"items":[],"total":-1}'),
)
const answerArb: fc.Arbitrary<Answer> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('raw' as const), status: fc.constantFrom(...statuses), contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/html', 'text/event-stream', null), body: fc.oneof(jsonBody, hostileText) }) },
  { weight: 1, arbitrary: fc.constantFrom<Answer>({ kind: 'huge' }, { kind: 'reset' }) },
)

const commands: string[][] = [
  ['devices'],
  ['devices', '--json', '--fleet', 'f1'],
  ['device', 'd1'],
  ['whoami', '--json'],
  ['env', 'list', '--device', 'd1'],
  ['env', 'set', 'A', '1', '--device', 'd1', '--service', 'web'],
  ['env', 'list', '--software', 's1'],
  ['tokens', 'list'],
  ['tokens', 'provisioning', 'list'],
  ['logs', 'd1'],
  ['deploy', 's1', '--fleet', 'f1'],
  ['ssh', 'd1', '--print'],
  ['logout'],
]

function startHostileServer(t: { teardown(fn: () => void): void }) {
  const answers = new Map<string, Answer>()
  const held = new Set<http.ServerResponse>()
  const server = http.createServer((req, res) => {
    const key = (req.url ?? '/').split('/')[1] ?? ''
    const answer = answers.get(key) ?? { kind: 'raw', status: 404, contentType: 'application/json', body: '{"error":"device not found","code":"DEVICE_NOT_FOUND"}' }
    req.resume()
    if (answer.kind === 'reset') return req.socket.destroy()
    if (answer.kind === 'hang') return void held.add(res)
    if (answer.kind === 'huge') {
      res.writeHead(200, { 'content-type': 'application/json' })
      const chunk = Buffer.alloc(1024 * 1024, 0x20)
      let sent = 0
      const pump = () => {
        while (sent < 10 && res.write(chunk)) sent++
        if (sent >= 10) res.end()
        else res.once('drain', () => (sent++, pump()))
      }
      res.on('error', () => {})
      return pump()
    }
    if (answer.kind === 'endless-sse') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('event: log\ndata: {"not":"an entry"}\n\n: keep-alive\n\nevent: log\ndata: ' + '{"id":1,"log_type":"stdout","container":"web","message":"\\u001b[31mok","created_at":"2026-01-01T00:00:00Z","seq":1}\n\n')
      return void held.add(res)
    }
    const headers: Record<string, string> = {}
    if (answer.contentType) headers['content-type'] = answer.contentType
    if (answer.status >= 300 && answer.status < 400) headers.location = 'http://elsewhere.invalid/\u001b[31m'.replace(/[^\x20-\x7e]/g, '')
    res.writeHead(answer.status, headers)
    res.end(answer.status === 204 ? undefined : answer.body)
  })
  t.teardown(() => {
    for (const res of held) res.destroy()
    server.closeAllConnections()
    server.close()
  })
  return new Promise<{ url: (key: string) => string; answers: Map<string, Answer> }>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: (key) => `http://127.0.0.1:${(server.address() as AddressInfo).port}/${key}`, answers })),
  )
}

/** Runs jobs a few at a time: each CLI run is a whole Node process on a 2-core machine. */
async function pooled<T, R>(items: T[], size: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(Array.from({ length: size }, async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!, i)
    }
  }))
  return out
}

function checkFailure(t: Test, r: CliResult, what: string) {
  t.ok([0, 1, 2, 3, 4].includes(r.exitCode), `${what}: exit ${r.exitCode} is a documented code`)
  if (r.exitCode !== 0) t.ok(isOneLineError(r.stderr), `${what}: one clean line: ${JSON.stringify(r.stderr.slice(0, 300))}`)
  t.notMatch(r.stdout + r.stderr, /\u001b|\n\s+at \S+ \(/, `${what}: no escape sequence and no stack`)
}

t.test('hostile server answers end every command with one clean line and a documented exit code', async (t) => {
  const server = await startHostileServer(t)
  const cli = createCliRunner(t, { EDGETAINER_TOKEN: 'et_test', EDGETAINER_TIMEOUT: '10' })
  const run = (key: string, args: string[], extra: Record<string, string> = {}, timeoutMs = 30_000) => cli.run(args, { env: { EDGETAINER_URL: server.url(key), ...extra }, timeoutMs })

  await t.test('named cases', async (t) => {
    const named: [string, Answer, string[], number, RegExp, Record<string, string>?][] = [
      ['html', { kind: 'raw', status: 200, contentType: 'text/html', body: '<html>captive portal</html>' }, ['devices'], 4, /did not answer with JSON/],
      ['shape', { kind: 'raw', status: 200, contentType: 'application/json', body: '{"items":"no","total":1}' }, ['devices'], 4, /unexpected answer from .* at items/],
      ['huge', { kind: 'huge' }, ['devices'], 4, /larger than 8 MiB/],
      ['hang', { kind: 'hang' }, ['whoami'], 4, /no answer in time/, { EDGETAINER_TIMEOUT: '1' }],
      ['reset', { kind: 'reset' }, ['whoami'], 4, /cannot reach the gateway/],
      ['redirect', { kind: 'raw', status: 302, contentType: null, body: '' }, ['whoami'], 4, /redirected to http:\/\/elsewhere\.invalid/],
      ['escapes', { kind: 'raw', status: 400, contentType: 'application/json', body: JSON.stringify({ error: '\u001b[2Jbad\nthing\u009b', code: 'NOPE' }) }, ['whoami'], 1, /^edgetainer: bad thing \(NOPE\)\n$/],
      ['five', { kind: 'raw', status: 503, contentType: 'text/html', body: '<h1>down</h1>' }, ['devices'], 4, /failed \(HTTP 503\)/],
      ['not-sse', { kind: 'raw', status: 200, contentType: 'application/json', body: '{"items":[],"total":0}' }, ['logs', 'd1', '-f'], 4, /does not stream logs/],
      ['gone', { kind: 'raw', status: 404, contentType: 'application/json', body: '{"error":"device not found","code":"DEVICE_NOT_FOUND"}' }, ['logs', 'd1', '-f'], 3, /device "d1" not found/],
    ]
    for (const [key, answer] of named) server.answers.set(key, answer)
    const results = await pooled(named, 4, ([key, , args, , , extra]) => run(key, args, extra))
    named.forEach(([key, , , code, message], i) => {
      const r = results[i]!
      t.equal(r.exitCode, code, `${key}: exit ${code}`)
      t.ok(isOneLineError(r.stderr), `${key}: ${JSON.stringify(r.stderr)}`)
      t.match(r.stderr, message, key)
    })
  })

  await t.test('logs -f skips events it cannot read and strips escapes from device output', async (t) => {
    server.answers.set('sse', { kind: 'endless-sse' })
    // It follows until stopped: read what it prints, then stop it.
    const follow = execa(EDGETAINER_BIN, ['logs', 'd1', '-f'], { env: { ...cli.env, EDGETAINER_URL: server.url('sse') }, extendEnv: false, reject: false, buffer: false })
    let out = ''
    let err = ''
    follow.stdout!.on('data', (d: Buffer) => (out += d))
    follow.stderr!.on('data', (d: Buffer) => (err += d))
    await waitFor('the entry', () => out.includes('\n'), 30_000)
    follow.kill('SIGTERM')
    const ended = await follow
    t.equal(out, '2026-01-01T00:00:00Z [web] ok\n', 'the entry, without its escape sequence')
    t.match(err, /skipped a log event the CLI cannot read/)
    t.equal(ended.exitCode, 0, 'SIGTERM ends a follow cleanly')
  })

  await t.test('random answers to random commands (fast-check)', async (t) => {
    const seed = Date.now() % 2 ** 31
    t.comment(`fast-check seed ${seed}`)
    const cases = fc.sample(fc.tuple(answerArb, fc.constantFrom(...commands)), { numRuns: 20, seed })
    cases.forEach(([answer], i) => server.answers.set(`r${i}`, answer))
    const results = await pooled(cases, 4, ([, args], i) => run(`r${i}`, args))
    results.forEach((r, i) => checkFailure(t, r, `case ${i} (${cases[i]![1].join(' ')}; ${JSON.stringify(cases[i]![0]).slice(0, 120)})`))
    t.comment(`ran ${cases.length} cases`)
  })

  await t.test('hostile arguments (fast-check)', async (t) => {
    const seed = (Date.now() + 1) % 2 ** 31
    t.comment(`fast-check seed ${seed}`)
    const arg = fc.oneof(fc.string({ unit: 'binary', maxLength: 80 }), fc.constantFrom('../../etc', '-oProxyCommand=touch /tmp/x', '--', '', 'a'.repeat(5000), 'd1; rm -rf /', '%2e%2e')).filter((s) => !s.includes('\0'))
    const shapes = fc.oneof(
      arg.map((a) => ['device', a]),
      arg.map((a) => ['logs', 'd1', '--since', a]),
      arg.map((a) => ['logs', a, '--service', 'web']),
      arg.map((a) => ['env', 'set', a, 'v', '--device', 'd1', '--service', 'web']),
      arg.map((a) => ['env', 'list', '--fleet', a]),
      arg.map((a) => ['tunnel', 'd1', a]),
      arg.map((a) => ['ssh', a, '--container', a, '--print']),
      arg.map((a) => ['deploy', 's1', '--device', 'd1', '--version', a]),
      arg.map((a) => ['tokens', 'revoke', a]),
      arg.map((a) => ['login', a, '--token-stdin']),
    )
    const cases = fc.sample(shapes, { numRuns: 16, seed })
    const results = await pooled(cases, 4, (args) => run('args', args))
    results.forEach((r, i) => {
      checkFailure(t, r, `args ${JSON.stringify(cases[i]).slice(0, 120)}`)
      t.not(r.exitCode, 0, 'nothing succeeds against a server that knows no device')
    })
    t.comment(`ran ${cases.length} cases`)
  })
})

t.test('the API client turns any answer into data or a CliError (in process, many cases)', async (t) => {
  const server = await startHostileServer(t)
  const seed = Date.now() % 2 ** 31
  t.comment(`fast-check seed ${seed}`)
  let n = 0
  await fc.assert(
    fc.asyncProperty(answerArb, fc.constantFrom(devicePage, logPage, meAnswer), async (answer, schema) => {
      const key = `p${n++}`
      server.answers.set(key, answer)
      const api = createApiClient({ baseUrl: server.url(key), token: 'et_test', timeoutMs: 2000 })
      try {
        await api.get(schema, '/api/x')
        return true
      } catch (err) {
        // What the user would see: one line, no terminal control, whatever the server sent.
        const { line } = describeFailure(err, false)
        return err instanceof CliError && [1, 2, 3, 4].includes(err.exitCode) && /^edgetainer: [^\u0000-\u001f\u007f-\u009f]+$/.test(line)
      }
    }),
    { numRuns: 200, seed },
  )
  t.comment(`ran ${n} cases`)
  t.equal(n, 200)
})
