import { randomBytes } from 'node:crypto'
import { copyFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import path from 'node:path'
import fc from 'fast-check'
import pg from 'pg'
import ssh2 from 'ssh2'
import t from 'tap'
import { LISTEN_APPLICATION_NAME, CLUSTER_CHANNEL } from '../../server/cluster/cluster-notifications.js'
import { loadOrCreateHostKey } from '../../server/tunnel/host-key.js'
import { createPostgresDatabase } from '../lib/databases.js'
import { createHttpClient } from '../lib/http-client.js'
import { newKeyPair, type TestKeyPair } from '../lib/keys.js'
import { startPebble, type Pebble } from '../lib/pebble.js'
import { spawnGateway, type GatewayProcess } from '../lib/spawn-gateway.js'
import { ADMIN_PASSWORD, testGatewayEnv } from '../lib/test-gateway.js'
import { handshake } from '../lib/tls-client.js'
import { waitFor } from '../lib/wait.js'

/*
 * Three gateway processes on one PostgreSQL (issue 17, operations): caches
 * follow other nodes' changes (LISTEN/NOTIFY, full reload after the LISTEN
 * connection is cut), each ACME certificate is ordered once for the cluster
 * (the CA's validations reach any node, through a round-robin forwarder), a
 * kill -9 of a node brings its device back on another node, SIGTERM drains a
 * node's devices to another one, and registries drain.
 */

const BASE = 'fleet.test'
const CONSOLE = `console.${BASE}`

/** A load balancer in miniature: each connection goes to the next target that accepts it. */
function roundRobin(t: { teardown(fn: () => unknown): void }, port: number, targets: () => number[]) {
  let next = 0
  const server = net.createServer((client) => {
    client.pause()
    let waited = 0
    const attempt = (left: number) => {
      const ports = targets()
      // No node listening yet (they order while they start): wait for one, as a load balancer's queue would.
      if (!ports.length && waited++ < 600) return void setTimeout(() => attempt(1), 50)
      if (!left || !ports.length) return client.destroy()
      const upstream = net.connect(ports[next++ % ports.length]!, '127.0.0.1')
      upstream.once('error', () => attempt(left - 1))
      upstream.once('connect', () => {
        upstream.removeAllListeners('error')
        upstream.on('error', () => client.destroy())
        client.on('error', () => upstream.destroy())
        client.pipe(upstream).pipe(client)
        client.resume()
      })
    }
    attempt(targets().length || 1)
  })
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
}

/**
 * A device that keeps one tunnel up, like the agent: after a loss it waits a
 * short jittered backoff and dials the next node (what a load balancer would pick).
 */
function roamingDevice(t: { teardown(fn: () => unknown): void }, options: { ports: () => number[]; hostPublicKey: string; deviceId: string; key: TestKeyPair; appPort: number }) {
  let stopped = false
  let attempt = 0
  let connectedTo: number | undefined
  const pinned = ssh2.utils.parseKey(options.hostPublicKey) as ssh2.ParsedKey
  const dial = () => {
    if (stopped) return
    const ports = options.ports()
    const port = ports[attempt++ % ports.length]!
    const client = new ssh2.Client()
    client.on('tcp connection', (_info, accept) => {
      const channel = accept()
      const socket = net.connect(options.appPort, '127.0.0.1')
      socket.on('error', () => channel.close())
      channel.on('error', () => socket.destroy())
      socket.pipe(channel).pipe(socket)
    })
    client.on('ready', () => client.forwardIn('web', 80, () => (connectedTo = port)))
    client.on('error', () => {})
    client.on('close', () => {
      connectedTo = undefined
      if (!stopped) setTimeout(dial, 100 + Math.random() * 200)
    })
    client.connect({ host: '127.0.0.1', port, username: options.deviceId, privateKey: options.key.privateKey, hostVerifier: (k: Buffer) => k.equals(pinned.getPublicSSH()), readyTimeout: 10_000 })
    current = client
  }
  let current: ssh2.Client | undefined
  dial()
  const stop = () => {
    stopped = true
    current?.end()
  }
  t.teardown(stop)
  return { connectedTo: () => connectedTo, stop }
}

/** HTTPS to a node with the console's server name (always served) and any Host: routing goes by Host. */
function get(port: number, host: string, pathname = '/'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: pathname, servername: CONSOLE, headers: { host }, rejectUnauthorized: false, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.setTimeout(10_000, () => req.destroy(new Error('timed out')))
    req.on('error', reject)
  })
}

