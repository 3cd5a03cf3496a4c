import type { Command } from 'commander'
import { apiTokenList, createdApiToken, createdProvisionToken, noContent, provisionTokenList } from './api-schemas.js'
import { CliError, EXIT, oneLine, usageError } from './cli-error.js'
import { remote, remoteCommand, remoteGroup } from './command-runner.js'
import { printJson, printTable } from './output.js'
import type { RemoteContext } from './remote-context.js'
import { fleetId } from './resolve.js'

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function wholeNumber(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < min || n > max) throw usageError(`${flag} must be a whole number from ${min} to ${max}`)
  return n
}

/** The caller's API tokens; the one this CLI logged in with is marked. */
async function listApi(ctx: RemoteContext, opts: { json?: boolean }) {
  const { items } = await ctx.client().get(apiTokenList, '/api/tokens')
  const mine = ctx.env.EDGETAINER_TOKEN ? undefined : ctx.config.read()?.token_id
  if (opts.json) return printJson(ctx.io, items.map((t) => ({ ...t, this_cli: t.id === mine })))
  printTable(
    ctx.io,
    ['ID', 'PREFIX', 'DESCRIPTION', 'EXPIRES', 'LAST USED'],
    items.map((t) => [t.id, t.prefix, `${t.description ?? ''}${t.id === mine ? ' (this CLI)' : ''}`, t.expires_at ?? 'never', t.last_used_at]),
  )
}

async function createApi(ctx: RemoteContext, description: string, opts: { expiresInDays?: string; json?: boolean }) {
  if (description.length > 200) throw usageError('the description is at most 200 characters')
  const days = wholeNumber(opts.expiresInDays, '--expires-in-days', 1, 3650)
  const created = await ctx.client().post(createdApiToken, '/api/tokens', { description, ...(days ? { expires_in_days: days } : {}) })
  if (opts.json) return printJson(ctx.io, created)
  ctx.io.err(`created API token ${created.prefix}… (id ${created.id}); it is shown once:\n`)
  ctx.io.out(created.token + '\n')
}

/** An id, or a prefix as `tokens list` shows it (`et_AbC123`). */
async function revokeApi(ctx: RemoteContext, ref: string, opts: { json?: boolean }) {
  const api = ctx.client()
  let id = ref
  if (!uuid.test(ref)) {
    const { items } = await api.get(apiTokenList, '/api/tokens')
    const hits = items.filter((t) => t.prefix === ref)
    if (hits.length !== 1) throw new CliError(hits.length ? EXIT.usage : EXIT.notFound, hits.length ? `${hits.length} tokens start with ${ref}; give the id` : `no API token ${oneLine(ref, 80)}`)
    id = hits[0]!.id
  }
  await api.delete(noContent, `/api/tokens/${id}`, { notFound: `API token ${ref}` })
  const saved = ctx.config.read()
  if (saved?.token_id === id) ctx.config.remove()
  if (opts.json) return printJson(ctx.io, { revoked: id, logged_out: saved?.token_id === id })
  ctx.io.out(`revoked API token ${ref}${saved?.token_id === id ? ' (the CLI was logged in with it: logged out)' : ''}\n`)
}

async function listProvisioning(ctx: RemoteContext, opts: { fleet?: string; json?: boolean }) {
  const api = ctx.client()
  const fleet = opts.fleet ? await fleetId(api, opts.fleet) : undefined
  const { items } = await api.get(provisionTokenList, '/api/provision/tokens', { query: { fleet_id: fleet } })
  if (opts.json) return printJson(ctx.io, items)
  printTable(
    ctx.io,
    ['ID', 'NAME', 'FLEET', 'USES', 'EXPIRES', 'STATE'],
    items.map((t) => [t.id, t.name, t.fleet_id, `${t.uses}/${t.max_uses ?? '∞'}`, t.expires_at ?? 'never', t.state]),
  )
}

async function createProvisioning(ctx: RemoteContext, opts: { fleet?: string; name?: string; expiresIn?: string; maxUses?: string; json?: boolean }) {
  if (!opts.fleet) throw usageError('--fleet is needed: a device registers into the fleet its token names')
  if (opts.expiresIn !== undefined && !/^\d{1,9}[smhd]?$/.test(opts.expiresIn)) throw usageError('--expires-in must be seconds or a duration such as 30m, 24h or 7d')
  const maxUses = wholeNumber(opts.maxUses, '--max-uses', 1, 100_000)
  const api = ctx.client()
  const body = {
    fleet_id: await fleetId(api, opts.fleet),
    ...(opts.name ? { name: opts.name } : {}),
    ...(opts.expiresIn ? { expires_in: /^\d+$/.test(opts.expiresIn) ? Number(opts.expiresIn) : opts.expiresIn } : {}),
    ...(maxUses ? { max_uses: maxUses } : {}),
  }
  const created = await api.post(createdProvisionToken, '/api/provision/tokens', body)
  if (opts.json) return printJson(ctx.io, created)
  ctx.io.err(`created provisioning token ${created.id}; its value is shown once (Ignition: ${api.baseUrl}/api/provision/config/<token>):\n`)
  ctx.io.out(created.token + '\n')
}

async function revokeProvisioning(ctx: RemoteContext, id: string, opts: { json?: boolean }) {
  if (!uuid.test(id)) throw usageError('give the provisioning token id, as `tokens provisioning list` shows it')
  await ctx.client().delete(noContent, `/api/provision/tokens/${id}`, { notFound: `provisioning token ${id}` })
  if (opts.json) return printJson(ctx.io, { revoked: id })
  ctx.io.out(`revoked provisioning token ${id}; devices it registered keep working\n`)
}

export function registerTokenCommands(program: Command) {
  const tokens = remoteGroup(program, 'tokens', 'API tokens (yours) and provisioning tokens (device registration)')
  remoteCommand(tokens, 'list', 'list your API tokens (never their values)').alias('ls').action(remote(listApi))
  remoteCommand(tokens, 'create <description>', 'create an API token for scripts and CI; printed once')
    .option('--expires-in-days <days>', 'lifetime in days (default: no expiry)')
    .action(remote(createApi))
  remoteCommand(tokens, 'revoke <token>', 'revoke one of your API tokens (id or prefix)').action(remote(revokeApi))
  const provisioning = remoteGroup(tokens, 'provisioning', 'registration tokens that let devices join a fleet')
  remoteCommand(provisioning, 'list', 'list provisioning tokens').alias('ls').option('--fleet <fleet>', 'only this fleet (name or id)').action(remote(listProvisioning))
  remoteCommand(provisioning, 'create', 'create a provisioning token for a fleet; printed once')
    .option('--fleet <fleet>', 'the fleet devices join (name or id)')
    .option('--name <pattern>', 'device name or pattern, e.g. lab-{n}')
    .option('--expires-in <duration>', 'seconds or 30m, 24h, 7d (default 24h)')
    .option('--max-uses <n>', 'how many devices may register with it (default 1)')
    .action(remote(createProvisioning))
  remoteCommand(provisioning, 'revoke <id>', 'revoke a provisioning token').action(remote(revokeProvisioning))
}
