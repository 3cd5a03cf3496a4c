/**
 * CPU per heartbeat spent on the target revision, before and after the
 * cached revision (server/agent-api/target-revision.ts), in one run on one
 * database. "Before" is what every heartbeat did until now: resolve the
 * device's whole plan with secrets decrypted, list its services, hash it
 * all. "After" is one stamp query plus a cache lookup (a hit: the target did
 * not change, which is what nearly every heartbeat sees). The miss (stamp
 * plus a resolve) is printed too. PGlite in-process by default; set
 * DATABASE_URL to run against PostgreSQL.
 *
 *   npx tsx bench/agent-target/main.ts
 */
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createTargetRevisions } from '../../server/agent-api/target-revision.js'
import { createDeploymentStore } from '../../server/deployments/deployment-store.js'
import { createDeviceResolver } from '../../server/deployments/device-resolver.js'
import { migrateToLatest } from '../../server/db/migrate.js'
import { openDatabase } from '../../server/db/open-database.js'
import { createEnvCodec } from '../../server/env/env-codec.js'
import { createEnvStore } from '../../server/env/env-store.js'
import { createSecretBox } from '../../server/secrets/secret-box.js'
import { loadMasterKey } from '../../server/secrets/master-key.js'
import { createSoftwareStore } from '../../server/software/software-store.js'

const DEVICES = 20
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8)

const compose = (n: number) => `services:
${Array.from({ length: 4 }, (_, i) => `  svc${i}:\n    image: registry.example.com/app${n}/svc${i}:1.0\n    restart: unless-stopped\n    ports: ["${8000 + i}:80"]\n`).join('')}`

const dataDir = mkdtempSync(path.join(tmpdir(), 'et-bench-target-'))
const handle = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir })
const db = handle.db
await migrateToLatest(db)
const codec = createEnvCodec(createSecretBox(loadMasterKey({ dataDir }).derive('env-secrets')))
const envStore = createEnvStore({ db, codec })
const software = createSoftwareStore({ db, codec })
const deployments = createDeploymentStore({ db, software })
const resolver = createDeviceResolver({ db, codec, envStore, software, deployments })
const revisions = createTargetRevisions({ db })

// A fleet running three stacks of four services, with defaults, fleet and device variables (a third of them secrets).
const vars = (prefix: string, n: number) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}_${i}`, i % 3 === 0 ? { value: `secret-${prefix}-${i}`, secret: true } : `value-${prefix}-${i}`]))
const fleet = await db.insertInto('fleets').values({ name: 'bench' }).returning('id').executeTakeFirstOrThrow()
for (let s = 0; s < 3; s++) {
  const created = await software.create({ name: `app${s}`, docker_compose_yaml: compose(s), env_vars: { vars: vars(`SW${s}`, 10), services: { svc0: { vars: vars(`SV${s}`, 5) } } } } as never, 'bench')
  await deployments.deploy(created.software.id, { target: { fleetId: fleet.id } })
}
for (let i = 0; i < 4; i++) await envStore.put('fleet', fleet.id, `svc${i}`, vars(`FL${i}`, 8) as never)
const devices: string[] = []
for (let d = 0; d < DEVICES; d++) {
  const row = await db.insertInto('devices').values({ device_id: `dev-bench-${d}`, name: `bench ${d}`, fleet_id: fleet.id, subdomain: `bench-${d}` }).returning('id').executeTakeFirstOrThrow()
  await envStore.put('device', row.id, 'svc0', vars(`DV${d}`, 6) as never)
  devices.push(row.id)
}

/** What a heartbeat computed before: the whole plan, decrypted, and the services, hashed. */
async function before(id: string): Promise<string> {
  const [plan, services] = await Promise.all([
    resolver.resolveForDevice(id, { revealSecrets: true }),
    db.selectFrom('exposed_services').selectAll().where('device_id', '=', id).execute(),
  ])
  return createHash('sha256').update(JSON.stringify({ plan, services })).digest('hex').slice(0, 32)
}

/** What a heartbeat computes now, on a cache hit. */
async function after(id: string): Promise<string> {
  const stamp = (await revisions.stamp(id))!
  const hit = revisions.cached(id, stamp)
  if (hit) return hit
  const revision = await before(id)
  revisions.remember(id, stamp, revision)
  return revision
}

/** A miss: the stamp, then the resolve. */
async function miss(id: string): Promise<string> {
  await revisions.stamp(id)
  return before(id)
}

async function measure(fn: (id: string) => Promise<string>): Promise<{ cpuMs: number; wallMs: number; n: number }> {
  const cpu = process.cpuUsage()
  const start = performance.now()
  let n = 0
  for (let r = 0; r < ROUNDS; r++) for (const id of devices) (await fn(id), n++)
  const used = process.cpuUsage(cpu)
  return { cpuMs: (used.user + used.system) / 1000 / n, wallMs: (performance.now() - start) / n, n }
}

for (const id of devices) await after(id) // warm: every device cached, as after its first heartbeat
await before(devices[0]!)
const results: Record<string, { cpuMs: number; wallMs: number; n: number }> = {}
// Interleaved twice so drift on a shared machine hits both alike.
for (const pass of [1, 2]) {
  for (const [name, fn] of [['before (resolve + decrypt)', before], ['after (stamp, cache hit)', after], ['after (stamp, cache miss)', miss]] as const) {
    const r = await measure(fn)
    const prev = results[name]
    results[name] = prev ? { cpuMs: (prev.cpuMs + r.cpuMs) / 2, wallMs: (prev.wallMs + r.wallMs) / 2, n: prev.n + r.n } : r
  }
  void pass
}
const reference = results['before (resolve + decrypt)']!
console.log(`target revision per heartbeat, ${handle.description}, ${DEVICES} devices x 3 stacks x 4 services:`)
for (const [name, r] of Object.entries(results)) {
  console.log(`  ${name.padEnd(28)} ${r.cpuMs.toFixed(3)} ms CPU  ${r.wallMs.toFixed(3)} ms wall  (${r.n} calls)  ratio ${(r.cpuMs / reference.cpuMs).toFixed(2)}`)
}
await handle.close()
rmSync(dataDir, { recursive: true, force: true })
