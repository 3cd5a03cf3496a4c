import http from 'node:http'
import net from 'node:net'
import t from 'tap'
import fc from 'fast-check'
import { ChannelPool } from '../../server/proxy/channel-pool.js'
import { forwardRequest } from '../../server/proxy/request-forwarder.js'
import { rawRequest } from '../lib/device-app.js'

/**
 * The device's answer headers as the client receives them, with and without
 * headers the gateway set first (the HTTPS listener's Strict-Transport-Security):
 * every repeated header arrives, none is merged away. Real sockets: the
 * "tunnel" here is a TCP connection to the app.
 */

type Answer = [name: string, value: string][]

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return (server.address() as net.AddressInfo).port
}

t.test('repeated answer headers all reach the client, with or without headers set before', async (t) => {
  let answer: Answer = []
  const app = http.createServer((_req, res) => {
    const raw = answer.flat()
    res.writeHead(200, 'Fine', raw)
    res.end('ok')
  })
  const appPort = await listen(app)
  const pool = new ChannelPool({ openServiceChannel: async () => net.connect(appPort, '127.0.0.1') }, 'app', 80)
  let presetHsts = false
  const front = http.createServer((req, res) => {
    if (presetHsts) res.setHeader('Strict-Transport-Security', 'max-age=31536000')
    forwardRequest(req, res, {
      pool,
      timeoutMs: 10_000,
      onError: (err) => {
        res.writeHead(502, { 'content-type': 'text/plain' })
        res.end(`502 ${err.message}`)
      },
    })
  })
  const frontPort = await listen(front)
  t.teardown(() => {
    front.closeAllConnections()
    app.closeAllConnections()
    front.close()
    app.close()
  })
  const get = async () => {
    const res = await rawRequest(frontPort, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    const lines = res.head.split('\r\n').slice(1)
    return { status: res.status, lines, body: res.body }
  }

  for (const preset of [false, true]) {
    await t.test(preset ? 'after the gateway set Strict-Transport-Security' : 'with nothing set before', async (t) => {
      presetHsts = preset
      answer = [
        ['Set-Cookie', 'a=1; Path=/'],
        ['X-One', 'only'],
        ['Set-Cookie', 'b=2; Path=/'],
        ['Link', '</a.css>; rel=preload'],
        ['Set-Cookie', 'c=3; Path=/'],
        ['Link', '</b.js>; rel=preload'],
      ]
      const res = await get()
      t.equal(res.status, 200)
      t.same(
        res.lines.filter((l) => /^set-cookie:/i.test(l)),
        ['Set-Cookie: a=1; Path=/', 'Set-Cookie: b=2; Path=/', 'Set-Cookie: c=3; Path=/'],
        'all three cookies, in order',
      )
      t.equal(res.lines.filter((l) => /^link:/i.test(l)).length, 2, 'both Link lines')
      t.ok(res.lines.includes('X-One: only'))
      t.equal(res.lines.some((l) => /^strict-transport-security:/i.test(l)), preset, 'the gateway’s own header stays')
      t.equal(res.body, 'ok')
    })
  }

  await t.test('a header Node refuses is a 502 that carries none of the answer’s headers', async (t) => {
    presetHsts = true
    // The app's own http server would refuse to send it; answer from a raw socket instead.
    const raw = net.createServer((socket) => {
      socket.on('error', () => socket.destroy())
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nX-Fine: yes\r\nX-Bad: a\x7fb\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'))
    })
    const rawPort = await listen(raw)
    t.teardown(() => raw.close())
    const rawPool = new ChannelPool({ openServiceChannel: async () => net.connect(rawPort, '127.0.0.1') }, 'raw', 80)
    const server = http.createServer((req, res) => {
      res.setHeader('Strict-Transport-Security', 'max-age=31536000')
      forwardRequest(req, res, {
        pool: rawPool,
        timeoutMs: 10_000,
        onError: () => {
          res.writeHead(502)
          res.end()
        },
      })
    })
    const port = await listen(server)
    t.teardown(() => {
      server.closeAllConnections()
      server.close()
    })
    const res = await rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    t.equal(res.status, 502)
    t.notMatch(res.head, /X-Fine/i, 'nothing of the refused answer')
  })

  await t.test('fuzzed repeated headers: every line the app sent arrives, in order per name', async (t) => {
    presetHsts = true
    const name = fc.constantFrom('Set-Cookie', 'X-A', 'x-a', 'Link', 'Vary')
    const value = fc.stringMatching(/^[A-Za-z0-9=;/ ]{1,12}$/).map((v) => v.trim() || 'v')
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(name, value), { minLength: 1, maxLength: 8 }), async (headers) => {
        answer = headers
        const res = await get()
        if (res.status !== 200) return false
        for (const lower of new Set(headers.map(([n]) => n.toLowerCase()))) {
          const sent = headers.filter(([n]) => n.toLowerCase() === lower).map(([, v]) => v)
          const got = res.lines.filter((l) => l.toLowerCase().startsWith(`${lower}:`)).map((l) => l.slice(l.indexOf(':') + 1).trim())
          if (JSON.stringify(sent) !== JSON.stringify(got)) return false
        }
        return true
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 100) },
    )
    t.pass('every repeated header arrived')
  })
})
