import { execFile } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { loadConfig } from '../../server/config/load-config.js'
import { repoRoot } from '../lib/repo-root.js'

/**
 * deploy/ as far as this machine can check it without Docker Hub: the compose file
 * through Debian's docker-compose, haproxy.cfg through Debian's haproxy, the
 * systemd units through systemd-analyze, and the Dockerfile's shape.
 */
const root = repoRoot
const deploy = path.join(root, 'deploy')
const run = promisify(execFile)

async function exec(command: string, args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(command, args, { cwd: root, env: { PATH: process.env.PATH ?? '', ...env } })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

const secrets = { POSTGRES_PASSWORD: 'pw-for-the-check', EDGETAINER_SECRET_KEY: Buffer.alloc(32, 7).toString('base64') }

t.test('compose: two read-only non-root gateway nodes on one PostgreSQL behind HAProxy', async (t) => {
  // Both at once: each docker-compose start costs a couple of seconds of Python.
  const [res, missing] = await Promise.all([
    exec('docker-compose', ['-f', 'deploy/compose.yaml', 'config'], secrets),
    exec('docker-compose', ['-f', 'deploy/compose.yaml', 'config']),
  ])
  t.equal(res.code, 0, `docker-compose config accepts it ${res.stderr}`)
  const doc = parseYaml(res.stdout) as { services: Record<string, any> }
  t.same(Object.keys(doc.services).sort(), ['gw1', 'gw2', 'haproxy', 'postgres'])
  const nodes = [doc.services.gw1, doc.services.gw2]
  for (const gw of nodes) {
    t.equal(gw.read_only, true, 'read-only root filesystem')
    t.equal(gw.user, '10001:10001', 'the image\'s non-root user')
    t.ok(gw.tmpfs.some((m: string) => m.startsWith('/tmp')), '/tmp is a tmpfs')
    t.ok(gw.volumes.some((v: string) => v.startsWith('gateway-data:/var/lib/edgetainer')), 'the data dir is a volume')
    t.match(gw.environment.DATABASE_URL, /^postgres:\/\/edgetainer:pw-for-the-check@postgres:5432\/edgetainer$/)
    t.equal(gw.environment.EDGETAINER_SECRET_KEY, secrets.EDGETAINER_SECRET_KEY, 'one secret for both nodes')
  }
  t.not(nodes[0].environment.EDGETAINER_NODE_ID, nodes[1].environment.EDGETAINER_NODE_ID, 'a node id each')
  for (const gw of nodes) {
    t.match(gw.environment.EDGETAINER_PEER_URL, /^psk:\/\/gw[12]:7400\/$/, 'the nodes forward to each other over TLS-PSK')
    // The gateway's own start-up check (peer_url against peer_tls and peer_listen), on exactly what compose passes.
    t.equal(loadConfig({ env: gw.environment }).cluster.peerTls, true, 'and each node\'s environment passes the config check')
  }
  t.same(doc.services.haproxy.ports.map((p: { published: number; target: number } | string) => (typeof p === 'string' ? p : `${p.published}:${p.target}`)).sort(), ['2222:2222', '443:443', '80:80'])
  t.equal(nodes[0].environment.EDGETAINER_TRUST_PROXY, doc.services.haproxy.networks.edge.ipv4_address, 'the gateways trust HAProxy\'s address only')
  t.equal(nodes[0].environment.EDGETAINER_PROXY_PROTOCOL_FROM, doc.services.haproxy.networks.edge.ipv4_address, 'and read PROXY headers from it only')

  t.not(missing.code, 0, 'without the secrets it refuses')
  t.match(missing.stderr, /set (POSTGRES_PASSWORD|EDGETAINER_SECRET_KEY) in deploy\/\.env/, 'naming what to set')
})

t.test('haproxy.cfg: TCP for SSH and HTTPS passthrough, HTTP for :80, health from /healthz', async (t) => {
  const res = await exec('haproxy', ['-c', '-f', 'deploy/haproxy.cfg'])
  t.equal(res.code, 0, `haproxy -c accepts it ${res.stderr}`)
  const warnings = (res.stdout + res.stderr).split('\n').filter((l) => l.includes('[WARNING]'))
  t.same(warnings.filter((w) => !/could not resolve address 'gw[12]'/.test(w)), [], 'no warning but the node names this host cannot resolve')
  const cfg = readFileSync(path.join(deploy, 'haproxy.cfg'), 'utf8')
  const section = (name: string) => new RegExp(`^(?:frontend|backend) ${name}\\n((?:[ \\t].*\\n?)*)`, 'm').exec(cfg)?.[1] ?? ''
  t.match(section('ssh'), /mode tcp[\s\S]*bind :2222/)
  t.match(section('https'), /mode tcp[\s\S]*bind :443/)
  t.match(section('http'), /mode http[\s\S]*bind :80/)
  for (const [backend, port, proxy] of [['gateways_ssh', 2222, ' send-proxy-v2'], ['gateways_https', 8443, ' send-proxy-v2'], ['gateways_http', 8080, '']] as const) {
    t.match(section(backend), new RegExp(`server gw1 gw1:${port}${proxy}\\n\\s+server gw2 gw2:${port}${proxy}\\n`), `${backend} balances both nodes${proxy ? ', naming each client in a PROXY v2 header' : ''}`)
    t.match(section(backend), /http-check send meth GET uri \/healthz/)
  }
})

t.test('systemd units verify', async (t) => {
  // systemd-analyze checks that ExecStart exists: point it at this checkout's launcher.
  const dir = mkdtempSync(path.join(tmpdir(), 'et-units-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  for (const unit of readdirSync(path.join(deploy, 'systemd'))) {
    const text = readFileSync(path.join(deploy, 'systemd', unit), 'utf8').replaceAll('/opt/edgetainer/bin/edgetainer', path.join(root, 'bin/edgetainer'))
    writeFileSync(path.join(dir, unit), text)
  }
  copyFileSync(path.join(dir, 'edgetainer@.service'), path.join(dir, 'edgetainer@0.service'))
  const res = await exec('systemd-analyze', ['verify', '--man=no', path.join(dir, 'edgetainer.service'), path.join(dir, 'edgetainer@0.service')])
  t.equal(res.code, 0)
  t.equal((res.stdout + res.stderr).trim(), '', 'no complaint')
  const single = readFileSync(path.join(deploy, 'systemd/edgetainer.service'), 'utf8')
  t.match(single, /^KillMode=mixed$/m, 'SIGTERM to the primary, which stops its workers')
  t.match(single, /^User=edgetainer$/m)
})

t.test('Dockerfile: multi-stage, non-root, data dir a volume', async (t) => {
  const text = readFileSync(path.join(deploy, 'Dockerfile'), 'utf8')
  const stages = [...text.matchAll(/^FROM (\S+) AS (\w+)$/gm)].map((m) => m[2])
  t.same(stages, ['build', 'runtime'])
  const runtime = text.slice(text.indexOf('AS runtime'))
  t.match(runtime, /^USER 10001:10001$/m, 'runs as the non-root user')
  t.match(runtime, /^VOLUME \["\/var\/lib\/edgetainer"\]$/m)
  t.match(runtime, /EDGETAINER_DATA_DIR=\/var\/lib\/edgetainer/)
  t.notMatch(runtime, /npm (ci|install)/, 'no dependency install at run time: the build stage did it')
  t.match(text, /make build && AGENT_ARCHES="\$\{AGENT_ARCHES\}" make agent/)
  const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n')
  for (const entry of ['node_modules', 'dist', '.git', 'deploy/.env']) t.ok(ignored.includes(entry), `.dockerignore keeps ${entry} out of the context`)
})
