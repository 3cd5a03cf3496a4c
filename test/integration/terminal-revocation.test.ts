import t from 'tap'
import { startTestGateway, type TestGateway } from '../lib/test-gateway.js'
import { newKeyPair, writeKeyPair } from '../lib/keys.js'
import { startOpenSshDevice, startTestSshd, waitFor } from '../lib/openssh.js'
import { openTerminal } from '../lib/terminal-client.js'

/** An operator of our own, so the test knows its id and password. */
async function createOperator(gw: TestGateway, username: string) {
  const password = `${username}-password-123`
  const created = await gw.http.post('/api/users', { username, password, role: 'operator' }, { token: gw.adminToken })
  if (created.status !== 201) throw new Error(`creating ${username}: ${created.status}`)
  const login = await gw.http.post('/api/auth/login', { username, password })
  return { id: created.body.id as string, token: login.body.token as string }
}

/** Resolves with the exit message, or rejects if none comes in time (the bug this file guards against). */
function exitWithin<T>(exit: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the terminal stayed open ${ms} ms after access ended`)), ms)))
  return Promise.race([exit, late]).finally(() => clearTimeout(timer))
}

t.test('an open web terminal ends when its user loses access', async (t) => {
  // A short re-check interval stands in for the 15 s default: logout has no in-process hook, the re-check finds it.
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_TERMINAL_USER: 'root' }, start: { accessRecheckMs: 200 } })
  const terminalKey = (await gw.http.get('/api/provision/terminal-key', { token: gw.adminToken })).body as string
  const sshd = await startTestSshd(t, [terminalKey.trim()])
  const key = newKeyPair()
  const device = (await gw.http.post('/api/devices', { name: 'Rev', device_id: 'rev-1', public_key: key.publicKey }, { token: gw.adminToken })).body
  startOpenSshDevice(t, { gatewayPort: gw.server.sshPort, gatewayHostKey: gw.server.hostPublicKey, deviceId: 'rev-1', keyFile: writeKeyPair(key), forwards: [`0:localhost:${sshd.port}`] })
  await waitFor('device online', async () => (await gw.http.get('/api/devices/rev-1/status', { token: gw.adminToken })).body.online)

  // The periodic re-check (200 ms here) may beat the route's own immediate re-check; either reason names the cause.
  const cases: { name: string; revoke: (op: { id: string; token: string }) => Promise<unknown>; reason: RegExp }[] = [
    { name: 'logout', revoke: (op) => gw.http.post('/api/auth/logout', {}, { token: op.token }), reason: /access revoked: the session ended/ },
    { name: 'disable', revoke: (op) => gw.http.put(`/api/users/${op.id}`, { disabled: true }, { token: gw.adminToken }), reason: /access revoked: .*account (was )?disabled/ },
    { name: 'demotion', revoke: (op) => gw.http.put(`/api/users/${op.id}`, { role: 'viewer' }, { token: gw.adminToken }), reason: /access revoked: the viewer role may not do this \(it needs operator\)/ },
    { name: 'password change', revoke: (op) => gw.http.put(`/api/users/${op.id}`, { password: 'a-brand-new-password' }, { token: gw.adminToken }), reason: /access revoked: .*password.* changed/ },
  ]
  for (const c of cases) {
    await t.test(`${c.name} closes the terminal with an exit message`, async (t) => {
      const op = await createOperator(gw, `op-${c.name.replace(/\W/g, '')}`)
      const term = await openTerminal(gw, op.token, `/api/devices/${device.id}/terminal`)
      let closeCode: number | undefined
      term.ws.on('close', (code) => (closeCode = code))
      term.send('echo ready-$((40+2))\n')
      await waitFor('shell ready', () => term.output().includes('ready-42'))
      const res = (await c.revoke(op)) as { status: number }
      t.ok(res.status < 300, `${c.name} accepted (${res.status})`)
      const exit = await exitWithin(term.exit, 10_000)
      t.equal(exit.type, 'exit')
      t.equal(exit.code, 1, 'a non-zero code: the gateway ended it, not the shell')
      t.match(exit.reason, c.reason)
      await waitFor('the WebSocket closes', () => closeCode !== undefined)
      t.equal(closeCode, 1000)
    })
  }

  await t.test('the closes are audited with the reason', async (t) => {
    const rows = await waitFor('terminal.close rows', async () => {
      const res = await gw.http.get(`/api/audit?target_id=${device.id}&action=terminal.close&limit=50`, { token: gw.adminToken })
      return res.body.items.length >= cases.length ? res.body.items : undefined
    })
    t.equal(rows.filter((r: { details: { reason: string } }) => /access revoked/.test(r.details.reason)).length, cases.length)
  })

  await t.test('a terminal of a user who keeps access stays open through re-checks', async (t) => {
    const op = await createOperator(gw, 'op-stays')
    const term = await openTerminal(gw, op.token, `/api/devices/${device.id}/terminal`)
    let exited = false
    void term.exit.then(() => (exited = true))
    // Another user's change re-checks only that user; several periodic rounds pass meanwhile.
    const other = await createOperator(gw, 'op-other')
    await gw.http.put(`/api/users/${other.id}`, { disabled: true }, { token: gw.adminToken })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    term.send('echo still-$((3*3))\n')
    await waitFor('the shell still answers', () => term.output().includes('still-9'))
    t.equal(exited, false, 'still open')
    term.send('exit\n')
    t.equal((await term.exit).code, 0)
  })
})
