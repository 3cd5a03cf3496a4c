import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { loadConfig } from '../../server/config/load-config.js'
import { createLogger } from '../../server/logger.js'
import { startServer, type RunningServer, type StartOptions } from '../../server/main.js'
import type { Role } from '../../server/db/schema.js'
import { createPostgresDatabase, type DialectName } from './databases.js'
import { pgliteSeed } from './database-templates.js'
import { createHttpClient, type HttpClient } from './http-client.js'
import { reservePortBlock } from './port-blocks.js'

export const ADMIN_PASSWORD = 'admin-password-for-tests'

/** scrypt at 2^10: fast enough for suites that log in many users, still a real scrypt hash. */
export const TEST_SCRYPT_COST = Object.freeze({ N: 2 ** 10, r: 8, p: 1 })

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface TestGateway {
  server: RunningServer
  http: HttpClient
  dataDir: string
  /** A session JWT for the bootstrap admin. */
  adminToken: string
  /** Creates a user with the role and returns a session JWT for it. */
  tokenFor(role: Role, username?: string): Promise<string>
}

/**
 * The environment of a throwaway test gateway: its own data dir (removed at teardown), port 0
 * on 127.0.0.1, its own device and TCP port blocks, the known admin password, quiet logs.
 * `overrides` win, so a test can pin ports or raise the log level.
 */
export function testGatewayEnv(t: Teardown, overrides: Record<string, string> = {}): Record<string, string> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'edgetainer-test-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  return {
    EDGETAINER_DATA_DIR: dataDir,
    EDGETAINER_HTTP_PORT: '0',
    EDGETAINER_SSH_PORT: '0',
    // Test files run in parallel: each gateway hands out device ports from a block of its own.
    EDGETAINER_SSH_PORT_RANGE: reservePortBlock(t, 20000, 100),
    EDGETAINER_TCP_PORT_RANGE: reservePortBlock(t, 30000, 27),
    EDGETAINER_BIND_ADDRESS: '127.0.0.1',
    EDGETAINER_ADMIN_PASSWORD: ADMIN_PASSWORD,
    EDGETAINER_LOG_LEVEL: process.env.EDGETAINER_TEST_LOG_LEVEL ?? 'silent',
    // A SIGTERM drains devices first (docs/cluster-operations.md): over a short window in tests, not 10 s.
    EDGETAINER_DRAIN_SPREAD_SECONDS: '0.2',
    ...overrides,
  }
}

/**
 * Starts a whole gateway the way `edgetainer server` does, on port 0 and
 * 127.0.0.1, with its own data dir and a fresh database of the given dialect.
 */
export async function startTestGateway(
  t: Teardown,
  dialect: DialectName,
  options: { env?: Record<string, string>; start?: StartOptions } = {},
): Promise<TestGateway> {
  const env = testGatewayEnv(t, options.env)
  const dataDir = env.EDGETAINER_DATA_DIR!
  if (dialect === 'postgres') env.DATABASE_URL = await createPostgresDatabase(t)
  const config = loadConfig({ env })
  const server = await startServer(config, createLogger(config.logLevel), {
    pgliteDir: dialect === 'pglite' ? 'memory://' : undefined,
    // Started from an already migrated PGlite: initdb and migrations are proven elsewhere, and cost seconds per gateway.
    // A test that keeps its own PGlite dir (a restart) starts it the usual way.
    pgliteSeed: dialect === 'pglite' && !options.start?.pgliteDir ? await pgliteSeed() : undefined,
    // scrypt at OWASP cost is half a CPU-second per hash; tests that do not test hashing use a cheap cost.
    // The OWASP default and the rehash to it are proven in passwords.test.ts and login-rate-limit.test.ts.
    passwordHashing: { cost: TEST_SCRYPT_COST },
    ...options.start,
  })
  t.teardown(async () => {
    // A close() that never ends would surface only as tap's anonymous timeout minutes later; name it instead.
    let timer: NodeJS.Timeout | undefined
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('the gateway did not close within 20 s (a listener waiting on an open connection?)')), 20_000)
    })
    await Promise.race([server.close(), stalled]).finally(() => clearTimeout(timer))
  })
  const http = createHttpClient(`http://127.0.0.1:${server.httpPort}`)

  async function login(username: string, password: string): Promise<string> {
    const res = await http.post('/api/auth/login', { username, password })
    if (res.status !== 200) throw new Error(`login as ${username} failed: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body.token
  }
  const adminToken = await login('admin', ADMIN_PASSWORD)
  let counter = 0
  return {
    server,
    http,
    dataDir,
    adminToken,
    async tokenFor(role, username = `${role}${++counter}`) {
      const password = `${username}-password-123`
      const res = await http.post('/api/users', { username, password, role }, { token: adminToken })
      if (res.status !== 201) throw new Error(`creating ${username} failed: ${res.status} ${JSON.stringify(res.body)}`)
      return login(username, password)
    },
  }
}
