import { createInterface } from 'node:readline/promises'
import type { Command, Option } from 'commander'
import { loadConfig } from '../server/config/load-config.js'
import { openDatabase } from '../server/db/open-database.js'
import { migrateToLatest } from '../server/db/migrate.js'
import { createUserStore, type UserStore } from '../server/users/user-store.js'
import { createSessionTokens } from '../server/auth/session-tokens.js'
import { generatePassword } from '../server/auth/passwords.js'
import { roles } from '../server/auth/roles.js'
import type { Role } from '../server/db/schema.js'
import { ValidationError } from '../server/errors.js'

async function withUsers<T>(configFile: string | undefined, fn: (users: UserStore, revokeSessions: (id: string) => Promise<void>) => Promise<T>): Promise<T> {
  const config = loadConfig({ file: configFile })
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir })
  try {
    await migrateToLatest(database.db)
    // Revocation needs only the sessions table, not the signing key.
    const sessions = createSessionTokens({ db: database.db, signingKey: Buffer.alloc(32), ttlSeconds: 1 })
    return await fn(createUserStore({ db: database.db }), sessions.revokeAllForUser)
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
      await withUsers(opts.config, (users) => users.create({ username, email: opts.email, password, role: opts.role as Role }))
      process.stdout.write(`created ${opts.role} ${username}${generated ? ` with password ${password}` : ''}\n`)
    })

  user
    .command('passwd <username>')
    .description("set a user's password (generated unless --password-stdin) and end their sessions")
    .addOption(configOption)
    .option('--password-stdin', 'read the password from standard input')
    .action(async (username: string, opts: { config?: string; passwordStdin?: boolean }) => {
      const { password, generated } = await readPassword(opts.passwordStdin)
      await withUsers(opts.config, async (users, revokeSessions) => {
        const found = await users.findByUsername(username)
        if (!found) throw new ValidationError('username', `no user ${username}`)
        await users.update(found.id, { password })
        await revokeSessions(found.id)
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
