import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import t from 'tap'
import { ConfigError, loadConfig } from '../../server/config/load-config.js'
import { inUseMessage, lockDataDir } from '../../server/db/data-dir-lock.js'

t.test('cluster settings: defaults, environment, bad values named', async (t) => {
  t.same(loadConfig({ env: {} }).cluster, { nodeId: undefined, peerUrl: undefined, heartbeatMs: 10_000, drainGraceMs: 30_000, drainSpreadMs: 10_000, peerListen: undefined, peerTls: true, ownerCacheMs: 1000 })
  const c = loadConfig({
    env: {
      EDGETAINER_NODE_ID: 'gw-a.1',
      EDGETAINER_PEER_URL: 'https://10.0.0.5:8443',
      EDGETAINER_NODE_HEARTBEAT_SECONDS: '0.5',
      EDGETAINER_DRAIN_GRACE_SECONDS: '45',
      EDGETAINER_DRAIN_SPREAD_SECONDS: '2.5',
    },
  })
  t.same(c.cluster, { nodeId: 'gw-a.1', peerUrl: 'https://10.0.0.5:8443', heartbeatMs: 500, drainGraceMs: 45_000, drainSpreadMs: 2500, peerListen: undefined, peerTls: true, ownerCacheMs: 1000 })
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

t.test('peer_tls: on by default; a peer_url that cannot reach this node\'s own listener is refused at start', async (t) => {
  const listen = { EDGETAINER_PEER_LISTEN: '10.0.0.5:7946' }
  t.equal(loadConfig({ env: listen }).cluster.peerTls, true, 'on unless set')
  for (const word of ['off', 'false', 'no', '0', 'OFF']) t.equal(loadConfig({ env: { ...listen, EDGETAINER_PEER_TLS: word } }).cluster.peerTls, false, word)
  t.throws(() => loadConfig({ env: { EDGETAINER_PEER_TLS: 'maybe' } }), /EDGETAINER_PEER_TLS \(peer_tls\): must be true or false/)
  // What works: the scheme matches what the listener speaks.
  t.equal(loadConfig({ env: { ...listen, EDGETAINER_PEER_URL: 'psk://10.0.0.5:7946/' } }).cluster.peerUrl, 'psk://10.0.0.5:7946/')
  t.equal(loadConfig({ env: { ...listen, EDGETAINER_PEER_TLS: 'off', EDGETAINER_PEER_URL: 'http://10.0.0.5:7946/' } }).cluster.peerTls, false)
  t.equal(loadConfig({ env: { ...listen, EDGETAINER_PEER_TLS: 'off', EDGETAINER_PEER_URL: 'https://peer-a.example:8443/' } }).cluster.peerTls, false, 'https:// is a terminator in front of a plain listener')
  // What cannot: each refusal names the settings to change.
  t.throws(
    () => loadConfig({ env: { ...listen, EDGETAINER_PEER_URL: 'http://10.0.0.5:7946/' } }),
    new ConfigError('peer_tls is on, so the peer listener (peer_listen) accepts TLS-PSK only, but peer_url http://10.0.0.5:7946/ tells other nodes to dial it without: advertise psk://host:port/ in peer_url (EDGETAINER_PEER_URL), or set peer_tls: off (EDGETAINER_PEER_TLS=off)'),
  )
  t.throws(() => loadConfig({ env: { ...listen, EDGETAINER_PEER_URL: 'https://peer-a.example:8443/' } }), /peer_tls is on.*set peer_tls: off/, 'a terminator cannot speak the cluster PSK')
  t.throws(
    () => loadConfig({ env: { ...listen, EDGETAINER_PEER_TLS: 'off', EDGETAINER_PEER_URL: 'psk://10.0.0.5:7946/' } }),
    new ConfigError('peer_tls is off, so the peer listener (peer_listen) speaks plain HTTP, but peer_url psk://10.0.0.5:7946/ tells other nodes to dial it with TLS-PSK: advertise http://host:port/ in peer_url (EDGETAINER_PEER_URL), or set peer_tls: on (EDGETAINER_PEER_TLS=on)'),
  )
  t.throws(() => loadConfig({ env: { EDGETAINER_PEER_URL: 'psk://10.0.0.5/' } }), /psk:\/\/ has no default port; write psk:\/\/host:port\//, 'psk:// needs its port')
  t.throws(() => loadConfig({ env: { EDGETAINER_PEER_URL: 'ftp://10.0.0.5:21/' } }), /has the scheme "ftp:"/, 'an unknown scheme, with or without a listener')
  // A peer_url advertised without a listener here (nothing listens, so peer_tls decides nothing) keeps working.
  t.equal(loadConfig({ env: { EDGETAINER_PEER_URL: 'https://10.0.0.5:7400' } }).cluster.peerUrl, 'https://10.0.0.5:7400')
  // YAML spells it as users would.
  const dir = mkdtempSync(path.join(tmpdir(), 'et-peer-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(path.join(dir, 'c.yaml'), 'peer_listen: 10.0.0.5:7946\npeer_tls: off\npeer_url: http://10.0.0.5:7946/\n')
  t.equal(loadConfig({ file: path.join(dir, 'c.yaml'), env: {} }).cluster.peerTls, false, 'peer_tls: off in YAML')
  let n = 0
  fc.assert(
    fc.property(fc.oneof(fc.webUrl(), fc.string({ maxLength: 60 }), fc.constantFrom('psk://h:1', 'psk://[::1]:7', 'PSK://H:2/', 'psk:h')), fc.boolean(), fc.boolean(), (url, tls, listening) => {
      n++
      try {
        const c = loadConfig({ env: { EDGETAINER_PEER_URL: url, EDGETAINER_PEER_TLS: String(tls), ...(listening ? listen : {}) } }).cluster
        // Whatever passes is dialable, and with a listener it is dialled the way that listener speaks.
        if (listening && c.peerUrl !== undefined) t.equal(new URL(c.peerUrl).protocol === 'psk:', tls)
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
