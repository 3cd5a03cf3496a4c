import http from 'node:http'
import net from 'node:net'
import t from 'tap'
import fc from 'fast-check'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { rawRequest } from '../lib/device-app.js'
import { waitFor } from '../lib/openssh.js'

/**
 * What reaches a device app is exactly the requests the client sent, body and
 * all: a body is never cut off, and never read by the app as a request of its
 * own. A smuggled request would share the tunnel channel's keep-alive
 * connection, and its answer would go to the next user of that channel.
 */

interface Received {
  method: string
  url: string
  body: string
}

/** A device app that records every request it parses and answers with its method and body size. */
async function startRecordingApp(t: { teardown(fn: () => Promise<void>): void }, keepAliveMs = 5000) {
  const received: Received[] = []
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (d: Buffer) => chunks.push(d))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('latin1')
      received.push({ method: req.method ?? '', url: req.url ?? '', body })
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end(`${req.method} ${body.length}`)
    })
  })
  server.keepAliveTimeout = keepAliveMs
  const sockets = new Set<net.Socket>()
  server.on('connection', (s: net.Socket) => {
    sockets.add(s)
    s.once('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { port: (server.address() as net.AddressInfo).port, received }
}

/**
 * A gateway with one registered device (ssh2, like the agent) that forwards each named service
 * (`<name>.<deviceId>.localhost`, no sign-in) to a local port; resolves once all are connected.
 */
async function deviceWithServices(t: Parameters<typeof startTestGateway>[0], deviceId: string, services: Record<string, number>) {
  const gw = await startTestGateway(t, 'postgres')
  const key = newKeyPair()
  const device = (await gw.http.post('/api/devices', { name: deviceId, device_id: deviceId, public_key: key.publicKey }, { token: gw.adminToken })).body
  for (const name of Object.keys(services)) {
    await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name, container_name: name, internal_port: 80, auth_required: false }, { token: gw.adminToken })
  }
  const dev = await connectSsh2Device(t, { port: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, deviceId, key })
  for (const [name, port] of Object.entries(services)) await dev.forward(name, 80, port)
  await waitFor('services connected', async () => {
    const list = (await gw.http.get(`/api/devices/${device.id}/exposed-services`, { token: gw.adminToken })).body
    return (list.items ?? list).every((s: { connected: boolean }) => s.connected)
  })
  return gw
}

const chunked = (body: string) => (body.length ? `${body.length.toString(16)}\r\n${body}\r\n` : '') + '0\r\n\r\n'
const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: app\r\n\r\n'

t.test('request bodies reach the device whole, never as requests of their own', async (t) => {
  const app = await startRecordingApp(t)
  const gw = await deviceWithServices(t, 'framing-1', { open: app.port })
  const port = gw.server.httpPort
  const host = 'open.framing-1.localhost'

  /** One request on its own connection, then one plain GET, so that a smuggled leftover on the channel would show. */
  async function send(method: string, framing: 'chunked' | 'length' | 'none', body: string) {
    const before = app.received.length
    const head = `${method} /r HTTP/1.1\r\nHost: ${host}\r\n`
    const request =
      framing === 'chunked'
        ? `${head}Transfer-Encoding: chunked\r\n\r\n${chunked(body)}`
        : framing === 'length'
          ? `${head}Content-Length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`
          : `${head}\r\n`
    const res = await rawRequest(port, Buffer.from(request, 'latin1'))
    const after = await rawRequest(port, `GET /after HTTP/1.1\r\nHost: ${host}\r\n\r\n`)
    return { res, after, seen: app.received.slice(before) }
  }

  for (const method of ['DELETE', 'OPTIONS', 'POST', 'PUT', 'PATCH']) {
    await t.test(`${method} with a chunked body that looks like a request`, async (t) => {
      const { res, after, seen } = await send(method, 'chunked', smuggled)
      t.equal(res.status, 200, 'answered by the app')
      t.equal(res.body, `${method} ${smuggled.length}`, 'the app read the whole body as the body')
      t.equal(after.status, 200)
      t.same(
        seen.map((r) => `${r.method} ${r.url}`),
        [`${method} /r`, 'GET /after'],
        'the app saw the two requests sent, and no third',
      )
      t.equal(seen[0]!.body, smuggled, 'byte for byte')
    })
  }

  await t.test('fuzzed: any method, framing and body reach the app as exactly one request with that body', async (t) => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'),
        fc.constantFrom('chunked' as const, 'length' as const, 'none' as const),
        fc.oneof(fc.string({ maxLength: 200 }).map((s) => s.replace(/[^\x20-\x7e\r\n]/g, '')), fc.constant(smuggled), fc.constant(`0\r\n\r\n${smuggled}`)),
        async (method, framing, body) => {
          const sent = framing === 'none' ? '' : body
          const { res, after, seen } = await send(method, framing, sent)
          if (res.status !== 200 || after.status !== 200) return false
          if (seen.length !== 2 || seen[1]!.url !== '/after') return false
          return seen[0]!.method === method && seen[0]!.body === sent
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 60) },
    )
    t.pass('every request arrived whole and alone')
  })

  t.ok((await gw.http.get('/healthz')).status === 200, 'the gateway serves on')
})