const logLines = (gw: GatewayProcess) =>
  gw
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, any>)

t.test('three nodes on one PostgreSQL: invalidation, one ACME order per certificate, kill -9, drain', async (t) => {
  const databaseUrl = await createPostgresDatabase(t)
  const [pebble, root] = await startPebble(t).then(async (p: Pebble) => [p, await p.rootPem()] as const)
  const ordersBefore = pebble.orderCount()
  const shared = {
    DATABASE_URL: databaseUrl,
    EDGETAINER_SECRET_KEY: randomBytes(32).toString('base64'),
    EDGETAINER_NODE_HEARTBEAT_SECONDS: '1', // stale after 3 s: a node stalled by a loaded machine is not swept as dead
    EDGETAINER_DRAIN_GRACE_SECONDS: '15',
    EDGETAINER_DRAIN_SPREAD_SECONDS: '0.5',
    EDGETAINER_LOG_LEVEL: 'info',
    EDGETAINER_ACME_DIRECTORY: pebble.directoryUrl,
    EDGETAINER_ACME_CA: pebble.caFile,
    EDGETAINER_BASE_DOMAIN: BASE,
    EDGETAINER_CONSOLE_HOST: CONSOLE,
    EDGETAINER_HTTPS_PORT: '0',
  }
  const envs = ['a', 'b', 'c'].map((id) => testGatewayEnv(t, { ...shared, EDGETAINER_NODE_ID: `node-${id}` }))
  // One SSH host key for the cluster (devices pin it): made once, copied to every node.
  const hostKey = loadOrCreateHostKey(envs[0]!.EDGETAINER_DATA_DIR!)
  for (const env of envs.slice(1)) for (const f of ['ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub']) copyFileSync(path.join(envs[0]!.EDGETAINER_DATA_DIR!, f), path.join(env.EDGETAINER_DATA_DIR!, f))
  const nodes: GatewayProcess[] = []
  const up: GatewayProcess[] = []
  // Pebble's HTTP-01 validations go to any live node, whichever placed the order.
  await roundRobin(t, pebble.httpPort, () => up.filter((n) => n.child.exitCode === null && n.child.signalCode === null).map((n) => n.httpPort))
  nodes.push(...(await Promise.all(envs.map((env) => spawnGateway(t, env).then((gw) => (up.push(gw), gw))))))
  const [a, b, c] = nodes as [GatewayProcess, GatewayProcess, GatewayProcess]
  const httpsPort = (gw: GatewayProcess) => {
    const line = logLines(gw).find((l) => l.msg === 'gateway listening')
    return line!.https_port as number
  }

  const db = new pg.Client({ connectionString: databaseUrl })
  await db.connect()
  t.teardown(() => db.end())
  const deviceRow = async (id: string) => (await db.query<{ status: string; owner_node: string | null }>('select status, owner_node from devices where id = $1', [id])).rows[0]!

  // The device app behind the tunnel.
  const app = http.createServer((_req, res) => res.end('hello from the device'))
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => app.close(() => resolve())))
  const appPort = (app.address() as net.AddressInfo).port

  const apiA = createHttpClient(`http://127.0.0.1:${a.httpPort}`)
  // With TLS on, plain HTTP redirects the console; the API is reached with the console's Host over HTTPS, or on 127.0.0.1.
  const token = (await apiA.post('/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD })).body.token as string
  t.ok(token, 'signed in on node a')
  const key = newKeyPair('roamer')
  const device = (await apiA.post('/api/devices', { name: 'Roamer', device_id: 'roamer', public_key: key.publicKey }, { token })).body
  const webHost = `web.${device.subdomain}.${BASE}`
  // Requests below use the console's certificate: wait until every node serves it (one node ordered it; the others loaded it on its notice).
  const consoleServed = await Promise.all(
    nodes.map((gw) =>
      waitFor(`node ${gw.httpPort} to serve the console certificate`, async () => {
        const h = await handshake({ port: httpsPort(gw), servername: CONSOLE, ca: root })
        return h.authorized && h
      }, 45_000),
    ),
  )

  await t.test('a service exposed through node a is routed by node b at once (NOTIFY)', async (t) => {
    const roamer = roamingDevice(t, { ports: () => [b.sshPort], hostPublicKey: hostKey.publicKey, deviceId: 'roamer', key, appPort })
    await waitFor('the device online on node b', async () => roamer.connectedTo() && (await deviceRow(device.id)).owner_node === 'node-b')
    // Node b caches "no such service" for the host first.
    t.equal((await get(httpsPort(b), webHost)).status, 404, 'no service yet')
    const created = await apiA.post(`/api/devices/${device.id}/exposed-services`, { name: 'web', container_name: 'web', internal_port: 80, auth_required: false }, { token })
    t.equal(created.status, 201)
    const served = await waitFor('node b to route the new service', async () => {
      const res = await get(httpsPort(b), webHost)
      return res.status === 200 && res
    }, 20_000)
    t.equal(served.body, 'hello from the device')
    roamer.stop()
    await waitFor('the device offline', async () => (await deviceRow(device.id)).status === 'offline')
  })

  await t.test('after its LISTEN connection is cut, a node reloads what it cached', async (t) => {
    const roamer = roamingDevice(t, { ports: () => [b.sshPort], hostPublicKey: hostKey.publicKey, deviceId: 'roamer', key, appPort })
    await waitFor('served by node b', async () => roamer.connectedTo() && (await get(httpsPort(b), webHost)).status === 200)
    // A change no node announces (written straight to the database): node b keeps its cached route.
    await db.query(`update exposed_services set enabled = false where device_id = $1`, [device.id])
    t.equal((await get(httpsPort(b), webHost)).status, 200, 'node b still serves its cached route')
    const before = (await db.query('select pid from pg_stat_activity where application_name = $1 and datname = current_database()', [LISTEN_APPLICATION_NAME])).rows.map((r) => r.pid)
    t.equal(before.length, 3, 'one LISTEN connection per node')
    await db.query('select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and datname = current_database()', [LISTEN_APPLICATION_NAME])
    await waitFor('node b to drop the disabled route after it listens again', async () => (await get(httpsPort(b), webHost)).status === 404, 20_000)
    const after = (await db.query('select pid from pg_stat_activity where application_name = $1 and datname = current_database()', [LISTEN_APPLICATION_NAME])).rows.map((r) => r.pid)
    t.equal(after.filter((pid) => before.includes(pid)).length, 0, 'every node opened a new LISTEN connection')
    t.ok(logLines(b).some((l) => l.msg === 'LISTEN connection re-opened: reloading caches'), 'node b says it reloaded')
    // Enabled again through the API: every node hears it.
    const services = (await apiA.get(`/api/devices/${device.id}/exposed-services`, { token })).body.items as { id: string }[]
    t.equal((await apiA.post(`/api/devices/${device.id}/exposed-services/${services[0]!.id}/enable`, undefined, { token })).status, 200)
    await waitFor('node b to route it again', async () => (await get(httpsPort(b), webHost)).status === 200, 20_000)
    roamer.stop()
    await waitFor('the device offline', async () => (await deviceRow(device.id)).status === 'offline')
  })

  await t.test('each certificate is ordered once for the cluster, and every node serves it', async (t) => {
    t.equal(new Set(consoleServed.map((h) => h.serial)).size, 1, 'the same console certificate on all three nodes')
    await waitFor('no certificate being ordered', async () => (await db.query('select 1 from tls_certificates where lease_until > now()')).rowCount === 0, 30_000)
    const placed = nodes.flatMap((gw) => logLines(gw).filter((l) => l.msg === 'placing ACME order').map((l) => JSON.stringify(l.hosts)))
    t.ok(placed.length >= 2, `orders placed: ${placed.join(' ')}`)
    t.equal(new Set(placed).size, placed.length, 'no host set was ordered twice')
    t.equal(pebble.orderCount() - ordersBefore, placed.length, 'the CA saw exactly the orders the nodes placed')
    const challenges = await db.query('select count(*)::int as n from acme_http_challenges')
    t.equal(challenges.rows[0].n, 0, 'no HTTP-01 answer left behind')
  })

  await t.test('hostile cluster notifications and challenge tokens end no node', async (t) => {
    let n = 0
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ maxLength: 300 }),
          fc.json({ maxDepth: 3 }),
          fc.record({ origin: fc.string(), notice: fc.record({ kind: fc.constantFrom('device', 'service', 'user', 'certificate', 'x'), id: fc.string(), device_id: fc.string(), device_uuid: fc.string(), name: fc.string() }) }).map((o) => JSON.stringify(o)),
        ),
        // Not `.` or `..` (or %2e forms): fetch resolves those dot segments away, to another path than a token's.
        fc.stringMatching(/^[A-Za-z0-9_%.~-]{0,150}$/).filter((token) => !/^(?:\.|%2e){1,2}$/i.test(token)),
        async (payload, token) => {
          n++
          await db.query('select pg_notify($1, $2)', [CLUSTER_CHANNEL, payload.replace(/\u0000/g, '')])
          const res = await fetch(`http://127.0.0.1:${c.httpPort}/.well-known/acme-challenge/${token}`)
          await res.arrayBuffer()
          return res.status === 404
        },
      ),
      { numRuns: 100 },
    )
    t.comment(`ran ${n} cases`)
    for (const gw of nodes) t.equal(gw.child.exitCode, null, 'the node still runs')
    t.equal((await get(httpsPort(b), CONSOLE, '/healthz')).status, 200, 'and answers')
  })

  await t.test('failed logins count for the whole cluster, not per node', async (t) => {
    // Five failures for one user name from one address are allowed (per user at address); they are spread over the nodes.
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) {
      const node = nodes[i % 3]!
      const res = await createHttpClient(`http://127.0.0.1:${node.httpPort}`).post('/api/auth/login', { username: 'guesser', password: `wrong-${i}` })
      statuses.push(res.status)
    }
    t.same(statuses, [401, 401, 401, 401, 401, 429], 'the sixth guess is refused, though node c saw only one before')
    const rows = await db.query('select count(*)::int as n from rate_limits')
    t.ok(rows.rows[0].n > 0, 'the counts live in PostgreSQL')
  })

  await t.test('kill -9 of a node: its device comes back online on another node', async (t) => {
    const roamer = roamingDevice(t, { ports: () => [b.sshPort, a.sshPort], hostPublicKey: hostKey.publicKey, deviceId: 'roamer', key, appPort })
    await waitFor('online on node b', async () => roamer.connectedTo() === b.sshPort && (await deviceRow(device.id)).owner_node === 'node-b')
    await b.stop('SIGKILL')
    const moved = await waitFor('online on node a', async () => {
      const row = await deviceRow(device.id)
      return row.status === 'online' && row.owner_node === 'node-a' && row
    }, 30_000)
    t.equal(moved.owner_node, 'node-a')
    await waitFor('node a to serve the device', async () => (await get(httpsPort(a), webHost)).status === 200, 20_000)
    await waitFor('the dead node swept from the registry', async () => (await db.query(`select 1 from gateway_nodes where id = 'node-b'`)).rowCount === 0, 20_000)
    roamer.stop()
    await waitFor('the device offline', async () => (await deviceRow(device.id)).status === 'offline')
  })

  await t.test('SIGTERM drains a node: its device moves, the node exits, registries drain', async (t) => {
    const roamer = roamingDevice(t, { ports: () => [a.sshPort, c.sshPort], hostPublicKey: hostKey.publicKey, deviceId: 'roamer', key, appPort })
    await waitFor('online on node a', async () => roamer.connectedTo() === a.sshPort && (await deviceRow(device.id)).owner_node === 'node-a')
    await a.stop('SIGTERM')
    t.equal(a.child.exitCode, 0, 'node a exited cleanly')
    const drained = logLines(a).find((l) => l.msg === 'drained: every device left this node')
    t.ok(drained, 'node a exited once its device had left, inside the grace period')
    await waitFor('online on node c', async () => {
      const row = await deviceRow(device.id)
      return row.status === 'online' && row.owner_node === 'node-c'
    }, 20_000)
    t.equal((await get(httpsPort(c), webHost)).status, 200, 'node c serves the device')
    roamer.stop()
    await waitFor('the device offline', async () => (await deviceRow(device.id)).status === 'offline')
    await c.stop('SIGTERM')
    t.equal(c.child.exitCode, 0)
    t.same((await db.query('select id from gateway_nodes')).rows, [], 'no node left in the registry')
    t.same((await db.query(`select id from devices where status = 'online' or owner_node is not null`)).rows, [], 'no device left online')
    t.same((await db.query('select pid from pg_stat_activity where application_name = $1 and datname = current_database()', [LISTEN_APPLICATION_NAME])).rows, [], 'no LISTEN connection left')
  })
})
