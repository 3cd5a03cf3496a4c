import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import pg from 'pg'
import t, { type Test } from 'tap'
import { createPostgresDatabase } from '../lib/databases.js'
import { freePort } from '../lib/ports.js'
import { ADMIN_PASSWORD, testGatewayEnv } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'
import { requestViaHost, startDeviceApp } from '../lib/device-app.js'
import { createHttpClient } from '../lib/http-client.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { repoRoot } from '../lib/repo-root.js'
import { alive } from '../lib/pids.js'
import { EDGETAINER_BIN } from '../lib/remote-cli.js'

/** The real `edgetainer server`, as users start it, with the given flags. */
function edgetainerServer(args: string[], env: Record<string, string>) {
  const child = spawn(EDGETAINER_BIN, ['server', ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => (stdout += d))
  child.stderr!.on('data', (d) => (stderr += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, exited, stdout: () => stdout, stderr: () => stderr }
}

/** The primary's children (its workers), from /proc. */
function childPids(child: ChildProcess): number[] {
  try {
    return readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** `edgetainer server --workers 2`, killed with its workers at teardown; resolves once the primary reports them. */
async function startTwoWorkers(t: Test, env: Record<string, string>) {
  const run = edgetainerServer(['--workers', '2'], env)
  t.teardown(async () => {
    for (const pid of childPids(run.child)) if (alive(pid)) process.kill(pid, 'SIGKILL')
    if (run.child.exitCode === null) run.child.kill('SIGKILL')
    await run.exited
  })
  await waitFor('the primary to report its workers', () => run.stdout().includes('Edgetainer is running with 2 workers') || run.child.exitCode !== null, 60_000)
  t.equal(run.child.exitCode, null, `the primary runs (${run.stderr().slice(-500)})`)
  return run
}

/** Several GETs in turn on one kept-alive connection to a device host: [status, body] of each. */
async function keptAliveRequests(port: number, host: string, paths: string[]): Promise<[number, string][]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  const results: [number, string][] = []
  try {
    for (const p of paths) {
      results.push(
        await new Promise<[number, string]>((resolve, reject) => {
          http
            .get({ host: '127.0.0.1', port, path: p, agent, headers: { host } }, (res) => {
              let body = ''
              res.setEncoding('utf8')
              res.on('data', (d) => (body += d))
              res.on('end', () => resolve([res.statusCode ?? 0, body]))
            })
            .on('error', reject)
        }),
      )
    }
  } finally {
    agent.destroy()
  }
  return results
}

/** GET on a new connection each time, so the primary hands each one to the next worker. */
function getJson(port: number, urlPath: string, token?: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
      let text = ''
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }))
    })
    req.on('error', reject)
  })
}

function signIn(port: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/api/auth/login', method: 'POST', agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = ''
      res.on('data', (d) => (text += d))
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text).token) : reject(new Error(`login ${res.statusCode} ${text}`))))
    })
    req.on('error', reject)
    req.end(JSON.stringify({ username: 'admin', password: ADMIN_PASSWORD }))
  })
}

t.test('--workers 2 on PostgreSQL: both workers serve the shared port as nodes, a killed one comes back, SIGTERM stops all', async (t) => {
  const databaseUrl = await createPostgresDatabase(t)
  const httpPort = await freePort()
  const sshPort = await freePort()
  const env = testGatewayEnv(t, { DATABASE_URL: databaseUrl, EDGETAINER_HTTP_PORT: String(httpPort), EDGETAINER_SSH_PORT: String(sshPort), EDGETAINER_NODE_ID: 'gw-test', EDGETAINER_PEER_URL: 'https://10.0.0.5:7400' })
  const run = await startTwoWorkers(t, env)
  t.match(run.stdout(), /nodes gw-test-w0, gw-test-w1\)/, 'each worker is a node named after the configured id')
  t.equal(childPids(run.child).length, 2, 'two worker processes')

  const login = await signIn(httpPort)
  const answering = async () => {
    const seen = new Set<string>()
    // One request per round: the primary hands connections out in turn, so two per round would always split the same way.
    await waitFor('both workers to answer on the shared port', async () => {
      const nodes = await getJson(httpPort, '/api/cluster/nodes', login)
      if (nodes.status === 200) seen.add(nodes.body.node_id)
      return seen.size === 2
    }, 20_000)
    return [...seen].sort()
  }
  t.same(await answering(), ['gw-test-w0', 'gw-test-w1'], 'connections to one port reach both workers, one token works on both')
  const health = [await getJson(httpPort, '/healthz'), await getJson(httpPort, '/healthz')]
  t.same(health.map((h) => [h.status, h.body.database.dialect]), [[200, 'postgres'], [200, 'postgres']], '/healthz answers on both')
  const nodes = await getJson(httpPort, '/api/cluster/nodes', login)
  t.same(
    nodes.body.items.map((n: { id: string; peer_url: string }) => [n.id, n.peer_url]).sort(),
    [['gw-test-w0', 'https://10.0.0.5:7400'], ['gw-test-w1', 'https://10.0.0.5:7401']],
    'both registered in gateway_nodes, each with a peer port of its own',
  )

  const [victim, survivor] = childPids(run.child) as [number, number]
  process.kill(victim, 'SIGKILL')
  const replaced = await waitFor('the primary to restart the killed worker', () => {
    const pids = childPids(run.child)
    return pids.length === 2 && !pids.includes(victim) ? pids : undefined
  }, 20_000)
  t.ok(replaced.includes(survivor), 'the other worker ran on')
  t.same(await answering(), ['gw-test-w0', 'gw-test-w1'], 'the restarted worker answers again under its node id')

  run.child.kill('SIGTERM')
  t.equal(await run.exited, 0, 'SIGTERM to the primary: it exits 0')
  t.notOk(replaced.some(alive), 'after stopping every worker')
  const db = new pg.Client({ connectionString: databaseUrl })
  await db.connect()
  const left = await db.query('select id from gateway_nodes')
  await db.end()
  t.same(left.rows, [], 'each worker left the registry on its clean shutdown')
})

