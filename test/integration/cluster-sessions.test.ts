import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import pg from 'pg'
import t from 'tap'
import { createPostgresDatabase } from '../lib/databases.js'
import { createHttpClient } from '../lib/http-client.js'
import { newKeyPair } from '../lib/keys.js'
import { spawnGateway } from '../lib/spawn-gateway.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { ADMIN_PASSWORD, testGatewayEnv } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'

/*
 * Two gateway processes on one PostgreSQL (issue 17): the node registry, and device
 * sessions owned with an epoch so that a late disconnect on one node never erases
 * a newer connect on another, and a node's restart resets only what it (or a dead
 * node) held.
 */

// Short, yet long enough that a live node stalled by a loaded machine is not swept as dead (3 missed beats).
const HEARTBEAT_SECONDS = '1'

t.test('two nodes on one PostgreSQL: registry, session epochs, restarts', async (t) => {
  const databaseUrl = await createPostgresDatabase(t)
  // Nodes of one cluster share the secret key (sessions signed on one verify on the other).
  const shared = { DATABASE_URL: databaseUrl, EDGETAINER_SECRET_KEY: randomBytes(32).toString('base64'), EDGETAINER_NODE_HEARTBEAT_SECONDS: HEARTBEAT_SECONDS }
  const env1 = testGatewayEnv(t, { ...shared, EDGETAINER_NODE_ID: 'node-1', EDGETAINER_LOG_LEVEL: 'info' })
  const env2 = testGatewayEnv(t, { ...shared, EDGETAINER_NODE_ID: 'node-2', EDGETAINER_PEER_URL: 'http://127.0.0.1:1/' })
  // Nodes restarted inside a subtest still belong to the whole test: they are torn down with it.
  const top = t
  let gw1 = await spawnGateway(top, env1)
  const gw2 = await spawnGateway(t, env2)
  const db = new pg.Client({ connectionString: databaseUrl })
  await db.connect()
  t.teardown(() => db.end())
  const row = async (id: string) =>
    (await db.query<{ status: string; owner_node: string | null; session_epoch: number }>('select status, owner_node, session_epoch from devices where id = $1', [id])).rows[0]!

  const http1 = () => createHttpClient(`http://127.0.0.1:${gw1.httpPort}`)
  const login = await http1().post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })
  const token = login.body.token as string
  const key = newKeyPair('roamer')
  const device = (await http1().post('/api/devices', { name: 'Roamer', device_id: 'roamer', public_key: key.publicKey }, { token })).body

  await t.test('GET /api/cluster/nodes lists both nodes, fresh', async (t) => {
    const res = await http1().get('/api/cluster/nodes', { token })
    t.equal(res.status, 200)
    t.equal(res.body.node_id, 'node-1')
    const byId = new Map((res.body.items as any[]).map((n) => [n.id, n]))
    t.same([...byId.keys()].sort(), ['node-1', 'node-2'])
    t.equal(byId.get('node-1').self, true)
    t.equal(byId.get('node-2').peer_url, 'http://127.0.0.1:1/')
    t.equal(byId.get('node-1').stale, false)
    t.equal(byId.get('node-2').stale, false)
    t.equal(byId.get('node-2').heartbeat_interval_ms, 1000)
    t.equal((await http1().get('/api/cluster/nodes')).status, 401, 'not without a credential')
    const created = await http1().post('/api/users', { username: 'viewer1', password: 'viewer1-password-123', role: 'viewer' }, { token })
    t.equal(created.status, 201)
    const viewer = (await http1().post('/api/auth/login', { username: 'viewer1', password: 'viewer1-password-123' })).body.token
    t.equal((await http1().get('/api/cluster/nodes', { token: viewer })).status, 403, 'admins only')
  })

  await t.test('GET /api/cluster/nodes survives hostile queries and headers', async (t) => {
    let n = 0
    await fc.assert(
      fc.asyncProperty(
        fc.string({ maxLength: 200 }),
        fc.oneof(fc.constant(token), fc.string({ maxLength: 300 }), fc.constant(`${token}x`)),
        fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
        async (query, credential, method) => {
          n++
          const res = await fetch(`${http1().baseUrl}/api/cluster/nodes?${encodeURIComponent(query)}=${encodeURIComponent(query)}`, {
            method,
            headers: { authorization: `Bearer ${credential.replace(/[^\x21-\x7e]/g, '')}` },
          })
          await res.arrayBuffer()
          return res.status < 500
        },
      ),
      { numRuns: 60 },
    )
    t.equal(gw1.child.exitCode, null, 'node 1 still runs')
    t.comment(`ran ${n} cases`)
  })

  await t.test('a late disconnect on node 1 never erases the newer connect on node 2', async (t) => {
    const onNode1 = await connectSsh2Device(t, { port: gw1.sshPort, hostPublicKey: gw1.hostPublicKey, deviceId: 'roamer', key })
    const first = await waitFor('online on node 1', async () => {
      const r = await row(device.id)
      return r.status === 'online' && r.owner_node === 'node-1' && r
    })
    // The device moves (a load balancer sent its reconnect elsewhere) while node 1 still holds the old session.
    await connectSsh2Device(t, { port: gw2.sshPort, hostPublicKey: gw2.hostPublicKey, deviceId: 'roamer', key })
    const second = await waitFor('owned by node 2', async () => {
      const r = await row(device.id)
      return r.owner_node === 'node-2' && r
    })
    t.equal(second.session_epoch, first.session_epoch + 1, 'the connect on node 2 bumped the epoch')
    // Node 1 now sees its session drop, late; it writes its disconnect (drained at shutdown) for its own epoch only.
    let log = ''
    gw1.child.stdout!.on('data', (d) => (log += d))
    onNode1.end()
    await waitFor('node 1 to see the tunnel down', () => log.includes('device tunnel down'))
    await gw1.stop('SIGTERM')
    t.equal(gw1.child.exitCode, 0, 'node 1 shut down cleanly, its status writes drained')
    const after = await row(device.id)
    t.equal(after.status, 'online', 'the device stays online')
    t.equal(after.owner_node, 'node-2', 'owned by node 2')

    // Node 1 starts again: it resets what it held, not what node 2 holds.
    gw1 = await spawnGateway(top, env1)
    const restarted = await row(device.id)
    t.equal(restarted.status, 'online', 'a restart of node 1 leaves node 2’s device online')
    t.equal(restarted.owner_node, 'node-2')
  })

  await t.test('a disconnect of the current session still marks the device offline', async (t) => {
    const previous = (await row(device.id)).session_epoch
    const again = await connectSsh2Device(t, { port: gw2.sshPort, hostPublicKey: gw2.hostPublicKey, deviceId: 'roamer', key })
    const before = await waitFor('the newest session on node 2', async () => {
      const r = await row(device.id)
      return r.session_epoch > previous && r
    })
    t.equal(before.owner_node, 'node-2')
    again.end()
    const r = await waitFor('offline', async () => {
      const r = await row(device.id)
      return r.status === 'offline' && r
    })
    t.equal(r.owner_node, null)
    t.equal(r.session_epoch, before.session_epoch)
  })

  await t.test('a killed node goes stale, and a live node sweeps the devices it held', async (t) => {
    await connectSsh2Device(t, { port: gw2.sshPort, hostPublicKey: gw2.hostPublicKey, deviceId: 'roamer', key })
    await waitFor('online on node 2', async () => {
      const r = await row(device.id)
      return r.status === 'online' && r.owner_node === 'node-2'
    })
    await gw2.stop('SIGKILL')
    // Listed as stale after three missed heartbeats, until a live node's next sweep removes it: either is right.
    const seen = await waitFor('node 2 stale or swept', async () => {
      const res = await http1().get('/api/cluster/nodes', { token })
      const node2 = (res.body.items as any[]).find((n) => n.id === 'node-2')
      return (!node2 && 'swept') || (node2.stale && 'stale')
    })
    t.ok(seen, `node 2 is no longer counted as live (${seen})`)
    // The live node's dead-node sweep (docs/cluster-operations.md) resets the dead node's device and drops its row.
    const r = await waitFor('node 1 to sweep node 2', async () => {
      const r = await row(device.id)
      return r.status === 'offline' && r
    })
    t.equal(r.owner_node, null)
    await waitFor('node 2 gone from the registry', async () => !((await http1().get('/api/cluster/nodes', { token })).body.items as any[]).some((n) => n.id === 'node-2'))
    await gw1.stop('SIGTERM')
    gw1 = await spawnGateway(top, env1)
    const nodes = (await http1().get('/api/cluster/nodes', { token })).body.items as any[]
    t.same(nodes.filter((n) => n.id === 'node-1').length, 1, 'node 1 re-registered once')
  })

  await t.test('a clean shutdown leaves the registry', async (t) => {
    await gw1.stop('SIGTERM')
    const rows = (await db.query('select id from gateway_nodes order by id')).rows.map((r) => r.id)
    t.same(rows, [], 'node 1 removed itself; the killed node 2 was swept')
  })
})
