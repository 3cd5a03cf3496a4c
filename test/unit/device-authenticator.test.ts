import { generateKeyPairSync } from 'node:crypto'
import fc from 'fast-check'
import ssh2 from 'ssh2'
import t from 'tap'
import { generateEd25519 } from '../../shared/ed25519-keys.js'
import { authenticatedDevice, deviceKeyRecord, keyMatches } from '../../server/tunnel/device-authenticator.js'

// Device authentication checks the offered key and its signature; ed25519 signatures are verified with a key
// imported from its raw bytes (not ssh2's PEM), so this pins that both paths accept and refuse the same things.

function parsed(privateKey: string): ssh2.ParsedKey {
  const key = ssh2.utils.parseKey(privateKey)
  if (key instanceof Error || Array.isArray(key)) throw new Error('test key did not parse')
  return key
}

/** What ssh2 hands the authentication handler for a signed request with `key`. */
function signedRequest(privateKey: string, blob = Buffer.from('session id and userauth request')) {
  const key = parsed(privateKey)
  return { key: { algo: key.type, data: key.getPublicSSH() }, blob, signature: key.sign(blob) as Buffer, hashAlgo: undefined as string | undefined }
}

const row = (publicKey: string) => ({ id: 'a1b2', device_id: 'pump-7', ssh_port: 2222, public_key: publicKey })

t.test('an ed25519 device key: the right signature passes, anything else fails', async (t) => {
  const pair = generateEd25519('pump-7')
  const record = deviceKeyRecord(row(pair.public))!
  t.ok(record.ed25519, 'imported from its raw bytes')
  const request = signedRequest(pair.private)
  t.equal(keyMatches(record, request), true, 'a valid signature')
  t.equal(keyMatches(record, { ...request, signature: undefined, blob: undefined }), true, 'a key query without signature (the probe before signing)')
  t.equal(keyMatches(record, { ...request, blob: Buffer.from('another session') }), false, 'a signature over other data')
  const flipped = Buffer.from(request.signature)
  flipped[10] = flipped[10]! ^ 1
  t.equal(keyMatches(record, { ...request, signature: flipped }), false, 'a signature with one bit flipped')
  t.equal(keyMatches(record, { ...request, signature: request.signature.subarray(0, 63) }), false, 'a signature of the wrong length')
  t.equal(keyMatches(record, signedRequest(generateEd25519('other').private)), false, "another device's key, validly signed")
  t.equal(keyMatches(record, { ...request, key: { ...request.key, algo: 'ssh-rsa' } }), false, 'the right bytes under another algorithm')
  t.same(authenticatedDevice(record), row(pair.public), 'the session keeps the plain record, not the parsed keys')
})

t.test('the fast path agrees with ssh2 on arbitrary signatures and data', async (t) => {
  const pair = generateEd25519('pump-7')
  const record = deviceKeyRecord(row(pair.public))!
  const key = parsed(pair.private)
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 0, maxLength: 80 }), fc.boolean(), (data, junk, useReal) => {
      const blob = Buffer.from(data)
      const signature = useReal ? (key.sign(blob) as Buffer) : Buffer.from(junk)
      const ours = keyMatches(record, { key: { algo: key.type, data: key.getPublicSSH() }, blob, signature, hashAlgo: undefined })
      return ours === (key.verify(blob, signature) === true)
    }),
    { numRuns: 200 },
  )
  t.pass('the same verdict as ssh2 for every case')
})

t.test('an RSA device key is still verified by ssh2', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const privatePem = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string
  const publicLine = `ssh-rsa ${parsed(privatePem).getPublicSSH().toString('base64')} pump-7`
  const record = deviceKeyRecord(row(publicLine))!
  t.equal(record.ed25519, undefined, 'no ed25519 fast path')
  const request = signedRequest(privatePem)
  t.equal(keyMatches(record, request), true)
  t.equal(keyMatches(record, { ...request, blob: Buffer.from('other') }), false)
})

t.test('a stored key that does not parse authenticates nobody', async (t) => {
  t.equal(deviceKeyRecord(row('ssh-ed25519 AAAA-not-base64 x')), undefined)
  t.equal(deviceKeyRecord(row('')), undefined)
})
