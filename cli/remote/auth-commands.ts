import { hostname, userInfo } from 'node:os'
import type { Command } from 'commander'
import { createdApiToken, loginAnswer, meAnswer, noContent } from './api-schemas.js'
import { CliError, EXIT, usageError } from './cli-error.js'
import { remote, remoteCommand } from './command-runner.js'
import { printFields, printJson } from './output.js'
import type { RemoteContext } from './remote-context.js'
import { readStdinValue } from './stdin-text.js'

interface LoginOptions {
  username?: string
  passwordStdin?: boolean
  tokenStdin?: boolean
  expiresInDays?: string
  json?: boolean
}

function whoOnThisMachine(): string {
  try {
    return `${userInfo().username}@${hostname()}`
  } catch {
    return hostname()
  }
}

/** Revokes the CLI's previous token on that gateway: a second login leaves one token behind, not two. */
async function revokePrevious(ctx: RemoteContext, url: string): Promise<void> {
  const previous = (() => {
    try {
      return ctx.config.read()
    } catch {
      return undefined
    }
  })()
  if (!previous?.token_id || previous.url !== url) return
  await ctx.anonymous(url, previous.token).delete(noContent, `/api/tokens/${encodeURIComponent(previous.token_id)}`).catch(() => {})
}

async function login(ctx: RemoteContext, url: string, opts: LoginOptions) {
  if (opts.passwordStdin && opts.tokenStdin) throw usageError('give --password-stdin or --token-stdin, not both')
  if (!opts.passwordStdin && !opts.tokenStdin) throw usageError('give --username U --password-stdin, or --token-stdin (the secret is read from stdin, never from the command line)')
  let days: number | undefined
  if (opts.expiresInDays !== undefined) {
    days = Number(opts.expiresInDays)
    if (!Number.isInteger(days) || days < 1 || days > 3650) throw usageError('--expires-in-days must be a whole number of days from 1 to 3650')
  }
  const gateway = ctx.anonymous(url)

  if (opts.tokenStdin) {
    const token = await readStdinValue('the API token')
    if (!token) throw usageError('the API token on stdin is empty')
    const me = await ctx.anonymous(gateway.baseUrl, token).get(meAnswer, '/api/auth/me')
    await revokePrevious(ctx, gateway.baseUrl)
    // A token the user brought stays theirs: logout forgets it but does not revoke it.
    ctx.config.write({ url: gateway.baseUrl, token, username: me.username, token_id: null, created_at: new Date().toISOString() })
    return report(ctx, opts, { url: gateway.baseUrl, username: me.username, role: me.role, token_prefix: token.slice(0, 9) })
  }

  if (!opts.username) throw usageError('--password-stdin needs --username')
  const password = await readStdinValue('the password')
  if (!password) throw usageError('the password on stdin is empty')
  const session = await gateway.post(loginAnswer, '/api/auth/login', { username: opts.username, password }, { auth: false })
  const asSession = ctx.anonymous(gateway.baseUrl, session.token)
  // The CLI keeps a named API token, never the password: it shows up (and can be revoked) in the console's token list.
  const created = await asSession.post(createdApiToken, '/api/tokens', { description: `edgetainer CLI (${whoOnThisMachine()})`.slice(0, 200), ...(days ? { expires_in_days: days } : {}) })
  // The session JWT is not needed any more.
  await asSession.post(noContent, '/api/auth/logout').catch(() => {})
  await revokePrevious(ctx, gateway.baseUrl)
  ctx.config.write({ url: gateway.baseUrl, token: created.token, username: session.user.username, token_id: created.id, created_at: new Date().toISOString() })
  return report(ctx, opts, { url: gateway.baseUrl, username: session.user.username, role: session.user.role, token_prefix: created.prefix, token_expires_at: created.expires_at })
}

function report(ctx: RemoteContext, opts: { json?: boolean }, summary: Record<string, unknown>) {
  if (opts.json) return printJson(ctx.io, { ...summary, config_file: ctx.config.file })
  ctx.io.out(`logged in to ${summary.url} as ${summary.username} (${summary.role}); API token ${summary.token_prefix}… stored in ${ctx.config.file}\n`)
}

async function logout(ctx: RemoteContext, opts: { json?: boolean }) {
  const saved = ctx.config.read()
  if (!saved) {
    if (opts.json) printJson(ctx.io, { logged_out: false })
    else ctx.io.out('not logged in\n')
    return
  }
  let revokeError: unknown
  if (saved.token_id) {
    await ctx
      .anonymous(saved.url, saved.token)
      .delete(noContent, `/api/tokens/${encodeURIComponent(saved.token_id)}`)
      .catch((err: unknown) => {
        // Already revoked or expired: nothing left to revoke.
        if (!(err instanceof CliError && (err.exitCode === EXIT.notFound || err.exitCode === EXIT.auth))) revokeError = err
      })
  }
  ctx.config.remove()
  if (revokeError) {
    const why = revokeError instanceof Error ? revokeError.message : String(revokeError)
    throw new CliError(EXIT.server, `logged out here, but the API token could not be revoked on ${saved.url} (${why}); revoke it in the console`)
  }
  if (opts.json) printJson(ctx.io, { logged_out: true, url: saved.url, token_revoked: Boolean(saved.token_id) })
  else ctx.io.out(`logged out of ${saved.url}${saved.token_id ? '; its API token is revoked' : ''}\n`)
}

async function whoami(ctx: RemoteContext, opts: { json?: boolean }) {
  const api = ctx.client()
  const me = await api.get(meAnswer, '/api/auth/me')
  if (opts.json) return printJson(ctx.io, { url: api.baseUrl, id: me.id, username: me.username, role: me.role, authenticated_via: me.authenticated_via ?? null })
  printFields(ctx.io, [
    ['user', me.username],
    ['role', me.role],
    ['gateway', api.baseUrl],
  ])
}

export function registerAuthCommands(program: Command) {
  remoteCommand(program, 'login <url>', 'log in to a gateway; stores a named API token (never the password) in the config dir')
    .option('-u, --username <name>', 'user name (with --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .option('--token-stdin', 'read an existing API token from stdin instead')
    .option('--expires-in-days <days>', 'lifetime of the API token the CLI creates (default: no expiry)')
    .action(remote(login))
  remoteCommand(program, 'logout', "revoke the CLI's API token and forget the login").action(remote(logout))
  remoteCommand(program, 'whoami', 'show the user and gateway the CLI is logged in to').action(remote(whoami))
}
