import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { createPostgresDatabase } from '../lib/databases.js'

const run = promisify(execFile)
const bin = path.resolve('bin/edgetainer')

async function cli(args: string[], env: Record<string, string>, input?: string) {
  const child = spawn(bin, args, { env: { PATH: process.env.PATH!, ...env } })
  if (input !== undefined) child.stdin.end(input)
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, stdout, stderr }
}

t.test('a bad config value stops the server with one line and exit 1', async (t) => {
  const res = await cli(['server'], { EDGETAINER_HTTP_PORT: 'eighty', EDGETAINER_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'et-cli-')) })
  t.equal(res.code, 1)
  t.equal(res.stderr.trim().split('\n').length, 1, 'one line')
  t.match(res.stderr, /^edgetainer: invalid config value for EDGETAINER_HTTP_PORT \(http_port\)/)
  t.notMatch(res.stderr, /\n\s+at /, 'no stack')
})

t.test('an unreachable DATABASE_URL stops the server with one line and exit 1', async (t) => {
  const res = await cli(['server'], { DATABASE_URL: 'postgres://nobody:pw@127.0.0.1:9/none', EDGETAINER_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'et-cli-')) })
  t.equal(res.code, 1)
  t.equal(res.stderr.trim().split('\n').length, 1)
  t.match(res.stderr, /^edgetainer: cannot connect to PostgreSQL at 127\.0\.0\.1:9\/none: ECONNREFUSED/)
  t.notMatch(res.stderr, /pw/, 'no password in the message')
})

t.test('migrate, user add and user passwd work against PostgreSQL', async (t) => {
  const env = { DATABASE_URL: await createPostgresDatabase(t, { empty: true }), EDGETAINER_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'et-cli-')) }
  const migrate = await cli(['migrate'], env)
  t.equal(migrate.code, 0)
  t.match(migrate.stdout, /applied 0001-initial/)
  t.match((await cli(['migrate'], env)).stdout, /up to date/)
  const add = await cli(['user', 'add', 'field-lead', '--role', 'operator', '--password-stdin'], env, 'a-long-enough-password\n')
  t.equal(add.code, 0, add.stderr)
  t.match(add.stdout, /created operator field-lead/)
  t.notMatch(add.stdout, /a-long-enough-password/, 'a password given on stdin is not echoed')
  const generated = await cli(['user', 'add', 'auditor'], env)
  t.match(generated.stdout, /created viewer auditor with password \S{20,}/)
  const badRole = await cli(['user', 'add', 'x1', '--role', 'root'], env)
  t.equal(badRole.code, 1)
  t.match(badRole.stderr, /role: must be one of/)
  const list = await cli(['user', 'list'], env)
  t.match(list.stdout, /field-lead\toperator/)
  const dup = await cli(['user', 'add', 'field-lead'], env)
  t.equal(dup.code, 1)
  t.match(dup.stderr, /already exists/)
  const passwd = await cli(['user', 'passwd', 'field-lead'], env)
  t.match(passwd.stdout, /password of field-lead changed to \S{20,}/)
})

t.test('--help lists the subcommands and no stubs', async (t) => {
  const { stdout } = await run(bin, ['--help'])
  for (const cmd of ['server', 'migrate', 'user']) t.match(stdout, new RegExp(`\\n  ${cmd}`))
})
