import t from 'tap'
import fc from 'fast-check'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'
import { hostileString } from '../lib/api-fuzzer.js'

// User SSH keys and certificates over the API: strict key checks with clear errors, who may manage whose keys, and fuzz.

/** A key pair from the real ssh-keygen: `type` and `bits` as `ssh-keygen -t … -b …` takes them. */
function keygen(type: string, bits?: number): { publicKey: string; privateKey: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-keygen-'))
  const file = path.join(dir, 'key')
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', `${type}-test`, '-f', file])
  return { publicKey: readFileSync(`${file}.pub`, 'utf8').trim(), privateKey: readFileSync(file, 'utf8') }
}

t.test('SSH keys and certificates over the API', async (t) => {
  const gw = await startTestGateway(t, 'postgres')
  const admin = { token: gw.adminToken }
  const olga = { token: await gw.tokenFor('operator', 'olga') }
  const olgaId = (await gw.http.get('/api/auth/me', olga)).body.id as string
  const otto = { token: await gw.tokenFor('operator', 'otto') }
  await gw.http.post('/api/devices', { name: 'Pump 1', device_id: 'pump-1', public_key: newKeyPair('pump-1').publicKey }, admin)

  await t.test('keys are checked strictly, each refusal naming what is wrong', async (t) => {
    const refuse = async (publicKey: string, pattern: RegExp, what: string) => {
      const res = await gw.http.post('/api/users/me/ssh-keys', { public_key: publicKey, name: what }, olga)
      t.equal(res.status, 400, `${what}: 400`)
      t.equal(res.body.code, 'VALIDATION_FAILED')
      t.match(res.body.error, pattern, `${what}: ${res.body.error}`)
    }
    const ed = keygen('ed25519')
    await refuse(ed.privateKey, /private key/, 'a private key')
    await refuse(`ssh-ed25519-cert-v01@openssh.com ${Buffer.from('cert').toString('base64')}`, /certificate/, 'a certificate')
    await refuse(keygen('rsa', 1024).publicKey, /at least 2048 bits/, 'RSA 1024')
    await refuse(`${ed.publicKey}\n${newKeyPair('b').publicKey}`, /exactly one/, 'two lines')
    await refuse('ssh-ed25519 not-base64!!', /OpenSSH public key/, 'garbage')
    await refuse('ssh-dss AAAAB3NzaC1kc3MAAACBAP', /OpenSSH public key|not accepted/, 'DSA')

    for (const [type, bits] of [['ed25519'], ['ecdsa', 256], ['rsa', 2048]] as [string, number?][]) {
      const key = keygen(type, bits)
      const res = await gw.http.post('/api/users/me/ssh-keys', { public_key: key.publicKey }, olga)
      t.equal(res.status, 201, `${type} accepted`)
      const fingerprint = execFileSync('ssh-keygen', ['-lf', '-'], { input: key.publicKey, encoding: 'utf8' }).split(' ')[1]
      t.equal(res.body.fingerprint, fingerprint, `${type}: the fingerprint ssh-keygen -lf prints`)
      t.equal(res.body.name, `${type}-test`)
    }
    const dup = await gw.http.post('/api/users/me/ssh-keys', { public_key: keygen('ed25519').publicKey }, otto)
    t.equal(dup.status, 201)
    const again = await gw.http.post('/api/users/me/ssh-keys', { public_key: dup.body.public_key + ' another comment' }, olga)
    t.equal(again.status, 409, 'a key registered by anyone is refused again')
    t.equal(again.body.code, 'SSH_KEY_EXISTS')
    t.notMatch(again.body.error, /otto/, 'without saying whose it is')
  })

  await t.test('a user manages their own keys, an admin anyone’s', async (t) => {
    const mine = (await gw.http.get('/api/users/me/ssh-keys', olga)).body.items as { id: string }[]
    t.equal(mine.length, 3)
    t.same((await gw.http.get(`/api/users/${olgaId}/ssh-keys`, olga)).body.items, mine, 'by id as well as me')
    // To anyone but an admin, another user's keys do not exist: 404, so user ids cannot be probed.
    t.equal((await gw.http.get(`/api/users/${olgaId}/ssh-keys`, otto)).status, 404, "not another user's")
    t.equal((await gw.http.delete(`/api/users/${olgaId}/ssh-keys/${mine[0]!.id}`, otto)).status, 404)
    t.equal((await gw.http.post(`/api/users/${olgaId}/ssh-keys`, { public_key: newKeyPair('x').publicKey }, otto)).status, 404)
    t.equal((await gw.http.get(`/api/users/${olgaId}/ssh-keys`, admin)).body.items.length, 3, 'an admin sees them')
    t.equal((await gw.http.delete(`/api/users/me/ssh-keys/${mine[0]!.id}`, otto)).status, 404, "otto's me has no such key")
    t.equal((await gw.http.delete(`/api/users/${olgaId}/ssh-keys/${mine[0]!.id}`, admin)).status, 204, 'an admin deletes it')
    t.equal((await gw.http.delete(`/api/users/me/ssh-keys/${mine[1]!.id}`, olga)).status, 204)
    t.equal((await gw.http.delete(`/api/users/me/ssh-keys/${mine[1]!.id}`, olga)).status, 404, 'gone')
    t.equal((await gw.http.get('/api/users/00000000-0000-4000-8000-000000000000/ssh-keys', admin)).status, 404)
    const audit = (await gw.http.get('/api/audit?action=ssh_key.delete', admin)).body.items as { actor: string }[]
    t.same(audit.map((r) => r.actor).sort(), ['admin', 'olga'], 'deletions are audited with who did them')
  })

  await t.test('hostile key bodies, user ids and certificate requests never answer 5xx', async (t) => {
    const real = newKeyPair('real').publicKey
    const [type, b64] = real.split(' ') as [string, string]
    const keyText = fc.oneof(
      hostileString,
      fc.string({ maxLength: 200 }),
      fc.constantFrom('ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ssh-ed25519-cert-v01@openssh.com', 'sk-ssh-ed25519@openssh.com', 'ssh-dss', 'x').chain((t) =>
        fc.uint8Array({ maxLength: 600 }).map((a) => `${t} ${Buffer.from(a).toString('base64')}`),
      ),
      fc.nat({ max: b64.length }).map((n) => `${type} ${b64.slice(0, n)}`),
      fc.string({ unit: 'binary', maxLength: 20_000 }),
    )
    const body = fc.oneof(
      fc.record({ public_key: keyText, name: fc.oneof(hostileString, fc.string({ maxLength: 300 })) }, { requiredKeys: ['public_key'] }),
      fc.anything(),
    )
    const userId = fc.oneof(fc.constant('me'), fc.constant(olgaId), fc.uuid(), fc.string({ minLength: 1, maxLength: 60 }).map(encodeURIComponent))
    const certBody = fc.oneof(
      fc.record({ public_key: fc.oneof(keyText, fc.constant(real)), device_id: fc.oneof(hostileString, fc.constantFrom('pump-1', 'PUMP-1', 'pump-1.edgetainer', '')) }, { requiredKeys: [] }),
      fc.anything(),
    )
    let cases = 0
    // A key name as a path segment; one encodeURIComponent cannot encode (a lone surrogate) goes as its code units.
    const pathSegment = (name: unknown) => {
      const text = String(name ?? 'x') || 'x'
      try {
        return encodeURIComponent(text)
      } catch {
        return [...text].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')
      }
    }
    const statuses = new Map<number, number>()
    const seen = (what: string, status: number) => {
      cases++
      statuses.set(status, (statuses.get(status) ?? 0) + 1)
      if (status >= 500) throw new Error(`${what} answered ${status}`)
    }
    await fc.assert(
      fc.asyncProperty(userId, body, certBody, async (id, keyBody, cert) => {
        seen('add key', (await gw.http.post(`/api/users/${id}/ssh-keys`, keyBody, olga)).status)
        seen('list keys', (await gw.http.get(`/api/users/${id}/ssh-keys`, olga)).status)
        seen('delete key', (await gw.http.delete(`/api/users/${id}/ssh-keys/${pathSegment((keyBody as { name?: unknown })?.name)}`, olga)).status)
        seen('certificate', (await gw.http.post('/api/ssh/certificates', cert, olga)).status)
      }),
      { numRuns: 50 },
    )
    t.comment(`ran ${cases} cases: ${JSON.stringify(Object.fromEntries(statuses))}`)
    t.equal((await gw.http.get('/healthz')).status, 200, 'the gateway is still alive')
    const ok = await gw.http.post('/api/ssh/certificates', { public_key: real, device_id: 'pump-1' }, olga)
    t.equal(ok.status, 200, 'and still signs certificates')
  })
})
