import fc from 'fast-check'
import t from 'tap'
import { ConfigError, loadConfig } from '../../server/config/load-config.js'
import { parseWorkersFlag, resolveWorkerCount, workerEnvironment, workerNodeId, workerPeerListen, workerPeers, workerPeerUrl } from '../../cli/worker-plan.js'

const pgUrl = 'postgres://u:p@db/edgetainer'

t.test('worker count: one per core on PostgreSQL, exactly one on PGlite, the flag over the setting', async (t) => {
  t.equal(resolveWorkerCount(loadConfig({ env: { DATABASE_URL: pgUrl } }), undefined, 4), 4, 'PostgreSQL: one per core')
  t.equal(resolveWorkerCount(loadConfig({ env: {} }), undefined, 4), 1, 'PGlite: one')
  t.equal(resolveWorkerCount(loadConfig({ env: {} }), 1, 4), 1, 'PGlite accepts 1')
  t.equal(resolveWorkerCount(loadConfig({ env: { DATABASE_URL: pgUrl, EDGETAINER_WORKERS: '3' } }), undefined, 8), 3, 'EDGETAINER_WORKERS')
  t.equal(resolveWorkerCount(loadConfig({ env: { DATABASE_URL: pgUrl, EDGETAINER_WORKERS: '3' } }), 2, 8), 2, 'the flag wins')
  t.throws(
    () => resolveWorkerCount(loadConfig({ env: {} }), 2),
    new ConfigError('--workers 2 needs PostgreSQL (DATABASE_URL): the embedded database (PGlite) is single-process; run 1 worker or set DATABASE_URL'),
  )
  t.throws(() => resolveWorkerCount(loadConfig({ env: { EDGETAINER_WORKERS: '2' } }), undefined), /--workers 2 needs PostgreSQL/, 'the setting too')
  t.throws(() => loadConfig({ env: { EDGETAINER_WORKERS: '0' } }), /EDGETAINER_WORKERS \(workers\)/)
  t.throws(() => parseWorkersFlag('two'), new ConfigError('--workers must be a whole number from 1 to 256, got "two"'))
  t.equal(parseWorkersFlag('16'), 16)
})

t.test('each worker is a node of its own: node id and peer port derived from the base', async (t) => {
  t.equal(workerNodeId('gw-a', 0), 'gw-a-w0')
  t.equal(workerNodeId('x'.repeat(64), 12).length, 64, 'a long base is cut so the id stays valid')
  t.equal(workerPeerUrl('https://10.0.0.5:7400', 3), 'https://10.0.0.5:7403')
  t.equal(workerPeerUrl('https://peer.example', 1), 'https://peer.example:444')
  t.equal(workerPeerUrl(undefined, 1), undefined)
  t.equal(workerPeerUrl('psk://10.0.0.5:7400/', 2), 'psk://10.0.0.5:7402', 'the TLS-PSK scheme keeps its scheme, and its port moves the same way')
  t.equal(workerPeerUrl('psk://[fd00::5]:7400', 1), 'psk://[fd00::5]:7401')
  t.throws(() => workerPeerUrl('psk://10.0.0.5', 1), ConfigError, 'psk:// has no default port to count from')
  t.throws(() => workerPeerUrl('https://h:65535', 1), /past 65535/)
  t.same(workerEnvironment({ baseNodeId: 'gw', basePeerUrl: 'http://10.0.0.5:7400', index: 1, count: 2 }), {
    EDGETAINER_NODE_ID: 'gw-w1',
    EDGETAINER_WORKER_INDEX: '1',
    EDGETAINER_WORKERS: '2',
    EDGETAINER_PEER_URL: 'http://10.0.0.5:7401',
  })
  t.same(workerEnvironment({ baseNodeId: 'gw', basePeerUrl: undefined, basePeerListen: { host: '10.0.0.5', port: 7946 }, index: 2, count: 3 }).EDGETAINER_PEER_LISTEN, '10.0.0.5:7948', 'each worker listens for peers on the base port + its index')
  t.equal(workerPeerListen({ host: '::1', port: 0 }, 3), '[::1]:0', 'port 0 stays 0: each worker picks one and advertises it')
  t.throws(() => workerPeerListen({ host: 'h', port: 65535 }, 1), /past 65535/)
  const cluster = { nodeId: undefined, peerUrl: undefined, heartbeatMs: 10_000, drainGraceMs: 30_000, drainSpreadMs: 10_000, peerListen: undefined, peerTls: true, ownerCacheMs: 1000 }
  const local = workerPeers({ cluster })
  t.same(local, { basePeerUrl: undefined, basePeerListen: { host: '127.0.0.1', port: 0 }, localOnly: true }, 'unset: the workers of one host forward over loopback')
  t.equal(workerEnvironment({ baseNodeId: 'gw', ...local, index: 1, count: 2 }).EDGETAINER_PEER_TLS, 'off', 'those loopback listeners speak plain HTTP (signed upgrades; TLS would guard loopback against no one)')
  const configured = workerPeers({ cluster: { ...cluster, peerUrl: 'psk://10.0.0.5:7400', peerListen: { host: '10.0.0.5', port: 7400 } } })
  t.same(configured, { basePeerUrl: 'psk://10.0.0.5:7400', basePeerListen: { host: '10.0.0.5', port: 7400 }, localOnly: false })
  t.notOk('EDGETAINER_PEER_TLS' in workerEnvironment({ baseNodeId: 'gw', ...configured, index: 1, count: 2 }), 'a configured peer_listen keeps its own peer_tls')
  t.same(workerPeers({ cluster: { ...cluster, peerUrl: 'http://10.0.0.5:7400' } }), { basePeerUrl: 'http://10.0.0.5:7400', basePeerListen: undefined, localOnly: false }, 'a peer_url alone is advertised as configured')
})

t.test('fuzz: any --workers text, node id and peer url either works or is a ConfigError', async (t) => {
  let n = 0
  fc.assert(
    fc.property(fc.string({ maxLength: 12 }), fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/), fc.integer({ min: 0, max: 255 }), fc.webUrl(), (flag, base, index, peer) => {
      n++
      try {
        const count = parseWorkersFlag(flag)
        t.ok(count >= 1 && count <= 256)
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
      }
      // The derived id passes the node_id setting's own check.
      t.equal(loadConfig({ env: { EDGETAINER_NODE_ID: workerNodeId(base, index) } }).cluster.nodeId, workerNodeId(base, index))
      try {
        const url = workerPeerUrl(peer, index)
        t.equal(loadConfig({ env: { EDGETAINER_PEER_URL: url } }).cluster.peerUrl, url)
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
      }
    }),
    { numRuns: 150 },
  )
  t.comment(`ran ${n} cases`)
})
