import t from 'tap'
import { execFile } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { stringify } from 'yaml'
import { generateKeyPairSync } from 'node:crypto'
import { build } from 'esbuild'
import { releaseKeyLine } from '../../shared/agent-release.js'
import { installSteps, rollbackSteps } from '../../agent/update/executable-swap.js'
import { buildAgentScript, publishBuild } from '../lib/agent-bundles.js'
import { superviseAgent } from '../lib/agent-supervisor.js'
import { waitFor } from '../lib/openssh.js'
import { registrationToken } from '../lib/test-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { repoRoot } from '../lib/repo-root.js'

const run = promisify(execFile)
const root = repoRoot
const work = mkdtempSync(path.join(tmpdir(), 'et-self-update-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

// The device has no tap or tsx. tap's process tracking puts its loader into every child's NODE_OPTIONS
// (and that loader refuses files named `.previous`), so device processes start through `env -u NODE_OPTIONS`.
const onDevice = (argv: string[]) => ['env', '-u', 'NODE_OPTIONS', ...argv]
const versionOf = async (file: string) => (await run('env', ['-u', 'NODE_OPTIONS', file, '--version'])).stdout.trim()

/**
 * Self-update with real executables built here: the agent bundle (the script
 * that goes into the SEA) under three versions, run as executable files by a
 * supervisor that restarts them like systemd's Restart=always.
 */
t.test('the agent updates itself through the tunnel, verified, and rolls back a release that fails its self-check', async (t) => {
  const started = Date.now()
  const builds = path.join(work, 'builds')
  mkdirSync(builds)
  const [A, B, broken] = await Promise.all([
    buildAgentScript(path.join(builds, 'a'), '1.0.0'),
    buildAgentScript(path.join(builds, 'b'), '1.1.0'),
    buildAgentScript(path.join(builds, 'broken'), '1.2.0', 'test/fixtures/broken-release-entry.ts'),
  ])
  t.comment(`three agent builds in ${Date.now() - started} ms`)

  const agentDir = path.join(work, 'agent-dir')
  mkdirSync(agentDir)
  const gw = await startTestGateway(t, 'postgres', { start: { agentDir, agentHeartbeatSeconds: 1 } })
  const { http, adminToken: token } = gw
  // `make agent` three times: the gateway keeps each build it has seen.
  let releaseKey = ''
  for (const b of [A, B, broken]) {
    publishBuild(agentDir, b)
    const listed = await http.get('/api/agent-releases', { token })
    t.equal(listed.status, 200)
    releaseKey = listed.body.release_key
  }
  const releases = (await http.get('/api/agent-releases', { token })).body.items as { version: string; sha512: string }[]
  t.same(releases.map((r) => r.version).sort(), ['1.0.0', '1.1.0', '1.2.0'], 'every build is a release')
  const storeFile = (sha512: string) => path.join(gw.dataDir, 'agent-releases', sha512)
  t.ok(existsSync(storeFile(A.sha512)), 'stored by sha512 in the data dir')

  const fleet = (await http.post('/api/fleets', { name: 'updates' }, { token })).body
  const device = path.join(work, 'device')
  const executable = path.join(device, 'opt/bin/edgetainer-agent')
  mkdirSync(path.dirname(executable), { recursive: true })
  copyFileSync(A.file, executable)
  const configFile = path.join(device, 'agent.yaml')
  const writeConfig = (key: string) =>
    writeFileSync(
      configFile,
      stringify({
        server_url: http.baseUrl,
        ssh_host: '127.0.0.1',
        ssh_port: gw.server.sshPort,
        host_key: gw.server.hostPublicKey,
        token: registrationTokenValue,
        data_dir: path.join(device, 'data'),
        release_key: key,
        executable_path: executable,
        update_check_seconds: 0.3,
        update_self_check_seconds: 8, // short, yet long enough for a good release to prove itself on a loaded machine
        heartbeat_seconds: 1,
        reconnect_base_seconds: 0.2,
        reconnect_max_seconds: 1,
        watch_seconds: 5,
        log_level: process.env.EDGETAINER_TEST_LOG_LEVEL ?? 'warn',
      }),
    )
  const registrationTokenValue = await registrationToken({ http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }, fleet.id)
  // Pinned at provisioning: a key that is not the gateway's, so every manifest it signs is "wrongly signed".
  const otherKey = releaseKeyLine(generateKeyPairSync('ed25519').publicKey)
  writeConfig(otherKey)
  const agent = superviseAgent(onDevice([executable, 'agent', '--config', configFile]))
  t.teardown(() => agent.stop())

  const deviceId = await waitFor('the device registered', async () => (await http.get(`/api/devices?fleet_id=${fleet.id}`, { token })).body.items?.[0]?.id, 30_000)
  const agentState = async () => (await http.get(`/api/devices/${deviceId}/agent`, { token })).body
  const logText = async () => JSON.stringify((await http.get(`/api/devices/${deviceId}/logs?limit=500`, { token })).body.items ?? [])
  await waitFor('A reporting 1.0.0', async () => (await agentState()).version === '1.0.0' || undefined, 20_000)

  await t.test('a manifest signed by another key than the pinned one is refused and reported', async (t) => {
    t.equal((await http.put(`/api/fleets/${fleet.id}/agent-target`, { version: '1.1.0' }, { token })).status, 200)
    t.match(await agentState(), { version: '1.0.0', target: '1.1.0', target_from: 'fleet' })
    const logs = await waitFor('the refusal in the device log', async () => ((await logText()).includes('does not verify against the pinned release key') ? logText() : undefined), 20_000)
    t.match(logs, /agent update refused: the manifest signature does not verify/)
    t.equal(await versionOf(executable), '1.0.0', 'the executable is untouched')
    t.notOk(existsSync(`${executable}.new`), 'and no download is left behind')
  })

  await t.test('an artifact that does not match its signed manifest is refused and reported', async (t) => {
    // The right key now, and a flipped byte in the gateway's stored copy of B (same size).
    writeConfig(releaseKey)
    const original = readFileSync(storeFile(B.sha512))
    const tampered = Buffer.from(original)
    tampered[tampered.length - 10] = tampered[tampered.length - 10]! ^ 0xff
    writeFileSync(storeFile(B.sha512), tampered)
    agent.killHard()
    await waitFor('the tampered download refused', async () => ((await logText()).includes('does not match the signed manifest') || undefined), 20_000)
    t.equal(await versionOf(executable), '1.0.0', 'the executable is untouched')
    t.notOk(existsSync(`${executable}.new`), 'and the bad download is deleted')
    writeFileSync(storeFile(B.sha512), original)
  })

  await t.test('A updates to B through the tunnel, restarts, passes its self-check and reports B', async (t) => {
    const exitsBefore = agent.exits.length
    agent.killHard() // forget the refusal: a restarted agent tries the (now intact) release again
    await waitFor('B reporting 1.1.0', async () => (await agentState()).version === '1.1.0' || undefined, 60_000)
    await waitFor('the update reported', async () => ((await logText()).includes('agent updated from 1.0.0 to 1.1.0') || undefined), 20_000)
    t.equal(await versionOf(executable), '1.1.0', 'the executable in place is B')
    t.same(readFileSync(`${executable}.previous`), readFileSync(A.file), 'A is kept next to it')
    t.ok(agent.exits.slice(exitsBefore).includes(75), 'A exited with the restart code for the supervisor')
    t.notOk(JSON.parse(readFileSync(path.join(device, 'data/agent-update.json'), 'utf8')).pending, 'nothing left pending')
  })

  await t.test('a release that cannot bring its tunnel up is rolled back to the previous agent automatically', async (t) => {
    t.equal((await http.put(`/api/devices/${deviceId}/agent-target`, { version: '1.2.0' }, { token })).status, 200)
    await waitFor('the rollback reported', async () => ((await logText()).includes('agent update to 1.2.0 rolled back to 1.1.0') || undefined), 60_000)
    t.equal(await versionOf(executable), '1.1.0', 'B is back in place')
    t.match(await agentState(), { version: '1.1.0', target: '1.2.0', target_from: 'device' })
    t.match(await logText(), /no heartbeat accepted within 8 s/, 'with the reason')
    const state = JSON.parse(readFileSync(path.join(device, 'data/agent-update.json'), 'utf8'))
    t.ok(state.failed[broken.sha512], 'and the failed release is not tried again')
  })
  t.comment(`self-update test took ${Date.now() - started} ms`)
})

t.test('a kill -9 at each step of the swap leaves an executable that runs', async (t) => {
  const dir = path.join(work, 'swap')
  mkdirSync(dir)
  // The swap module, bundled once, run in a process that kills itself between two steps.
  const runner = path.join(dir, 'swap-until.cjs')
  await build({ entryPoints: [path.join(root, 'test/fixtures/swap-until.ts')], outfile: runner, bundle: true, platform: 'node', format: 'cjs', logLevel: 'warning' })
  const [A, B] = await Promise.all([buildAgentScript(path.join(dir, 'a'), '1.0.0'), buildAgentScript(path.join(dir, 'b'), '1.1.0')])
  const exe = path.join(dir, 'edgetainer-agent')
  let cases = 0
  for (const [which, count] of [...installSteps({ current: '', previous: '', incoming: '', link: '' }).map((_, i) => ['install', i] as const), ['install', 5] as const, ...rollbackSteps({ current: '', previous: '', incoming: '', link: '' }).map((_, i) => ['rollback', i + 1] as const)]) {
    for (const f of [exe, `${exe}.previous`, `${exe}.new`, `${exe}.link-tmp`]) rmSync(f, { force: true })
    if (which === 'install') {
      copyFileSync(A.file, exe)
      copyFileSync(B.file, `${exe}.new`)
    } else {
      // After an install: B in place, A kept.
      copyFileSync(B.file, exe)
      copyFileSync(A.file, `${exe}.previous`)
    }
    const killed = await run('env', ['-u', 'NODE_OPTIONS', 'node', runner, which, exe, String(count)]).then(
      () => 'exited',
      (err: { signal?: string }) => err.signal,
    )
    t.equal(killed, 'SIGKILL', `${which}: killed after ${count} step(s)`)
    const version = await versionOf(exe)
    t.ok(['1.0.0', '1.1.0'].includes(version), `${which} killed after ${count} step(s): the executable in place runs (${version})`)
    if (which === 'rollback' && existsSync(`${exe}.previous`)) t.equal(await versionOf(`${exe}.previous`), '1.0.0', 'and the kept one still runs')
    cases++
  }
  t.comment(`ran ${cases} kill points`)
})
