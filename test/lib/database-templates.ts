import { createHash, randomBytes } from 'node:crypto'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { migrateToLatest } from '../../server/db/migrate.js'
import { PGliteDialect } from '../../server/db/pglite-dialect.js'
import type { Database } from '../../server/db/schema.js'
import { repoRoot } from './repo-root.js'

/**
 * Already migrated databases for tests to start from. An embedded PGlite's
 * initdb costs seconds of CPU and the migrations more, and the suite starts
 * dozens of gateways: each template is built once per content of migrations/
 * (by the first test process that needs it) and copied from then on. The
 * migrations themselves are still proven from empty databases: the CLI's
 * `migrate` test uses empty ones.
 */
const root = repoRoot
const cacheDir = path.join(tmpdir(), 'edgetainer-test-templates')

let memoHash: string | undefined
/** Changes with any migration and with the PGlite release (its data dir format). */
function schemaHash(): string {
  if (memoHash) return memoHash
  const hash = createHash('sha256')
  const dir = path.join(root, 'migrations')
  for (const name of readdirSync(dir).sort()) hash.update(name).update(readFileSync(path.join(dir, name)))
  hash.update(readFileSync(path.join(root, 'node_modules/@electric-sql/pglite/package.json')))
  memoHash = hash.digest('hex').slice(0, 16)
  return memoHash
}

async function migratedPglite(dir: string): Promise<PGlite> {
  const pglite = await PGlite.create(dir)
  await migrateToLatest(new Kysely<Database>({ dialect: new PGliteDialect(pglite) }))
  return pglite
}

/** Writes a finished file or directory into place in one step; a process that lost the race keeps the winner's. */
function publish(built: string, target: string): void {
  try {
    renameSync(built, target)
  } catch {
    rmSync(built, { recursive: true, force: true })
  }
}

let seed: Promise<Blob> | undefined
/** A dump of a migrated in-memory PGlite, for `startServer({ pgliteDir: 'memory://', pgliteSeed })`. */
export function pgliteSeed(): Promise<Blob> {
  seed ??= (async () => {
    const file = path.join(cacheDir, `pglite-${schemaHash()}.tar`)
    if (!existsSync(file)) {
      mkdirSync(cacheDir, { recursive: true })
      const pglite = await migratedPglite('memory://')
      const dump = await pglite.dumpDataDir('none')
      await pglite.close()
      const building = `${file}.${randomBytes(4).toString('hex')}`
      writeFileSync(building, Buffer.from(await dump.arrayBuffer()))
      publish(building, file)
    }
    return new Blob([readFileSync(file)])
  })()
  return seed
}

/** Fills `<dataDir>/pglite` with a migrated PGlite, for gateways in their own process. */
export async function seedPgliteDataDir(dataDir: string): Promise<void> {
  const template = path.join(cacheDir, `pglite-dir-${schemaHash()}`)
  if (!existsSync(template)) {
    mkdirSync(cacheDir, { recursive: true })
    const building = `${template}.${randomBytes(4).toString('hex')}`
    await (await migratedPglite(building)).close()
    publish(building, template)
  }
  cpSync(template, path.join(dataDir, 'pglite'), { recursive: true })
}

/** Any number that all test processes agree on: it names the advisory lock under which templates are built and copied. */
const TEMPLATE_LOCK = 7_305_119

/**
 * Creates database `name` as a copy of a migrated template, building the
 * template first if this schema has none. Every step runs under one
 * advisory lock: PostgreSQL refuses to copy a template another session is
 * connected to, so no copy may overlap the build.
 */
export async function createFromPostgresTemplate(admin: pg.Client, adminUrl: string, name: string): Promise<void> {
  const template = `et_template_${schemaHash()}`
  await admin.query('select pg_advisory_lock($1)', [TEMPLATE_LOCK])
  try {
    const found = await admin.query('select 1 from pg_database where datname = $1', [template])
    if (!found.rowCount) await buildPostgresTemplate(admin, adminUrl, template)
    await admin.query(`create database ${name} template ${template}`)
  } finally {
    await admin.query('select pg_advisory_unlock($1)', [TEMPLATE_LOCK])
  }
}

async function buildPostgresTemplate(admin: pg.Client, adminUrl: string, template: string): Promise<void> {
  // Templates of older schemas are dead weight; a half-built one (a killed run) is rebuilt.
  const stale = await admin.query(`select datname from pg_database where datname like 'et\\_template\\_%'`)
  for (const row of stale.rows as { datname: string }[]) await admin.query(`drop database if exists ${row.datname} with (force)`)
  const building = `${template}_wip`
  await admin.query(`create database ${building}`)
  const url = new URL(adminUrl)
  url.pathname = `/${building}`
  const pool = new pg.Pool({ connectionString: url.toString(), max: 1 })
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  try {
    await migrateToLatest(db)
  } finally {
    await db.destroy()
  }
  await admin.query(`alter database ${building} rename to ${template}`)
}
