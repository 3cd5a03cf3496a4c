import t from 'tap'
import { sql } from 'kysely'
import type ssh2 from 'ssh2'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { registerDevice, trySshLogin } from '../lib/ssh-probes.js'
import { waitFor } from '../lib/openssh.js'
import { AGENT_API_HOST, AGENT_API_PORT } from '../../shared/agent-protocol.js'

// Every test here would end the test process on the old code (an unhandled rejection): reaching the end is the proof it stays up.

t.test('SSH user names that are not device ids are refused before any query; the gateway stays up', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { sshAuthLimit: { maxFailures: 1000 } } })
  const key = newKeyPair('pump-1')
  await registerDevice(gw, 'pump-1', key)
  // PostgreSQL rejects a NUL in text outright; that error used to escape the auth handler.
  for (const name of ['pump-1\u0000', '\u0000', 'pump\u0000-1', 'PUMP-1', 'pump 1', 'pümp-1', 'a'.repeat(64), 'x'.repeat(5000), '', '\u001b[31m']) {
    const result = await trySshLogin(gw.server.sshPort, name, key)
    t.not(result, 'ready', `${JSON.stringify(name.slice(0, 20))} refused`)
  }
  t.equal(await trySshLogin(gw.server.sshPort, 'pump-1', key), 'ready', 'the real device still gets in')
})

t.test('a database error during SSH authentication refuses the device; service resumes by itself', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { start: { sshAuthLimit: { maxFailures: 1000 } } })
  const key = newKeyPair('pump-2')
  await registerDevice(gw, 'pump-2', key)
  const db = gw.server.database.db
  // A real database error on the lookup query, as during a PostgreSQL restart.
  await sql`alter table devices rename to devices_away`.execute(db)
  t.teardown(() => sql`alter table if exists devices_away rename to devices`.execute(db).then(() => undefined, () => undefined))
  for (let i = 0; i < 3; i++) t.not(await trySshLogin(gw.server.sshPort, 'pump-2', key), 'ready', `attempt ${i + 1} refused while the database fails`)
  await sql`alter table devices_away rename to devices`.execute(db)
  const started = Date.now()
  await waitFor('the device to get in again', async () => (await trySshLogin(gw.server.sshPort, 'pump-2', key)) === 'ready', 10_000)
  t.ok(Date.now() - started < 10_000, 'back within 10 s of the database')
  const health = await gw.http.get('/api/health')
  t.ok(health.status < 500, 'the API still answers')
})

function openChannel(client: ssh2.Client): Promise<ssh2.ClientChannel | Error> {
  return new Promise((resolve) => client.forwardOut('127.0.0.1', 0, AGENT_API_HOST, AGENT_API_PORT, (err, channel) => resolve(err ?? channel)))
}

t.test('in-tunnel channels per device are capped; the excess is refused, not a crash', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_SSH_MAX_CHANNELS_PER_DEVICE: '3' } })
  const key = newKeyPair('pump-3')
  await registerDevice(gw, 'pump-3', key)
  const device = await connectSsh2Device(t, { port: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, deviceId: 'pump-3', key })
  await device.forward('web', 80, 1)
  const open = await Promise.all([openChannel(device.client), openChannel(device.client), openChannel(device.client)])
  t.ok(open.every((c) => !(c instanceof Error)), 'three channels open')
  const excess = await Promise.all([openChannel(device.client), openChannel(device.client)])
  t.ok(excess.every((c) => c instanceof Error), 'the fourth and fifth are refused')
  // Closing one frees its place.
  const first = open[0] as ssh2.ClientChannel
  const closed = new Promise((r) => first.once('close', r))
  // EOF, as an HTTP client that is done: the agent API ends its side and the channel closes.
  first.resume()
  first.end()
  await closed
  const again = await waitFor('a channel once one closed', async () => {
    const c = await openChannel(device.client)
    return c instanceof Error ? undefined : c
  }, 5000)
  // The agent API answers on it: the channel is real.
  again.write(`GET /api/agent/nothing HTTP/1.1\r\nHost: ${AGENT_API_HOST}\r\nConnection: close\r\n\r\n`)
  const reply = await new Promise<string>((resolve) => {
    let text = ''
    again.on('data', (d: Buffer) => {
      text += d
      if (text.includes('\r\n\r\n')) resolve(text)
    })
  })
  again.close()
  t.match(reply, /^HTTP\/1\.1 \d{3}/, 'the agent API answered on the channel')
  const status = await gw.http.get('/api/devices/pump-3/status', { token: gw.adminToken })
  t.equal(status.body.online, true, 'the device is still online')
})