t.test('--workers 2 with no peer settings: each worker forwards on a loopback port of its own', async (t) => {
  const databaseUrl = await createPostgresDatabase(t)
  const httpPort = await freePort()
  // Debug logs: a connection moved to the worker holding its device says so.
  const env = testGatewayEnv(t, { DATABASE_URL: databaseUrl, EDGETAINER_HTTP_PORT: String(httpPort), EDGETAINER_SSH_PORT: String(await freePort()), EDGETAINER_NODE_ID: 'gw-loop', EDGETAINER_LOG_LEVEL: 'debug' })
  const run = await startTwoWorkers(t, env)
  const login = await signIn(httpPort)
  const peers = await waitFor('both workers registered with their peer address', async () => {
    const nodes = await getJson(httpPort, '/api/cluster/nodes', login)
    const items = (nodes.body?.items ?? []) as { id: string; peer_url: string | null }[]
    return items.length === 2 && items.every((n) => n.peer_url) ? items : undefined
  }, 20_000)
  for (const n of peers) t.match(n.peer_url, /^http:\/\/127\.0\.0\.1:\d+\/?$/, `${n.id} is reached on loopback, in plain HTTP with signed upgrades (TLS on loopback guards against no one)`)
  // In a cluster worker, listen(0) is served by one handle the primary shares out in turn: a connection meant
  // for the worker holding a device then reached the other one half the time, which refused it as a loop (502).
  t.equal(new Set(peers.map((n) => n.peer_url)).size, 2, `each worker listens on a peer port of its own (${peers.map((n) => n.peer_url).join(', ')})`)

  // A device's tunnel lands on one worker; requests reach both in turn, and the other one forwards over its loopback peer channel.
  const api = createHttpClient(`http://127.0.0.1:${httpPort}`)
  const key = newKeyPair('worker-device')
  const device = (await api.post('/api/devices', { name: 'Worker device', device_id: 'wk-1', public_key: key.publicKey }, { token: login })).body
  t.equal((await api.post(`/api/devices/${device.id}/exposed-services`, { name: 'web', container_name: 'web', internal_port: 80, auth_required: false }, { token: login })).status, 201)
  const app = await startDeviceApp(t, 'web')
  const hostPublicKey = readFileSync(path.join(env.EDGETAINER_DATA_DIR!, 'ssh_host_ed25519_key.pub'), 'utf8')
  const dev = await connectSsh2Device(t, { port: Number(env.EDGETAINER_SSH_PORT), hostPublicKey, deviceId: 'wk-1', key })
  t.teardown(() => dev.end())
  await dev.forward('web', 80, app.port)
  // Two in a row: the primary deals connections out in turn, so both workers have answered (the other one's route cache catches up).
  const served = async () => (await requestViaHost(httpPort, 'web.wk-1.localhost', '/ready')).status === 200
  await waitFor('both workers serve the device through the shared port', async () => (await served()) && (await served()), 20_000)
  const answers = []
  for (let i = 0; i < 6; i++) answers.push(await requestViaHost(httpPort, 'web.wk-1.localhost', `/turn/${i}`))
  t.same(answers.map((a) => [a.status, a.body]), [0, 1, 2, 3, 4, 5].map((i) => [200, `web says hello at /turn/${i}`]), 'every request answered, whichever worker took it')
  // The worker without the tunnel hands each such connection to the one that has it, once, rather than forwarding every request.
  const handed = run.stdout().split('\n').filter((line) => line.includes('connection handed to the worker holding its device'))
  t.ok(handed.length >= 2, `connections that landed on the other worker moved to the device's (${handed.length} of 6+)`)
  // Several requests on one kept-alive connection, whichever worker it landed on: each answered in turn.
  const kept = await keptAliveRequests(httpPort, 'web.wk-1.localhost', ['/k/1', '/k/2', '/k/3'])
  t.same(kept, ['/k/1', '/k/2', '/k/3'].map((p) => [200, `web says hello at ${p}`]), 'a kept-alive connection keeps working after it moved')
  run.child.kill('SIGTERM')
  t.equal(await run.exited, 0)
})
