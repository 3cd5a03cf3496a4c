/**
 * Request rate through the gateway to a device service over HTTPS (TLS
 * terminated at the gateway, manual certificate), against plain HTTP through
 * the same gateway, same tunnel, same device service, in the same run.
 */
import { execFileSync } from 'node:child_process'
import http from 'node:http'
import https from 'node:https'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig } from '../../server/config/load-config.js'
import { createLogger } from '../../server/logger.js'
import { startServer, type RunningServer } from '../../server/main.js'
import { newKeyPair } from '../../test/lib/keys.js'
import { connectSsh2Device } from '../../test/lib/ssh2-device.js'
import { waitFor } from '../../test/lib/openssh.js'

const SECONDS = Number(process.env.BENCH_HTTPS_SECONDS ?? 8)
const CONNECTIONS = Number(process.env.BENCH_HTTPS_CONNECTIONS ?? 50)
const HOST = 'web.bench.localhost'
const teardowns: (() => unknown)[] = []

interface LoadResult {
  requests: number
  rps: number
  p50: number
  p99: number
  errors: number
}

/** CONNECTIONS keep-alive clients, each sending its next request as soon as the last answer arrived. */
async function load(request: (agent: http.Agent) => Promise<void>, agentFactory: () => http.Agent): Promise<LoadResult> {
  const agent = agentFactory()
  const latencies: number[] = []
  let errors = 0
  const deadline = Date.now() + SECONDS * 1000
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (Date.now() < deadline) {
        const start = process.hrtime.bigint()
        try {
          await request(agent)
          latencies.push(Number(process.hrtime.bigint() - start) / 1e6)
        } catch {
          errors++
        }
      }
    }),
  )
  agent.destroy()
  latencies.sort((a, b) => a - b)
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN
  return { requests: latencies.length, rps: latencies.length / SECONDS, p50: at(50), p99: at(99), errors }
}

function get(client: typeof http | typeof https, options: https.RequestOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = client.request(options, (res) => {
      res.resume()
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))))
    })
    req.on('error', reject)
    req.end()
  })
}

async function startGateway(root: string, name: string, env: Record<string, string>): Promise<RunningServer> {
  const config = loadConfig({
    env: {
      EDGETAINER_DATA_DIR: path.join(root, name),
      EDGETAINER_HTTP_PORT: '0',
      EDGETAINER_SSH_PORT: '0',
      EDGETAINER_BIND_ADDRESS: '127.0.0.1',
      EDGETAINER_ADMIN_PASSWORD: 'bench-admin-password',
      EDGETAINER_LOG_LEVEL: 'silent',
      ...env,
    },
  })
  const server = await startServer(config, createLogger('silent'), { pgliteDir: 'memory://' })
  teardowns.push(() => server.close())
  return server
}

/** Registers device `bench` with a public service `web` and connects it, forwarding to the local app. */
async function exposeDevice(server: RunningServer, appPort: number): Promise<void> {
  const api = `http://127.0.0.1:${server.httpPort}`
  const login = await fetch(`${api}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }) })
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${(await login.json()).token}` }
  const key = newKeyPair('bench')
  const device = await (await fetch(`${api}/api/devices`, { method: 'POST', headers, body: JSON.stringify({ name: 'bench', device_id: 'bench', public_key: key.publicKey }) })).json()
  await fetch(`${api}/api/devices/${device.id}/exposed-services`, { method: 'POST', headers, body: JSON.stringify({ name: 'web', container_name: 'web', internal_port: 80, auth_required: false }) })
  const dev = await connectSsh2Device(undefined, { port: server.sshPort, hostPublicKey: server.hostPublicKey, deviceId: 'bench', key })
  teardowns.unshift(() => dev.end())
  await dev.forward('web', 80, appPort)
  await waitFor('service forwarded', () => [...server.tunnels.sessions()][0]?.hasServiceForward('web', 80))
}

async function main() {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-bench-https-'))
  teardowns.push(() => rmSync(dir, { recursive: true, force: true }))
  const cert = path.join(dir, 'cert.pem')
  const key = path.join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,DNS:*.localhost,DNS:*.bench.localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' })
  // Two gateways in this one process, measured in alternating rounds: one terminates TLS, the other serves plain
  // HTTP (a gateway with TLS on redirects plain HTTP, so it cannot be its own reference).
  const tlsGateway = await startGateway(dir, 'tls', { EDGETAINER_TLS_CERT: cert, EDGETAINER_TLS_KEY: key, EDGETAINER_HTTPS_PORT: '0', EDGETAINER_SSH_PORT_RANGE: '29100-29149' })
  const plainGateway = await startGateway(dir, 'plain', { EDGETAINER_SSH_PORT_RANGE: '29150-29199' })
  const httpsPort = (tlsGateway as unknown as { httpsPort?: number }).httpsPort
  if (!httpsPort) throw new Error('the gateway did not start its HTTPS listener')

  // The device service: 100 bytes, answered by one local app through each gateway's device tunnel.
  const body = Buffer.alloc(100, 'x')
  const app = http.createServer((_req, res) => res.end(body))
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve))
  teardowns.push(() => new Promise((r) => app.close(r)))
  const appPort = (app.address() as { port: number }).port
  await exposeDevice(tlsGateway, appPort)
  await exposeDevice(plainGateway, appPort)

  const ca = readFileSync(cert)
  const overHttps = () => load(
    (agent) => get(https, { host: '127.0.0.1', port: httpsPort, path: '/', headers: { host: HOST }, servername: HOST, ca, agent }),
    () => new https.Agent({ keepAlive: true, maxSockets: CONNECTIONS }),
  )
  const overHttp = () => load(
    (agent) => get(http, { host: '127.0.0.1', port: plainGateway.httpPort, path: '/', headers: { host: HOST }, agent }),
    () => new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS }),
  )
  await overHttps() // warm both paths
  await overHttp()
  const results: [string, LoadResult][] = []
  for (const round of [1, 2]) {
    results.push([`https round ${round}`, await overHttps()])
    results.push([`http round ${round}`, await overHttp()])
  }
  console.log(`== HTTPS vs HTTP through the gateway: ${CONNECTIONS} keep-alive connections, ${SECONDS} s per round, 100-byte answers`)
  for (const [name, r] of results) console.log(`  ${name.padEnd(16)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms   errors ${r.errors}`)
  const best = (prefix: string) => Math.max(...results.filter(([n]) => n.startsWith(prefix)).map(([, r]) => r.rps))
  console.log(`  ratio https/http (best rounds): ${(best('https') / best('http')).toFixed(2)}`)
}

main()
  .catch((err) => {
    console.error('https benchmark failed:', err)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => {})
    setTimeout(() => process.exit(), 500).unref()
  })
