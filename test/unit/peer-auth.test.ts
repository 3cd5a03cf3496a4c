import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import t from 'tap'
import { createPeerAuth, PEER_HEADERS } from '../../server/cluster/peer-auth.js'
import { parsePeerTarget, peerTargetPath } from '../../server/cluster/peer-listener.js'
import { ConfigError, loadConfig } from '../../server/config/load-config.js'

const PATH = peerTargetPath({ device: '0b8e4a8e-6a7e-4b0e-9d55-1f7c2b9b6c11', kind: 'service', name: 'web', port: 80 })

t.test('peer signatures: accepted once, for that call, within the window', async (t) => {
  let clock = 1_000_000
  const key = randomBytes(32)
  const auth = createPeerAuth({ key, maxSkewMs: 30_000, now: () => clock })
  const signed = auth.sign('gw-a', 'GET', PATH)
  t.same(auth.verify('GET', PATH, signed), { ok: true, from: 'gw-a' })
  t.same(auth.verify('GET', PATH, signed), { ok: false }, 'a replayed nonce is refused')
  t.same(auth.verify('POST', PATH, auth.sign('gw-a', 'GET', PATH)), { ok: false }, 'another method')
  t.same(auth.verify('GET', `${PATH}x`, auth.sign('gw-a', 'GET', PATH)), { ok: false }, 'another path')
  t.same(auth.verify('GET', PATH, { ...auth.sign('gw-a', 'GET', PATH), [PEER_HEADERS.forwardedBy]: 'gw-b' }), { ok: false }, 'another sender')
  t.same(createPeerAuth({ key: randomBytes(32), now: () => clock }).verify('GET', PATH, auth.sign('gw-a', 'GET', PATH)), { ok: false }, 'another cluster key')
  const old = auth.sign('gw-a', 'GET', PATH)
  clock += 30_001
  t.same(auth.verify('GET', PATH, old), { ok: false }, 'older than the window')
  const ahead = auth.sign('gw-a', 'GET', PATH)
  clock -= 30_001
  t.same(auth.verify('GET', PATH, ahead), { ok: false }, 'newer than the window (a clock far ahead)')
  t.same(auth.verify('GET', PATH, {}), { ok: false }, 'no headers')
})

t.test('the nonce cache is bounded, and only authentic calls enter it', async (t) => {
  let clock = 0
  const auth = createPeerAuth({ key: randomBytes(32), maxNonces: 3, maxSkewMs: 1000, now: () => clock })
  const calls = Array.from({ length: 5 }, () => auth.sign('gw-a', 'GET', PATH))
  for (const c of calls) t.same(auth.verify('GET', PATH, c), { ok: true, from: 'gw-a' })
  clock = 2500
  t.same(auth.verify('GET', PATH, auth.sign('gw-a', 'GET', PATH)), { ok: true, from: 'gw-a' }, 'still verifies after old nonces expire')
})

t.test('hostile peer headers and paths are refused, never thrown on', async (t) => {
  const auth = createPeerAuth({ key: randomBytes(32) })
  let n = 0
  fc.assert(
    fc.property(
      fc.dictionary(fc.constantFrom(...Object.values(PEER_HEADERS), 'x-other'), fc.oneof(fc.string({ maxLength: 100 }), fc.array(fc.string(), { maxLength: 3 }))),
      fc.string({ maxLength: 200 }),
      (headers, path) => {
        n++
        t.equal(auth.verify('GET', path, headers as never).ok, false)
        const target = parsePeerTarget(path)
        if (target) t.equal(peerTargetPath(target).startsWith('/peer/v1/channel?'), true)
      },
    ),
    { numRuns: 300 },
  )
  t.comment(`ran ${n} cases`)
  t.same(parsePeerTarget(PATH), { device: '0b8e4a8e-6a7e-4b0e-9d55-1f7c2b9b6c11', kind: 'service', name: 'web', port: 80 })
  t.same(parsePeerTarget(peerTargetPath({ device: '0b8e4a8e-6a7e-4b0e-9d55-1f7c2b9b6c11', kind: 'ssh' })), { device: '0b8e4a8e-6a7e-4b0e-9d55-1f7c2b9b6c11', kind: 'ssh' })
  t.equal(parsePeerTarget('/peer/v1/channel?device=x&service=web&port=80'), undefined, 'not a uuid')
  t.equal(parsePeerTarget(PATH.replace('port=80', 'port=70000')), undefined, 'port out of range')
})

t.test('peer_listen settings', async (t) => {
  t.same(loadConfig({ env: { EDGETAINER_PEER_LISTEN: '10.0.0.5:7946' } }).cluster.peerListen, { host: '10.0.0.5', port: 7946 })
  t.same(loadConfig({ env: { EDGETAINER_PEER_LISTEN: '[fd00::5]:7946' } }).cluster.peerListen, { host: 'fd00::5', port: 7946 })
  t.equal(loadConfig({ env: { EDGETAINER_PEER_OWNER_CACHE_SECONDS: '0.25' } }).cluster.ownerCacheMs, 250)
  t.throws(() => loadConfig({ env: { EDGETAINER_PEER_LISTEN: '0.0.0.0:7946' } }), /set peer_url/, 'a wildcard needs peer_url')
  t.same(loadConfig({ env: { EDGETAINER_PEER_LISTEN: '0.0.0.0:7946', EDGETAINER_PEER_URL: 'psk://10.0.0.5:7946' } }).cluster.peerListen, { host: '0.0.0.0', port: 7946 })
  t.throws(() => loadConfig({ env: { EDGETAINER_PEER_LISTEN: '7946' } }), /EDGETAINER_PEER_LISTEN \(peer_listen\): must be host:port/)
  t.throws(() => loadConfig({ env: { EDGETAINER_PEER_LISTEN: 'a:99999' } }), /port must be 0-65535/)
  t.throws(() => loadConfig({ env: { EDGETAINER_PEER_OWNER_CACHE_SECONDS: '-1' } }), ConfigError)
})
