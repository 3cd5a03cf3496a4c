import t from 'tap'
import fc from 'fast-check'
import { generateKeyPairSync, sign } from 'node:crypto'
import { compareVersions, ManifestRefusedError, releaseKeyLine, verifySignedManifest } from '../../shared/agent-release.js'

const pair = generateKeyPairSync('ed25519')
const key = releaseKeyLine(pair.publicKey)
const manifest = JSON.stringify({ version: '1.2.3', arch: 'arm64', sha512: 'ab'.repeat(64), size: 10, min_gateway_version: '0.1.0' })
const signed = (text: string, privateKey = pair.privateKey) => ({ manifest: text, signature: sign(null, Buffer.from(text), privateKey).toString('base64') })

t.test('a manifest signed by the pinned key verifies; anything else is refused with the reason', async (t) => {
  t.match(verifySignedManifest(signed(manifest), key), { version: '1.2.3', arch: 'arm64', size: 10 })
  const refused = (value: unknown, pinned: string | undefined, reason: RegExp) => {
    const err = t.throws(() => verifySignedManifest(value, pinned)) as Error
    t.ok(err instanceof ManifestRefusedError, err.message)
    t.match(err.message, reason)
  }
  refused(signed(manifest), undefined, /no release key is pinned/)
  refused({ manifest }, key, /unsigned/)
  refused(signed(manifest, generateKeyPairSync('ed25519').privateKey), key, /does not verify against the pinned release key/)
  refused({ ...signed(manifest), manifest: manifest.replace('1.2.3', '1.2.4') }, key, /does not verify/)
  refused(signed('{"version":"1.2.3"}'), key, /lacks version, arch, sha512, size or min_gateway_version/)
  refused(signed('not json'), key, /not JSON/)
  refused(null, key, /no manifest/)
  refused(signed(manifest), 'ed25519:short', /not an `ed25519:<base64url>` line/)
})

t.test('fuzzed signed manifests never verify unless signed, and never throw anything but a refusal', async (t) => {
  let cases = 0
  fc.assert(
    fc.property(fc.anything(), fc.string(), (manifestValue, signature) => {
      cases++
      try {
        verifySignedManifest({ manifest: manifestValue, signature }, key)
        return false
      } catch (err) {
        return err instanceof ManifestRefusedError
      }
    }),
    { numRuns: 300 },
  )
  t.comment(`ran ${cases} cases`)
})

t.test('versions order numerically, a pre-release before its release', async (t) => {
  t.equal(compareVersions('0.10.0', '0.9.9'), 1)
  t.equal(compareVersions('1.0.0', '1.0.0'), 0)
  t.equal(compareVersions('1.0.0-rc.1', '1.0.0'), -1)
  t.equal(compareVersions('1.0.0', '1.0.0-rc.1'), 1)
  t.equal(compareVersions('0.0.1', '0.1.0'), -1)
})
