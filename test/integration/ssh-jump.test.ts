import t from 'tap'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair, writeKeyPair } from '../lib/keys.js'
import { connects, freePort, startOpenSshDevice, startTestSshd, waitFor } from '../lib/openssh.js'
import { startDeviceApp } from '../lib/device-app.js'
import { runSsh, startSsh, writeJumpConfig } from '../lib/ssh-jump-client.js'
import { createUserCa } from '../../server/ssh-access/user-ca.js'
import fc from 'fast-check'
import ssh2 from 'ssh2'
import { trySshLogin } from '../lib/ssh-probes.js'
import { hostileString } from '../lib/api-fuzzer.js'

/** A parsed key that offers another algorithm name and blob, so ssh2's client sends whatever a hostile client would. */
function disguised(real: string, algo: string, blob: Buffer): ssh2.ParsedKey {
  const parsed = ssh2.utils.parseKey(real) as ssh2.ParsedKey
  return Object.create(parsed, { type: { value: algo }, getPublicSSH: { value: () => blob } }) as ssh2.ParsedKey
}

function loginWith(port: number, username: string, key: ssh2.ParsedKey): Promise<string> {
  return new Promise((resolve) => {
    const client = new ssh2.Client()
    const done = (r: string) => {
      client.end()
      resolve(r)
    }
    client.on('ready', () => done('ready'))
    client.on('error', (err) => done(err.message))
    client.on('close', () => done('closed'))
    client.connect({ host: '127.0.0.1', port, username, authHandler: [{ type: 'publickey', username, key } as unknown as ssh2.AuthenticationType], readyTimeout: 15_000 })
  })
}

// `ssh -J` through the gateway with stock OpenSSH on both ends: the client, and a private sshd standing in
// for the device's own. One gateway and one online device serve every case in this file.

