import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { spawnGateway } from '../lib/spawn-gateway.js'
import { testGatewayEnv } from '../lib/test-gateway.js'
import { repoRoot } from '../lib/repo-root.js'
import { EDGETAINER_BIN } from '../lib/remote-cli.js'

/** The real `edgetainer server`, as users start it, until it exits. */
async function edgetainerServer(env: Record<string, string>) {
  const child = spawn(EDGETAINER_BIN, ['server'], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
  })
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  child.stdout.resume()
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stderr }
}

t.test('a second gateway on one PGlite data dir is refused; a killed one does not block a restart', async (t) => {
  const env = testGatewayEnv(t)
  const lockFile = path.join(env.EDGETAINER_DATA_DIR!, 'pglite.lock')
  const first = await spawnGateway(t, env)
  t.equal(readFileSync(lockFile, 'utf8').trim(), String(first.child.pid), 'the running gateway holds the lock')

  const second = await edgetainerServer(env)
  t.equal(second.code, 1, 'the second process exits 1')
  t.equal(second.stderr.trim().split('\n').length, 1, 'with one line')
  t.equal(
    second.stderr.trim(),
    `edgetainer: the embedded database in ${path.join(env.EDGETAINER_DATA_DIR!, 'pglite')} is in use by another edgetainer process (pid ${first.child.pid}); run one gateway per data dir, or use PostgreSQL (DATABASE_URL) to run several`,
  )
  t.equal(first.child.exitCode, null, 'the first gateway still runs')

  // kill -9 leaves the lock file behind; its pid no longer runs, so a restart takes it over.
  await first.stop('SIGKILL')
  t.ok(existsSync(lockFile), 'the killed gateway left its lock file')
  const restarted = await spawnGateway(t, env)
  t.equal(readFileSync(lockFile, 'utf8').trim(), String(restarted.child.pid), 'the restarted gateway took the stale lock over')
  const health = await fetch(`http://127.0.0.1:${restarted.httpPort}/healthz`)
  t.equal(health.status, 200, 'and serves on the data dir the killed one left')

  // A clean shutdown releases it.
  await restarted.stop('SIGTERM')
  t.equal(restarted.child.exitCode, 0)
  t.notOk(existsSync(lockFile), 'a clean shutdown removes the lock')
})
