import net from 'node:net'
import t from 'tap'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair, writeKeyPair } from '../lib/keys.js'
import { startOpenSshDevice, startTestSshd, waitFor } from '../lib/openssh.js'
import { openTerminal } from '../lib/terminal-client.js'

const IDLE_MS = 10 * 60_000 + 15_000
/** What a reverse proxy in front of the gateway does by default (nginx: proxy_read_timeout 60s). */
const PROXY_IDLE_CUT_MS = 60_000

// This file waits out the real ten minutes: no shortened setting stands in for the defaults it proves.
t.setTimeout(IDLE_MS + 4 * 60_000)

/** A TCP proxy that cuts a connection after a minute with no bytes either way, as reverse proxies do. */
async function startIdleCuttingProxy(t: Parameters<typeof startTestGateway>[0], targetPort: number): Promise<{ port: number; cuts: () => number }> {
  let cuts = 0
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1')
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      a.pipe(b)
      a.on('error', () => b.destroy())
      a.on('close', () => b.destroy())
    }
    client.setTimeout(PROXY_IDLE_CUT_MS, () => {
      cuts++
      client.destroy()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { port: (server.address() as net.AddressInfo).port, cuts: () => cuts }
}

t.test('a terminal idle for ten minutes, behind a proxy that drops silent connections, still works with the default settings', async (t) => {
  // Default idle close (30 min) and ping interval: only the login user differs (the test sshd runs as root).
  const gw = await startTestGateway(t, 'pglite', { env: { EDGETAINER_TERMINAL_USER: 'root' } })
  const terminalKey = (await gw.http.get('/api/provision/terminal-key', { token: gw.adminToken })).body as string
  const sshd = await startTestSshd(t, [terminalKey.trim()])
  const key = newKeyPair()
  const device = (await gw.http.post('/api/devices', { name: 'Quiet', device_id: 'quiet-1', public_key: key.publicKey }, { token: gw.adminToken })).body
  startOpenSshDevice(t, { gatewayPort: gw.server.sshPort, gatewayHostKey: gw.server.hostPublicKey, deviceId: 'quiet-1', keyFile: writeKeyPair(key), forwards: [`0:localhost:${sshd.port}`] })
  await waitFor('device online', async () => (await gw.http.get('/api/devices/quiet-1/status', { token: gw.adminToken })).body.online)
  const proxy = await startIdleCuttingProxy(t, gw.server.httpPort)

  const term = await openTerminal(gw, await gw.tokenFor('operator'), `/api/devices/${device.id}/terminal`, { port: proxy.port })
  let pings = 0
  term.ws.on('ping', () => pings++)
  let closed: string | undefined
  const started = Date.now()
  term.ws.on('close', (code, reason) => (closed = `closed after ${Math.round((Date.now() - started) / 1000)} s with ${code} ${String(reason)}`))
  term.send('echo before-$((1+1))\n')
  await waitFor('output before the pause', () => term.output().includes('before-2'))

  await new Promise((resolve) => setTimeout(resolve, IDLE_MS))

  t.equal(closed, undefined, 'the WebSocket is still open after ten minutes without a keystroke')
  if (closed) return
  t.equal(proxy.cuts(), 0, 'the proxy never saw a silent minute')
  t.ok(pings >= 10, `the gateway pinged the browser through the quiet time (${pings} pings)`)
  term.send('echo after-$((2+2))\n')
  await waitFor('output after the pause', () => term.output().includes('after-4'))
  t.pass('the same shell answers after the pause')
  term.send('exit\n')
  t.equal((await term.exit).code, 0, 'and ends normally')
})
