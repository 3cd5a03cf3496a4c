import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import t from 'tap'
import { ConfigError, loadConfig } from '../../server/config/load-config.js'
import { inUseMessage, lockDataDir } from '../../server/db/data-dir-lock.js'

t.test('cluster settings: defaults, environment, bad values named', async (t) => {
  t.same(loadConfig({ env: {} }).cluster, { nodeId: undefined, peerUrl: undefined, heartbeatMs: 10_000, drainGraceMs: 30_000, drainSpreadMs: 10_000, peerListen: undefined, ownerCacheMs: 1000 })
  const c = loadConfig({
    env: {
      EDGETAINER_NODE_ID: 'gw-a.1',
      EDGETAINER_PEER_URL: 'https://10.0.0.5:8443',
      EDGETAINER_NODE_HEARTBEAT_SECONDS: '0.5',
      EDGETAINER_DRAIN_GRACE_SECONDS: '45',
      EDGETAINER_DRAIN_SPREAD_SECONDS: '2.5',
    },
  })
  t.same(c.cluster, { nodeId: 'gw-a.1', peerUrl: 'https://10.0.0.5:8443', heartbeatMs: 500, drainGraceMs: 45_000, drainSpreadMs: 2500, peerListen: undefined, ownerCacheMs: 1000 })
  t.throws(() => loadConfig({ env: { EDGETAINER_DRAIN_GRACE_SECONDS: '-1' } }), /EDGETAINER_DRAIN_GRACE_SECONDS \(drain_grace_seconds\)/)
  t.throws(() => loadConfig({ env: { EDGETAINER_DRAIN_SPREAD_SECONDS: 'soon' } }), /EDGETAINER_DRAIN_SPREAD_SECONDS \(drain_spread_seconds\)/)
  t.throws(() => loadConfig({ env: { EDGETAINER_NODE_ID: 'no spaces' } }), new ConfigError('invalid config value for EDGETAINER_NODE_ID (node_id): must be 1-64 letters, digits, dots, dashes or underscores'))
  t.throws(() => loadConfig({ env: { EDGETAINER_PEER_URL: 'not a url' } }), /EDGETAINER_PEER_URL \(peer_url\)/)
  t.throws(() => loadConfig({ env: { EDGETAINER_NODE_HEARTBEAT_SECONDS: '0' } }), /EDGETAINER_NODE_HEARTBEAT_SECONDS \(node_heartbeat_seconds\)/)
  let n = 0
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (id) => {
      n++
      try {
        t.match(loadConfig({ env: { EDGETAINER_NODE_ID: id } }).cluster.nodeId ?? '', /^[A-Za-z0-9._-]{0,64}$/)
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err
      }
    }),
    { numRuns: 200 },
  )
  t.comment(`ran ${n} cases`)
})

t.test('data dir lock: held, stale, released', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'et-lock-'))
  t.teardown(() => rmSync(root, { recursive: true, force: true }))
  const dir = path.join(root, 'pglite')
  const lock = lockDataDir(dir)
  t.equal(readFileSync(`${dir}.lock`, 'utf8').trim(), String(process.pid))

  // A lock held by a running process (here: this one) refuses, naming it.
  t.throws(() => lockDataDir(dir), { message: inUseMessage(dir, process.pid) })
  lock.release()
  t.notOk(existsSync(`${dir}.lock`), 'released')

  // A lock whose process is gone is taken over.
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout
  writeFileSync(`${dir}.lock`, `${dead}\n`)
  const taken = lockDataDir(dir)
  t.equal(readFileSync(`${dir}.lock`, 'utf8').trim(), String(process.pid), 'a dead pid’s lock is taken over')
  taken.release()

  // Garbage (a crash between create and write) is stale too.
  writeFileSync(`${dir}.lock`, 'garbage')
  lockDataDir(dir).release()

  // Release never removes a lock a later process took over.
  const mine = lockDataDir(dir)
  writeFileSync(`${dir}.lock`, '1\n')
  mine.release()
  t.equal(readFileSync(`${dir}.lock`, 'utf8').trim(), '1', 'someone else’s lock is left alone')
})
