import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { createFromPostgresTemplate } from './database-templates.js'

export type DialectName = 'postgres' | 'pglite'

/** Both dialects run every database suite (DESIGN.md). */
export const dialects: readonly DialectName[] = ['postgres', 'pglite']

function adminUrl(): string {
  const url = process.env.EDGETAINER_TEST_PG_URL
  // Not a skip: without PostgreSQL the suite is not complete, so it fails loudly.
  if (!url) throw new Error('EDGETAINER_TEST_PG_URL is not set; run the suite with `make test` (scripts/run-tests.sh)')
  return url
}

/**
 * A fresh PostgreSQL database for one test, dropped again at teardown. It is
 * a copy of an already migrated template (see database-templates.ts) unless
 * the test asks for an `empty` one, e.g. to run the migrations itself.
 */
export async function createPostgresDatabase(t: { teardown(fn: () => Promise<void>): void }, options: { empty?: boolean } = {}): Promise<string> {
  const name = `et_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl() })
  await admin.connect()
  try {
    if (options.empty) await admin.query(`create database ${name}`)
    else await createFromPostgresTemplate(admin, adminUrl(), name)
  } finally {
    await admin.end()
  }
  t.teardown(async () => {
    const c = new pg.Client({ connectionString: adminUrl() })
    await c.connect()
    // Ended whatever the drop does: an open client would hold the test file until its timeout.
    try {
      await c.query(`drop database if exists ${name} with (force)`)
    } finally {
      await c.end()
    }
  })
  const url = new URL(adminUrl())
  url.pathname = `/${name}`
  return url.toString()
}
