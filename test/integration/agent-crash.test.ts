import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as delay } from 'node:timers/promises'
import t from 'tap'
import { stringify } from 'yaml'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { waitFor } from '../lib/openssh.js'
import { registrationToken, removeAgentContainers } from '../lib/test-agent.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { repoRoot } from '../lib/repo-root.js'

const root = repoRoot
/** 16 keeps the file near a minute on a loaded machine (each start of the bundle costs seconds there); CRASH_KILLS=50 for a longer soak. */
const KILLS = Number(process.env.CRASH_KILLS ?? 16)

const compose = (n: number) => `services:
  app:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sh", "-c", "echo release ${n}; exec sleep 100000"]
`

interface DeployEvent {
  seq: number
  kind: string
  name: string
  version: string
  status: string
}

/** The deploy results in the outbox file right now (a line being written at this instant is skipped). */
function deployEventsOnDisk(dataDir: string): DeployEvent[] {
  let text = ''
  try {
    text = readFileSync(path.join(dataDir, 'outbox', 'events.log'), 'utf8')
  } catch {
    return []
  }
  const out: DeployEvent[] = []
  for (const line of text.split('\n')) {
    try {
      const e = JSON.parse(line) as DeployEvent
      if (e.kind === 'deploy') out.push(e)
    } catch {
      // Torn by our read racing the writer.
    }
  }
  return out
}