t.test('a large chunked upload arrives whole; an answer nobody asked for never reaches the next request', async (t) => {
  const app = await startRecordingApp(t)
  // Answers each request twice on the same kept-alive connection: the second answer is one nobody asked for.
  const strayServer = net.createServer((socket) => {
    socket.on('error', () => socket.destroy())
    let seen = ''
    socket.on('data', (d: Buffer) => {
      seen += d.toString('latin1')
      while (seen.includes('\r\n\r\n')) {
        seen = seen.slice(seen.indexOf('\r\n\r\n') + 4)
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirstHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray')
      }
    })
  })
  await new Promise<void>((resolve) => strayServer.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => strayServer.close(() => resolve())))
  const gw = await deviceWithServices(t, 'stray-1', { up: app.port, stray: (strayServer.address() as net.AddressInfo).port })

  await t.test('4 MiB in small chunks, through a paused and resumed channel', async (t) => {
    const body = Buffer.alloc(4 * 1024 * 1024, 'abcdefghijklmnopqrstuvwxyz')
    const pieces: Buffer[] = []
    for (let at = 0; at < body.length; at += 3000) {
      const piece = body.subarray(at, at + 3000)
      pieces.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'))
    }
    const head = Buffer.from(`POST /upload HTTP/1.1\r\nHost: up.stray-1.localhost\r\nTransfer-Encoding: chunked\r\n\r\n`)
    const res = await rawRequest(gw.server.httpPort, Buffer.concat([head, ...pieces, Buffer.from('0\r\n\r\n')]), 30_000)
    t.equal(res.status, 200)
    t.equal(res.body, `POST ${body.length}`, 'every byte, in order of size')
    t.ok(app.received.at(-1)!.body === body.toString('latin1'), 'and byte for byte')
  })

  await t.test('each request gets its own answer', async (t) => {
    const bodies: string[] = []
    for (let i = 0; i < 6; i++) bodies.push((await rawRequest(gw.server.httpPort, 'GET / HTTP/1.1\r\nHost: stray.stray-1.localhost\r\n\r\n', 5000)).body)
    t.same(bodies, Array(6).fill('first'), 'never the stray answer left on a kept-alive channel')
  })
})

t.test('a kept-alive channel that turns out closed: a GET is sent again on a new one, a POST is not', async (t) => {
  // Answers the first request on each connection, then drops the connection at the next one without a word:
  // what a device app does when its keep-alive timeout fires just as a request leaves the gateway.
  let connections = 0
  const racy = net.createServer((socket) => {
    connections++
    socket.on('error', () => socket.destroy())
    let requests = 0
    let seen = ''
    socket.on('data', (d: Buffer) => {
      seen += d.toString('latin1')
      while (seen.includes('\r\n\r\n')) {
        seen = seen.slice(seen.indexOf('\r\n\r\n') + 4)
        if (++requests === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
        else socket.destroy()
      }
    })
  })
  await new Promise<void>((resolve) => racy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => racy.close(() => resolve())))
  const gw = await deviceWithServices(t, 'racy-1', { open: (racy.address() as net.AddressInfo).port })
  const send = (request: string) => rawRequest(gw.server.httpPort, request, 5000)

  const statuses: number[] = []
  for (let i = 0; i < 4; i++) statuses.push((await send('GET / HTTP/1.1\r\nHost: open.racy-1.localhost\r\n\r\n')).status)
  t.same(statuses, [200, 200, 200, 200], 'every GET answered, though each reused channel was dropped')
  t.equal(connections, 4, 'each resent GET went out on a new channel')

  t.equal((await send('GET / HTTP/1.1\r\nHost: open.racy-1.localhost\r\n\r\n')).status, 200, 'a channel is in the pool again')
  const post = await send('POST / HTTP/1.1\r\nHost: open.racy-1.localhost\r\nContent-Length: 4\r\n\r\ndata')
  t.equal(post.status, 502, 'a POST is never sent twice: the device may have acted on it')
  t.equal(JSON.parse(post.body).code, 'SERVICE_UNREACHABLE')
})

