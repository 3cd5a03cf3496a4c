import { execFile } from 'node:child_process'
import { chownSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { freePort } from './openssh.js'

const run = promisify(execFile)
const BIN = '/usr/lib/postgresql/15/bin'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface PrivatePostgres {
  /** `postgres://edgetainer@127.0.0.1:<port>/postgres` (trust auth, loopback only). */
  url: string
  port: number
  /** Stops the server (fast shutdown: sessions are terminated with 57P01, as in a real restart). */
  stop(): Promise<void>
  start(): Promise<void>
}

async function asPostgres(command: string, args: string[]): Promise<void> {
  await run('runuser', ['-u', 'postgres', '--', path.join(BIN, command), ...args], { timeout: 60_000 })
}

/**
 * A PostgreSQL cluster of the test's own (initdb + pg_ctl in a temp dir, on a
 * free port), for tests that stop and start the database: stopping the shared
 * server would break every other test running at the same time.
 */
export async function startPrivatePostgres(t: Teardown): Promise<PrivatePostgres> {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-pg-'))
  const { stdout } = await run('id', ['-u', 'postgres'])
  const uid = Number(stdout.trim())
  chownSync(dir, uid, uid)
  const data = path.join(dir, 'data')
  await asPostgres('initdb', ['-D', data, '-U', 'edgetainer', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'])
  const port = await freePort()
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`
  let running = false
  const pg: PrivatePostgres = {
    url: `postgres://edgetainer@127.0.0.1:${port}/postgres`,
    port,
    async start() {
      await asPostgres('pg_ctl', ['-D', data, '-o', options, '-l', path.join(dir, 'log'), '-w', '-t', '30', 'start'])
      running = true
    },
    async stop() {
      await asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop'])
      running = false
    },
  }
  t.teardown(async () => {
    if (running) await asPostgres('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  })
  await pg.start()
  return pg
}