function readKey(dataDir: string): string | undefined {
  try {
    return readFileSync(path.join(dataDir, 'identity', 'id_ed25519.pub'), 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

/**
 * The real agent (the same bundle the single executable carries, run by
 * node) is killed with SIGKILL at random moments, twenty times, while it
 * registers, writes its identity, deploys and fills its outbox. Afterwards
 * every deploy result that ever reached its outbox file has arrived at the
 * gateway exactly once (one row per outbox seq, no gap, no repeat), the
 * outbox is the same one throughout, and the device still has the key it
 * registered with.
 */
t.test('kill -9 at random moments loses no deploy result and never regenerates the key', async (t) => {
  ensureTestImage()
  const work = mkdtempSync(path.join(tmpdir(), 'et-agent-crash-'))
  const dataDir = path.join(work, 'data')
  t.teardown(() => {
    removeAgentContainers(dataDir)
    rmSync(work, { recursive: true, force: true })
  })
  const bundle = path.join(work, 'agent.cjs')
  execFileSync(process.execPath, ['scripts/bundle-agent.mjs', 'cli/agent-executable.ts', bundle], { cwd: root, stdio: 'ignore' })

  const gw = await startTestGateway(t, 'postgres', { start: { agentHeartbeatSeconds: 1 } })
  const { http, adminToken: token } = gw
  const address = { http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }
  const fleet = (await http.post('/api/fleets', { name: 'crashy' }, { token })).body
  const software = (await http.post('/api/software', { name: 'crashy', docker_compose_yaml: compose(1) }, { token })).body
  t.equal((await http.post(`/api/software/${software.id}/deploy`, { fleet_id: fleet.id }, { token })).status, 201)
  // One use only: a device that lost its key could not register again unnoticed.
  const value = await registrationToken(address, fleet.id, { max_uses: 1 })
  const configFile = path.join(work, 'agent.yaml')
  writeFileSync(
    configFile,
    stringify({
      server_url: http.baseUrl,
      ssh_host: '127.0.0.1',
      ssh_port: gw.server.sshPort,
      host_key: gw.server.hostPublicKey,
      token: value,
      data_dir: dataDir,
      reconnect_base_seconds: 0.1,
      reconnect_max_seconds: 1,
      heartbeat_seconds: 1,
      watch_seconds: 0.5,
      deploy_timeout_seconds: 30,
      deploy_stable_seconds: 0,
      log_level: 'warn',
    }),
  )

  let stderr = ''
  const children = new Set<ChildProcess>()
  t.teardown(() => children.forEach((c) => c.kill('SIGKILL')))
  function startAgent(): { child: ChildProcess; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
    const child = spawn(process.execPath, [bundle, 'agent', '--config', configFile], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] })
    children.add(child)
    child.stderr!.on('data', (d) => (stderr += d))
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => {
        children.delete(child)
        resolve({ code, signal })
      }),
    )
    return { child, exited }
  }

  // New releases keep coming, so deploys (and their results) are in flight whenever a kill lands.
  let release = 1
  let releasing = true
  const releases = (async () => {
    while (releasing) {
      await delay(1500)
      if (!releasing) break
      const res = await http.put(`/api/software/${software.id}`, { docker_compose_yaml: compose(++release) }, { token })
      if (res.status !== 200) throw new Error(`release ${release}: ${res.status} ${JSON.stringify(res.body)}`)
    }
  })()

  const seed = Number(process.env.CRASH_SEED ?? Date.now() % 1_000_000)
  let state = seed
  const random = () => ((state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  t.comment(`seed ${seed} (CRASH_SEED reproduces the kill moments)`)
  const started = Date.now()
  const seenOnDisk = new Map<number, DeployEvent>()
  const keys = new Set<string>()
  const exits: string[] = []
  const online = () => gw.server.tunnels.size > 0
  for (let i = 0; i < KILLS; i++) {
    const { child, exited } = startAgent()
    // The first kills land in key generation and registration (the identity dir just appeared);
    // the rest once the tunnel is up, in syncs, deploys and outbox writes.
    if (i < 4) {
      await waitFor('identity being written', () => existsSync(path.join(dataDir, 'identity')), 30_000)
      await delay(random() * 150)
    } else if (i % 2 === 0) {
      await waitFor('tunnel up', online, 30_000)
      // A deploy now reports each phase (downloading, installing, verifying): leave it time to get that far.
      await delay(400 + random() * 2400)
    } else {
      // Every other kill lands the moment a new deploy result reaches the outbox file, so results written
      // just before a crash are always among the cases, however slow deploys are on a loaded machine.
      await waitFor('tunnel up', online, 30_000)
      await waitFor('a new deploy result in the outbox file', () => deployEventsOnDisk(dataDir).some((e) => !seenOnDisk.has(e.seq)), 60_000, 5)
    }
    for (const e of deployEventsOnDisk(dataDir)) seenOnDisk.set(e.seq, e)
    child.kill('SIGKILL')
    const { code, signal } = await exited
    exits.push(signal ?? `code ${code}`)
    const key = readKey(dataDir)
    if (key) keys.add(`${i}:${key}`)
    await waitFor('tunnel gone', () => !online(), 10_000)
  }
  releasing = false
  await releases
  t.comment(`${KILLS} kills in ${Date.now() - started} ms`)
  t.same(exits, Array(KILLS).fill('SIGKILL'), `every run ended by our SIGKILL, none refused to start: ${stderr.slice(-500)}`)

  // One last start, left alone: it must catch up with the newest release and deliver everything.
  const last = startAgent()
  const deviceId = await waitFor('registered', () => {
    try {
      return (JSON.parse(readFileSync(path.join(dataDir, 'identity', 'registration.json'), 'utf8')) as { device_id: string }).device_id
    } catch {
      return undefined
    }
  }, 30_000)
  const device = (await http.get(`/api/devices/${deviceId}`, { token })).body
  const db = gw.server.database.db
  await waitFor(
    `release ${release} running`,
    async () => {
      const row = await db.selectFrom('device_software_status').selectAll().where('device_id', '=', device.id).executeTakeFirst()
      return row?.status === 'running' && row.version === String(release)
    },
    60_000,
  )
  const meta = () => JSON.parse(readFileSync(path.join(dataDir, 'outbox', 'meta.json'), 'utf8')) as { id: string; acked_seq: number }
  // Drained: the gateway's cursor covers every event in the file (acknowledged lines stay until a compaction).
  await waitFor(
    'outbox drained',
    async () => {
      const cursor = await db.selectFrom('agent_outbox_cursors').select('last_seq').where('device_id', '=', device.id).executeTakeFirst()
      const lines = readFileSync(path.join(dataDir, 'outbox', 'events.log'), 'utf8').split('\n').filter(Boolean)
      const newest = lines.length ? (JSON.parse(lines.at(-1)!) as { seq: number }).seq : 0
      return cursor && Number(cursor.last_seq) >= newest && meta().acked_seq === Number(cursor.last_seq)
    },
    30_000,
  )
  t.comment(`settled ${Date.now() - started} ms after the first start`)
  last.child.kill('SIGTERM')
  await last.exited

  await t.test('the key was never regenerated and the token registered one device', async (t) => {
    const final = readKey(dataDir)!
    t.ok(keys.size >= KILLS - 4, `the key was on disk after ${keys.size} of ${KILLS} kills`)
    t.same([...new Set([...keys].map((k) => k.split(':')[1]))], [final], 'the same public key after every kill')
    t.equal(device.public_key, final, 'and it is the key the gateway registered')
    t.equal((await http.get(`/api/devices?fleet_id=${fleet.id}`, { token })).body.total, 1, 'one device')
    const audit = await db.selectFrom('audit_log').selectAll().where('action', '=', 'device.register').execute()
    t.equal(audit.length, 1, 'registered once (audited in the registration transaction)')
  })

  await t.test('every deploy result arrived exactly once: one outbox, no gap, no repeat', async (t) => {
    const cursor = await db.selectFrom('agent_outbox_cursors').selectAll().where('device_id', '=', device.id).executeTakeFirstOrThrow()
    t.equal(cursor.outbox_id, meta().id, 'the outbox survived every kill (its id never changed)')
    const rows = await db.selectFrom('device_logs').select(['seq', 'log_type', 'message']).where('device_id', '=', device.id).where('seq', 'is not', null).orderBy('seq').execute()
    const seqs = rows.filter((r) => r.log_type !== 'dropped' && r.log_type !== 'rejected').map((r) => Number(r.seq))
    t.same(seqs, Array.from({ length: Number(cursor.last_seq) }, (_, i) => i + 1), `seq 1..${cursor.last_seq}, each once`)
    const deploys = new Map(rows.filter((r) => r.log_type === 'deploy').map((r) => [Number(r.seq), r.message]))
    t.ok(seenOnDisk.size >= 2, `${seenOnDisk.size} deploy results were caught on disk between kills`)
    const missing = [...seenOnDisk.values()].filter((e) => deploys.get(e.seq)?.startsWith(`${e.name} ${e.version}: ${e.status}`) !== true)
    t.same(missing, [], 'every deploy result seen in the outbox file arrived, as written')
    t.comment(`${deploys.size} deploy results delivered over ${KILLS} kills; last seq ${cursor.last_seq}; releases ${release}`)
  })
})
