import t from 'tap'
import fc from 'fast-check'
import { generateKeyPairSync, sign } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createUserCa } from '../../server/ssh-access/user-ca.js'
import { parseCertificate, verifySshSignature } from '../../server/ssh-access/openssh-certificate.js'
import { newKeyPair } from '../lib/keys.js'

// The gateway's reader of OpenSSH certificates, against certificates made by the real ssh-keygen.
function tempDir(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-ca-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

function sshString(b: Buffer | string): Buffer {
  const body = typeof b === 'string' ? Buffer.from(b) : b
  const len = Buffer.alloc(4)
  len.writeUInt32BE(body.length)
  return Buffer.concat([len, body])
}

function mpint(b: Buffer): Buffer {
  let v = b
  while (v.length > 1 && v[0] === 0 && !(v[1]! & 0x80)) v = v.subarray(1)
  return sshString(v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v)
}

const blobOf = (line: string) => Buffer.from(line.split(' ')[1]!, 'base64')
const user = { id: '00000000-0000-4000-8000-000000000001', username: 'alice' }

t.test('a certificate from ssh-keygen reads back as issued, and check() grants it', async (t) => {
  const ca = createUserCa({ dataDir: tempDir(t) })
  const key = newKeyPair('alice')
  const issued = await ca.sign({ publicKey: key.publicKey, user, deviceId: 'pump-1', principal: 'core', validSeconds: 3600 })
  const cert = parseCertificate(blobOf(issued.certificate))
  t.equal(cert.certType, 'ssh-ed25519-cert-v01@openssh.com')
  t.same(cert.publicKeyBlob, blobOf(key.publicKey), 'the certified key')
  t.equal(cert.kind, 1, 'a user certificate')
  t.same(cert.principals, ['core'])
  t.same(cert.criticalOptions, ['source-address'])
  t.same(cert.extensions, ['permit-port-forwarding', 'permit-pty'])
  t.equal(String(cert.serial), issued.serial)
  t.equal(cert.validBefore, BigInt(Math.floor(issued.valid_before.getTime() / 1000)))
  const checked = ca.check(blobOf(issued.certificate))
  t.same('grant' in checked && checked.grant, { userId: user.id, deviceId: 'pump-1', username: 'alice' })
})

t.test('check() refuses expired, not-yet-valid and foreign certificates', async (t) => {
  const dir = tempDir(t)
  const ca = createUserCa({ dataDir: dir })
  const key = newKeyPair('alice').publicKey
  const issued = blobOf((await ca.sign({ publicKey: key, user, deviceId: 'pump-1', principal: 'core', validSeconds: 60 })).certificate)
  t.same(ca.check(issued, new Date(Date.now() + 3600_000)), { refused: 'certificate expired' })
  t.same(ca.check(issued, new Date(Date.now() - 3600_000)), { refused: 'certificate not yet valid' })
  const foreign = createUserCa({ dataDir: path.join(dir, 'other') })
  const theirs = blobOf((await foreign.sign({ publicKey: key, user, deviceId: 'pump-1', principal: 'core', validSeconds: 60 })).certificate)
  t.same(ca.check(theirs), { refused: 'certificate not signed by this gateway' })
})

t.test('any change to a certificate, or any bytes at all, is refused and never throws', async (t) => {
  const ca = createUserCa({ dataDir: tempDir(t) })
  const good = blobOf((await ca.sign({ publicKey: newKeyPair('a').publicKey, user, deviceId: 'pump-1', principal: 'core', validSeconds: 600 })).certificate)
  let cases = 0
  const mutated = fc.oneof(
    fc.record({ at: fc.nat({ max: good.length - 1 }), xor: fc.integer({ min: 1, max: 255 }) }).map(({ at, xor }) => {
      const copy = Buffer.from(good)
      copy[at]! ^= xor
      return copy
    }),
    fc.nat({ max: good.length - 1 }).map((n) => good.subarray(0, n)),
    fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.concat([good, Buffer.from(a)]).subarray(0, good.length + a.length)),
    fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a)),
    fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.concat([sshString('ssh-ed25519-cert-v01@openssh.com'), Buffer.from(a)])),
  )
  fc.assert(
    fc.property(mutated, (bytes) => {
      cases++
      const result = ca.check(bytes)
      return bytes.equals(good) ? 'grant' in result : 'refused' in result
    }),
    { numRuns: 400 },
  )
  t.comment(`ran ${cases} cases`)
  t.pass('no mutation was granted, none threw')
})

t.test('SSH signatures verify for ed25519, ECDSA and RSA (SHA-2), and SHA-1 RSA is refused', async (t) => {
  const data = Buffer.from('session id and userauth request')
  for (const [type, curve, hash, size] of [
    ['ecdsa-sha2-nistp256', 'P-256', 'sha256', 32],
    ['ecdsa-sha2-nistp384', 'P-384', 'sha384', 48],
    ['ecdsa-sha2-nistp521', 'P-521', 'sha512', 66],
  ] as const) {
    const pair = generateKeyPairSync('ec', { namedCurve: curve })
    const jwk = pair.publicKey.export({ format: 'jwk' })
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')])
    const blob = Buffer.concat([sshString(type), sshString(type.slice('ecdsa-sha2-'.length)), sshString(point)])
    const raw = sign(hash, data, { key: pair.privateKey, dsaEncoding: 'ieee-p1363' })
    const encoded = Buffer.concat([sshString(type), sshString(Buffer.concat([mpint(raw.subarray(0, size)), mpint(raw.subarray(size))]))])
    t.ok(verifySshSignature(blob, data, encoded), `${type} verifies`)
    t.notOk(verifySshSignature(blob, Buffer.from('other data'), encoded), `${type} over other data does not`)
  }
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const rsaJwk = rsa.publicKey.export({ format: 'jwk' })
  const rsaBlob = Buffer.concat([sshString('ssh-rsa'), mpint(Buffer.from(rsaJwk.e!, 'base64url')), mpint(Buffer.from(rsaJwk.n!, 'base64url'))])
  t.ok(verifySshSignature(rsaBlob, data, Buffer.concat([sshString('rsa-sha2-256'), sshString(sign('sha256', data, rsa.privateKey))])), 'rsa-sha2-256')
  t.ok(verifySshSignature(rsaBlob, data, Buffer.concat([sshString('rsa-sha2-512'), sshString(sign('sha512', data, rsa.privateKey))])), 'rsa-sha2-512')
  t.notOk(verifySshSignature(rsaBlob, data, Buffer.concat([sshString('ssh-rsa'), sshString(sign('sha1', data, rsa.privateKey))])), 'ssh-rsa (SHA-1) is refused')
})