t.test('the gateway is an OpenSSH jump host', async (t) => {
  // The test sshd runs as root, so the device account (and the certificates' principal) is root here; core on Flatcar.
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_TERMINAL_USER: 'root' }, start: { sshAuthLimit: { maxFailures: 1_000_000 } } })
  const admin = { token: gw.adminToken }

  const ca = await gw.http.get('/api/provision/ssh-user-ca')
  t.equal(ca.status, 200)
  t.match(ca.headers.get('content-type'), /^text\/plain/)
  t.match(ca.body, /^ssh-ed25519 [A-Za-z0-9+/]+=* edgetainer-user-ca\n$/, 'one OpenSSH public key line')
  const caFile = path.join(gw.dataDir, 'ca-for-device.pub')
  writeFileSync(caFile, ca.body)

  const aliceKey = newKeyPair('alice-laptop')
  const aliceKeyFile = writeKeyPair(aliceKey)
  // (a) The device trusts alice's registered key itself; (b) it trusts the gateway's CA and nothing of alice's.
  const doraKey = newKeyPair('dora')
  const sshd = await startTestSshd(t, [aliceKey.publicKey, doraKey.publicKey], [`TrustedUserCAKeys ${caFile}`])
  const app = await startDeviceApp(t, 'web')

  const deviceKey = newKeyPair('pump-1')
  const device = (await gw.http.post('/api/devices', { name: 'Pump 1', device_id: 'pump-1', public_key: deviceKey.publicKey }, admin)).body
  const other = (await gw.http.post('/api/devices', { name: 'Pump 2', device_id: 'pump-2', public_key: newKeyPair('pump-2').publicKey }, admin)).body
  startOpenSshDevice(t, {
    gatewayPort: gw.server.sshPort,
    gatewayHostKey: gw.server.hostPublicKey,
    deviceId: 'pump-1',
    keyFile: writeKeyPair(deviceKey),
    forwards: [`0:localhost:${sshd.port}`],
  })
  await waitFor('pump-1 online', async () => (await gw.http.get('/api/devices/pump-1/status', admin)).body.session?.forwards?.length === 1)

  const alice = { token: await gw.tokenFor('operator', 'alice') }
  const added = await gw.http.post('/api/users/me/ssh-keys', { public_key: aliceKey.publicKey }, alice)
  t.equal(added.status, 201, JSON.stringify(added.body))
  t.equal(added.body.name, 'alice-laptop', 'the key comment names it when no name is given')
  t.match(added.body.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/)

  const devices = [
    { deviceId: 'pump-1', hostKey: sshd.hostPublicKey },
    { deviceId: 'pump-2', hostKey: sshd.hostPublicKey },
  ]
  const base = { gatewayPort: gw.server.sshPort, gatewayHostKey: gw.server.hostPublicKey, deviceUser: 'root', devices }
  const withKey = writeJumpConfig({ ...base, login: 'u:alice', keyFile: aliceKeyFile })

  await t.test('with a key registered on the user, ssh -J runs a command on the device sshd', async (t) => {
    const res = await runSsh(withKey, ['pump-1', 'echo via-key-$((6*7))'])
    t.equal(res.code, 0, res.stderr)
    t.equal(res.stdout.trim(), 'via-key-42')
    const explicit = await runSsh(withKey, ['-J', `u:alice@127.0.0.1:${gw.server.sshPort}`, 'root@pump-1.edgetainer', 'echo explicit'])
    t.equal(explicit.code, 0, explicit.stderr)
    t.equal(explicit.stdout.trim(), 'explicit', 'the documented -J form and the *.edgetainer name work too')
  })

  await t.test('a -L forward through the jump carries an HTTP request', async (t) => {
    const localPort = await freePort()
    const forward = startSsh(t, withKey, ['-N', '-o', 'ExitOnForwardFailure=yes', '-L', `${localPort}:127.0.0.1:${app.port}`, 'pump-1'])
    await waitFor(`-L on ${localPort}`, () => connects(localPort)).catch((err: Error) => {
      throw new Error(`${err.message}: ${forward.output()}`)
    })
    const res = await fetch(`http://127.0.0.1:${localPort}/through-the-jump`)
    t.equal(res.status, 200)
    t.equal(await res.text(), 'web says hello at /through-the-jump')
    forward.child.kill('SIGTERM')
  })

  await t.test('the gateway itself gives no shell, command or other port', async (t) => {
    const shell = await runSsh(withKey, ['gw', 'id'])
    t.equal(shell.code, 1)
    t.match(shell.stderr, /this is a jump host: use ssh -J/)
    const port80 = await runSsh(withKey, ['-W', 'pump-1:80', 'gw'])
    t.not(port80.code, 0, 'port 80 is refused')
    const unknown = await runSsh(withKey, ['-W', 'no-such-device:22', 'gw'])
    t.not(unknown.code, 0, 'an unknown device is refused')
  })

  const certKey = newKeyPair('alice-cert')
  const certKeyFile = writeKeyPair(certKey)
  await t.test('with a gateway-issued certificate, one certificate opens both hops', async (t) => {
    const viewer = { token: await gw.tokenFor('viewer', 'vera') }
    t.equal((await gw.http.post('/api/ssh/certificates', { public_key: certKey.publicKey, device_id: 'pump-1' }, viewer)).status, 403, 'viewers get none')
    t.equal((await gw.http.post('/api/ssh/certificates', { public_key: certKey.publicKey, device_id: 'pump-9' }, alice)).status, 404)

    const before = Date.now()
    const res = await gw.http.post('/api/ssh/certificates', { public_key: certKey.publicKey, device_id: 'pump-1' }, alice)
    t.equal(res.status, 200, JSON.stringify(res.body))
    t.same(Object.keys(res.body).sort(), ['certificate', 'valid_before'])
    t.match(res.body.certificate, /^ssh-ed25519-cert-v01@openssh\.com AAAA/)
    const lifetime = Date.parse(res.body.valid_before) - before
    t.ok(lifetime > 3500_000 && lifetime <= 3600_000 + 5000, `valid for an hour by default (${lifetime} ms)`)
    const certFile = `${certKeyFile}-cert.pub`
    writeFileSync(certFile, res.body.certificate + '\n')

    const withCert = writeJumpConfig({ ...base, login: 'u:alice', keyFile: certKeyFile, certificateFile: certFile })
    const run = await runSsh(withCert, ['pump-1', 'echo via-certificate'])
    t.equal(run.code, 0, run.stderr)
    t.equal(run.stdout.trim(), 'via-certificate')

    const elsewhere = await runSsh(withCert, ['-W', 'pump-2:22', 'gw'])
    t.not(elsewhere.code, 0, "a certificate for pump-1 does not open pump-2's tunnel")
    const asBob = writeJumpConfig({ ...base, login: 'u:bob', keyFile: certKeyFile, certificateFile: certFile })
    await gw.tokenFor('operator', 'bob')
    t.not((await runSsh(asBob, ['pump-1', 'true'])).code, 0, "alice's certificate does not log in as bob")
  })

  await t.test('an expired certificate is refused', async (t) => {
    const users = (await gw.http.get('/api/users?limit=100', admin)).body.items as { id: string; username: string }[]
    const aliceRow = users.find((u) => u.username === 'alice')!
    // The gateway's own signing path and CA key, with its clock two hours back.
    const issued = await createUserCa({ dataDir: gw.dataDir }).sign({
      publicKey: certKey.publicKey,
      user: { id: aliceRow.id, username: 'alice' },
      deviceId: 'pump-1',
      principal: 'root',
      validSeconds: 600,
      now: new Date(Date.now() - 2 * 3600_000),
    })
    const certFile = `${certKeyFile}-expired-cert.pub`
    writeFileSync(certFile, issued.certificate + '\n')
    const expired = writeJumpConfig({ ...base, login: 'u:alice', keyFile: certKeyFile, certificateFile: certFile })
    const res = await runSsh(expired, ['pump-1', 'echo should-not-run'])
    t.equal(res.code, 255)
    t.match(res.stderr, /Permission denied/)
    t.notMatch(res.stdout, /should-not-run/)
  })

  await t.test("a viewer's key, an unknown key and a disabled operator are refused", async (t) => {
    const victorKey = newKeyPair('victor')
    const victor = { token: await gw.tokenFor('viewer', 'victor') }
    t.equal((await gw.http.post('/api/users/me/ssh-keys', { public_key: victorKey.publicKey, name: 'victor' }, victor)).status, 201)
    const asViewer = writeJumpConfig({ ...base, login: 'u:victor', keyFile: writeKeyPair(victorKey) })
    const viewerRun = await runSsh(asViewer, ['pump-1', 'true'])
    t.equal(viewerRun.code, 255)
    t.match(viewerRun.stderr, /Permission denied/)

    const stranger = writeJumpConfig({ ...base, login: 'u:alice', keyFile: writeKeyPair(newKeyPair('stranger')) })
    const strangerRun = await runSsh(stranger, ['pump-1', 'true'])
    t.equal(strangerRun.code, 255)
    t.match(strangerRun.stderr, /Permission denied/)

    const dora = { token: await gw.tokenFor('operator', 'dora') }
    const doraId = (await gw.http.get('/api/auth/me', dora)).body.id
    t.equal((await gw.http.post(`/api/users/${doraId}/ssh-keys`, { public_key: doraKey.publicKey, name: 'dora' }, admin)).status, 201, 'an admin adds a key for another user')
    const asDora = writeJumpConfig({ ...base, login: 'u:dora', keyFile: writeKeyPair(doraKey) })
    t.equal((await runSsh(asDora, ['pump-1', 'true'])).code, 0, 'dora gets through while enabled')
    const held = startSsh(t, asDora, ['pump-1', 'echo holding; sleep 60'])
    const exited = new Promise<number | null>((resolve) => held.child.on('exit', (code) => resolve(code)))
    await waitFor('dora holding a session', () => /holding/.test(held.output()))
    t.equal((await gw.http.put(`/api/users/${doraId}`, { disabled: true }, admin)).status, 200)
    t.not(await exited, 0, 'disabling dora cuts her open jump at once')
    const disabledRun = await runSsh(asDora, ['pump-1', 'true'])
    t.equal(disabledRun.code, 255)
    t.match(disabledRun.stderr, /Permission denied/)
  })

  await t.test('hostile user names, key types and channel requests leave the gateway serving', async (t) => {
    const port = gw.server.sshPort
    let cases = 0
    const names = fc.oneof(
      hostileString.map((s) => `u:${s}`),
      fc.string({ unit: 'binary', maxLength: 80 }).map((s) => `u:${s}`),
      fc.constantFrom('u:', 'u::alice', 'u:alice:', 'U:alice', 'u:ALICE', 'u:alice\u0000', ' u:alice', 'u:alice ', 'u:al', 'u:dora', 'u:victor', 'u:' + 'a'.repeat(5000)),
    )
    await fc.assert(
      fc.asyncProperty(names, async (name) => {
        cases++
        return (await trySshLogin(port, name, aliceKey)) !== 'ready'
      }),
      { numRuns: 40 },
    )
    t.equal(await trySshLogin(port, 'u:alice', aliceKey), 'ready', 'exactly u:alice logs in with her key')

    const good = Buffer.from((await gw.http.post('/api/ssh/certificates', { public_key: aliceKey.publicKey, device_id: 'pump-1' }, alice)).body.certificate.split(' ')[1], 'base64')
    const blobs = fc.oneof(
      fc.uint8Array({ maxLength: 800 }).map((a) => Buffer.from(a)),
      fc.record({ at: fc.nat({ max: good.length - 1 }), xor: fc.integer({ min: 1, max: 255 }) }).map(({ at, xor }) => {
        const copy = Buffer.from(good)
        copy[at]! ^= xor
        return copy
      }),
      fc.nat({ max: good.length - 1 }).map((n) => good.subarray(0, n)),
    )
    const algos = fc.oneof(
      fc.constantFrom('ssh-ed25519-cert-v01@openssh.com', 'ssh-rsa-cert-v01@openssh.com', 'rsa-sha2-256-cert-v01@openssh.com', 'ecdsa-sha2-nistp256-cert-v01@openssh.com', 'ssh-ed25519', 'ssh-rsa', 'ssh-dss', ''),
      fc.string({ maxLength: 64 }),
    )
    await fc.assert(
      fc.asyncProperty(algos, blobs, async (algo, blob) => {
        cases++
        return (await loginWith(port, 'u:alice', disguised(aliceKey.privateKey, algo, blob))) !== 'ready'
      }),
      { numRuns: 40 },
    )

    const client = new ssh2.Client()
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve())
      client.once('error', reject)
      client.connect({ host: '127.0.0.1', port, username: 'u:alice', privateKey: aliceKey.privateKey })
    })
    t.teardown(() => client.end())
    const open = (host: string, p: number) =>
      new Promise<boolean>((resolve) => {
        try {
          client.forwardOut('127.0.0.1', 0, host, p, (err, channel) => {
            if (channel) channel.close()
            resolve(!err)
          })
        } catch {
          resolve(false)
        }
      })
    const hosts = fc.oneof(hostileString, fc.constantFrom('pump-1', 'pump-2', 'PUMP-1', 'pump-1.edgetainer', 'localhost', '127.0.0.1', '::1', '', 'edgetainer-agent-api'))
    const ports = fc.oneof(fc.constantFrom(0, 21, 22, 23, 80, 65535), fc.integer({ min: 0, max: 65535 }))
    await fc.assert(
      fc.asyncProperty(hosts, ports, async (host, p) => {
        cases++
        const opened = await open(host, p)
        return opened === (p === 22 && ['pump-1', 'PUMP-1', 'pump-1.edgetainer'].includes(host))
      }),
      { numRuns: 60 },
    )
    t.comment(`ran ${cases} cases`)
    t.equal((await gw.http.get('/healthz')).status, 200, 'the gateway is still alive')
    const res = await runSsh(withKey, ['pump-1', 'echo still-serving'])
    t.equal(res.stdout.trim(), 'still-serving', 'and a real ssh -J still works')
  })

  await t.test('audit rows name who, from where, which device and port', async (t) => {
    const opened = (await gw.http.get('/api/audit?action=ssh.jump&limit=100', admin)).body.items as any[]
    const byAlice = opened.filter((r) => r.actor === 'alice')
    t.ok(byAlice.some((r) => r.details.via === 'key'), 'a key jump is audited')
    t.ok(byAlice.some((r) => r.details.via === 'certificate' && r.details.certificate_serial), 'a certificate jump is audited with its serial')
    for (const row of byAlice) {
      t.equal(row.target_id, device.id)
      t.equal(row.ip_address, '127.0.0.1')
      t.match(row.details, { device_id: 'pump-1', port: 22 })
    }
    const refused = (await gw.http.get('/api/audit?action=ssh.jump.refused&limit=100', admin)).body.items as any[]
    t.ok(refused.some((r) => r.details.port === 80 && /only port 22/.test(r.details.reason)), 'port 80 refusal audited')
    t.ok(refused.some((r) => r.target_id === other.id && /certificate is for pump-1/.test(r.details.reason)), 'out-of-scope certificate audited')
    const issued = (await gw.http.get('/api/audit?action=ssh.certificate.issue', admin)).body.items as any[]
    t.ok(issued.some((r) => r.actor === 'alice' && r.details.device_id === 'pump-1' && r.details.principal === 'root'))
    const keys = (await gw.http.get('/api/audit?action=ssh_key.add', admin)).body.items as any[]
    t.ok(keys.some((r) => r.actor === 'alice' && r.details.fingerprint === added.body.fingerprint))
  })
})
