import net from 'node:net'
import t from 'tap'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair, writeKeyPair } from '../lib/keys.js'
import { startOpenSshDevice, startTestSshd, waitFor } from '../lib/openssh.js'
import { openTerminal } from '../lib/terminal-client.js'

/**
 * The production shape, scaled down 40x: nginx cuts a connection silent for
 * 60 s (proxy_read_timeout) and the gateway pings every 30 s (half of it); an
 * operator leaves the terminal for ten minutes. Here the proxy cuts after 1.5 s,
 * the gateway pings every 0.75 s (the same half), and the pause lasts eight
 * idle cuts. The ping must stay long enough for a loaded machine to answer it,
 * since a ping left unanswered until the next one ends the terminal.
 */
const PROXY_IDLE_CUT_MS = 1_500
const PING_SECONDS = 0.75
const IDLE_MS = 8 * PROXY_IDLE_CUT_MS + 250

/** A TCP proxy that cuts a connection after PROXY_IDLE_CUT_MS with no bytes either way, as reverse proxies do. */
async function startIdleCuttingProxy(t: Parameters<typeof startTestGateway>[0], targetPort: number): Promise<{ port: number; cuts: () => number }> {
  let cuts = 0
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    }
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
  // close() waits for every connection; one left half-open must not hold the test process past its end.
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return { port: (server.address() as net.AddressInfo).port, cuts: () => cuts }
}

t.test('an idle terminal, behind a proxy that drops silent connections, stays open because the gateway pings more often', async (t) => {
  // Default idle close (30 min); the ping interval shortened in step with the proxy's cut. The test sshd runs as root.
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_TERMINAL_USER: 'root' }, start: { terminalPingSeconds: PING_SECONDS } })
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

  t.equal(closed, undefined, `the WebSocket is still open after ${Math.floor(IDLE_MS / PROXY_IDLE_CUT_MS)} idle cuts' worth of time without a keystroke`)
  if (closed) return
  t.equal(proxy.cuts(), 0, 'the proxy never saw a silent interval as long as its cut')
  t.ok(pings >= 10, `the gateway pinged the browser through the quiet time (${pings} pings)`)
  term.send('echo after-$((2+2))\n')
  await waitFor('output after the pause', () => term.output().includes('after-4'))
  t.pass('the same shell answers after the pause')
  term.send('exit\n')
  t.equal((await term.exit).code, 0, 'and ends normally')
})