t.test('a channel whose device app closed it while idle is not used again', async (t) => {
  // The app drops kept-alive connections after 50 ms idle, as nginx or Node do after their keep-alive timeout.
  const app = await startRecordingApp(t, 50)
  const gw = await deviceWithServices(t, 'idle-app-1', { open: app.port })
  for (let round = 1; round <= 5; round++) {
    const res = await rawRequest(gw.server.httpPort, 'GET /again HTTP/1.1\r\nHost: open.idle-app-1.localhost\r\n\r\n', 5000)
    t.equal(res.status, 200, `request ${round} answered`)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
})

/**
 * A device app that answers every request with `next()`'s bytes, then closes: a hostile or broken app.
 * Its answers say `Connection: close`, so no channel it is closing is pooled for the next case.
 */
async function startRawApp(t: { teardown(fn: () => Promise<void>): void }, next: () => Buffer) {
  const server = net.createServer((socket) => {
    socket.on('error', () => socket.destroy())
    let head = ''
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1')
      if (head.includes('\r\n\r\n')) socket.end(next())
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return (server.address() as net.AddressInfo).port
}

t.test('a device app’s malformed answers are a 502 or pass as sent, never a crash', async (t) => {
  let answer = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
  const gw = await deviceWithServices(t, 'hostile-app-1', { open: await startRawApp(t, () => answer) })
  const port = gw.server.httpPort
  // Generous: under a loaded suite a case can take seconds, and a timeout here would read as a dropped answer.
  const get = () => rawRequest(port, 'GET / HTTP/1.1\r\nHost: open.hostile-app-1.localhost\r\n\r\n', 20_000)

  await t.test('known bad answers', async (t) => {
    const cases: [string, string, number][] = [
      ['a reason phrase with a control byte', 'HTTP/1.1 200 O\x01K\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok', 502],
      ['a header value with a control byte', 'HTTP/1.1 200 OK\r\nX-Bad: a\x02b\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok', 502],
      ['a header name with a space', 'HTTP/1.1 200 OK\r\nBad Name: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok', 502],
      ['not HTTP at all', 'SSH-2.0-OpenSSH\r\n\r\n', 502],
      ['nothing', '', 502],
      ['a body cut short of its length', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\n\r\nok', 200],
      ['a 101 to a plain request', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n', 502],
      ['hop-by-hop headers, which stay on the device’s side', 'HTTP/1.1 200 OK\r\nConnection: close, X-Secret\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok', 200],
    ]
    for (const [what, bytes, status] of cases) {
      answer = Buffer.from(bytes, 'latin1')
      const res = await get()
      t.equal(res.status, status, what)
      if (status === 200) t.notMatch(res.head, /keep-alive: timeout=1|x-secret/i, `${what}: no device hop-by-hop header reaches the client`)
    }
  })

  await t.test('fuzzed status lines and headers: 200 or 502, and the gateway serves on', async (t) => {
    const text = fc.string({ maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, ''))
    const bytes = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1').replace(/[\r\n]/g, ''))
    await fc.assert(
      fc.asyncProperty(fc.oneof(text, bytes), fc.array(fc.tuple(fc.oneof(text, bytes), fc.oneof(text, bytes)), { maxLength: 4 }), async (reason, headers) => {
        const lines = headers.map(([name, value]) => `${name}: ${value}\r\n`).join('')
        answer = Buffer.from(`HTTP/1.1 200 ${reason}\r\n${lines}Connection: close\r\nContent-Length: 2\r\n\r\nok`, 'latin1')
        const res = await get()
        return res.status === 200 || res.status === 502
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 150) },
    )
    t.equal((await gw.http.get('/healthz')).status, 200, 'the gateway serves on')
  })
})
