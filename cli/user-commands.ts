import { userInfo } from 'node:os'
import { createInterface } from 'node:readline/promises'
import type { Command, Option } from 'commander'
import { loadConfig } from '../server/config/load-config.js'
import { openDatabase } from '../server/db/open-database.js'
import { migrateToLatest } from '../server/db/migrate.js'
import { createUserStore, type UserStore } from '../server/users/user-store.js'
import { createAuditLog, type AuditEntry } from '../server/audit/audit-log.js'
import { generatePassword } from '../server/auth/passwords.js'
import { roles } from '../server/auth/roles.js'
import type { Role } from '../server/db/schema.js'
import { ValidationError } from '../server/errors.js'

type CliAudit = (entry: Pick<AuditEntry, 'action' | 'targetId' | 'details'>) => Promise<void>

/** Who ran the CLI, as the audit log names them: there is no console user, so the OS account stands in. */
function cliActor(): string {
  try {
    return `cli:${userInfo().username}`
  } catch {
    return 'cli'
  }
}

/**
 * Runs `fn` in one transaction with a user store and an audit writer on it, so
 * a user change made from the CLI is audited like one made in the console, and
 * the change and its audit row commit together.
 */
async function withUsers<T>(configFile: string | undefined, fn: (users: UserStore, audit: CliAudit) => Promise<T>): Promise<T> {
  const config = loadConfig({ file: configFile })
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir })
  try {
    await migrateToLatest(database.db)
    const actor = cliActor()
    return await database.db.transaction().execute((trx) => {
      const auditLog = createAuditLog({ db: trx })
      const audit: CliAudit = (entry) => auditLog.record({ ...entry, actorUserId: null, actor, targetType: 'user', details: { ...entry.details, via: 'cli' } })
      return fn(createUserStore({ db: trx }), audit)
    })
  } finally {
    await database.close()
  }
}

/** A password from --password-stdin, or a generated one that is printed once. */
async function readPassword(fromStdin: boolean | undefined): Promise<{ password: string; generated: boolean }> {
  if (!fromStdin) return { password: generatePassword(), generated: true }
  const rl = createInterface({ input: process.stdin })
  const line = (await rl[Symbol.asyncIterator]().next()).value as string | undefined
  rl.close()
  const password = (line ?? '').trim()
  if (password.length < 10) throw new ValidationError('password', 'must be at least 10 characters')
  return { password, generated: false }
}

export function registerUserCommands(program: Command, configOption: Option) {
  const user = program.command('user').description('manage console users')

  user
    .command('add <username>')
    .description('create a user; prints a generated password unless --password-stdin is given')
    .addOption(configOption)
    .option('--role <role>', `one of ${roles.join(', ')}`, 'viewer')
    .option('--email <email>', 'contact address')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (username: string, opts: { config?: string; role: string; email?: string; passwordStdin?: boolean }) => {
      if (!(roles as readonly string[]).includes(opts.role)) throw new ValidationError('role', `must be one of ${roles.join(', ')}`)
      if (!/^[a-zA-Z0-9][a-zA-Z0-9._-]{1,63}$/.test(username)) throw new ValidationError('username', 'must be 2-64 letters, digits, dot, dash or underscore')
      const { password, generated } = await readPassword(opts.passwordStdin)
      await withUsers(opts.config, async (users, audit) => {
        const created = await users.create({ username, email: opts.email, password, role: opts.role as Role })
        await audit({ action: 'user.create', targetId: created.id, details: { username, role: created.role } })
      })
      process.stdout.write(`created ${opts.role} ${username}${generated ? ` with password ${password}` : ''}\n`)
    })

  user
    .command('passwd <username>')
    .description("set a user's password (generated unless --password-stdin) and end their sessions and API tokens")
    .addOption(configOption)
    .option('--password-stdin', 'read the password from standard input')
    .action(async (username: string, opts: { config?: string; passwordStdin?: boolean }) => {
      const { password, generated } = await readPassword(opts.passwordStdin)
      await withUsers(opts.config, async (users, audit) => {
        const found = await users.findByUsername(username)
        if (!found) throw new ValidationError('username', `no user ${username}`)
        await users.update(found.id, { password })
        // Nothing issued under the old password keeps working; running gateways close open terminals within their re-check interval.
        const revoked = await users.revokeCredentials(found.id, { apiTokens: true })
        await audit({ action: 'user.update', targetId: found.id, details: { username, fields: ['password'], revoked_sessions: revoked.sessions, revoked_api_tokens: revoked.apiTokens } })
      })
      process.stdout.write(`password of ${username} changed${generated ? ` to ${password}` : ''}\n`)
    })

  user
    .command('list')
    .description('list users')
    .addOption(configOption)
    .action(async (opts: { config?: string }) => {
      const { items } = await withUsers(opts.config, (users) => users.list({ limit: 500, offset: 0 }))
      for (const u of items) process.stdout.write(`${u.username}\t${u.role}${u.disabled ? '\tdisabled' : ''}\n`)
    })
}
