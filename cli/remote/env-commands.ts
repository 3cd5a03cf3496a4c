import type { Command } from 'commander'
import { z } from 'zod'
import { envSets, envVar, noContent, softwareEnv, type EnvVar } from './api-schemas.js'
import type { ApiClient } from './api-client.js'
import { CliError, EXIT, oneLine, usageError } from './cli-error.js'
import { remote, remoteCommand, remoteGroup } from './command-runner.js'
import { printJson, printTable } from './output.js'
import type { RemoteContext } from './remote-context.js'
import { checkDeviceRef, fleetId, softwareRef } from './resolve.js'
import { readStdinValue } from './stdin-text.js'

interface LevelOptions {
  software?: string
  fleet?: string
  device?: string
  service?: string
  json?: boolean
}

/** What the gateway's env routes take; checked here so a typo fails before any request. */
const envName = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/
const serviceName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/
/** A masked secret sent back keeps its stored value (DESIGN.md, env routes). */
const SECRET_MASK = '********'

type Level = { kind: 'software'; id: string; name: string } | { kind: 'fleet' | 'device'; path: string; label: string }

async function levelOf(api: ApiClient, opts: LevelOptions): Promise<Level> {
  const given = (['software', 'fleet', 'device'] as const).filter((k) => opts[k] !== undefined)
  if (given.length !== 1) throw usageError('give exactly one of --software, --fleet or --device')
  if (opts.service !== undefined && !serviceName.test(opts.service)) throw usageError('--service must be a compose service name: letters, digits, dot, dash or underscore')
  if (opts.software !== undefined) return { kind: 'software', ...(await softwareRef(api, opts.software)) }
  if (opts.fleet !== undefined) return { kind: 'fleet', path: `/api/fleets/${await fleetId(api, opts.fleet)}/env-vars`, label: `fleet "${opts.fleet}"` }
  return { kind: 'device', path: `/api/devices/${encodeURIComponent(checkDeviceRef(opts.device!))}/env-vars`, label: `device "${opts.device}"` }
}

/** Fleet and device variables belong to one compose service; only software defaults can apply to all. */
function serviceFor(level: Level, service: string | undefined): string | undefined {
  if (level.kind !== 'software' && service === undefined) throw usageError(`--service is needed at the ${level.kind} level: its variables belong to one compose service`)
  return service
}

/** A stored set as the PUT takes it back: secrets as the mask, so they keep their values unread. */
function writable(set: Record<string, EnvVar>): Record<string, { value: string; secret: boolean; description: string | null }> {
  return Object.fromEntries(Object.entries(set).map(([k, v]) => [k, { value: v.secret ? SECRET_MASK : v.value, secret: v.secret, description: v.description ?? null }]))
}

const resolvedEnv = z.looseObject({ containers: z.record(z.string(), z.record(z.string(), envVar.extend({ source: z.string() }))) })

async function list(ctx: RemoteContext, opts: LevelOptions & { resolved?: boolean }) {
  const api = ctx.client()
  const level = await levelOf(api, opts)
  if (opts.resolved && level.kind !== 'device') throw usageError('--resolved applies to --device only')
  const rows: (string | null)[][] = []
  let json: unknown
  if (level.kind === 'software') {
    const env = await api.get(softwareEnv, `/api/software/${level.id}/env-vars`, { notFound: `software "${level.name}"` })
    const services = opts.service ? { [opts.service]: env.services[opts.service] ?? {} } : env.services
    json = { version: env.version ?? null, vars: opts.service ? {} : env.vars, services }
    if (!opts.service) for (const [k, v] of Object.entries(env.vars)) rows.push(['*', k, v.value, v.secret ? 'yes' : 'no'])
    for (const [s, set] of Object.entries(services)) for (const [k, v] of Object.entries(set)) rows.push([s, k, v.value, v.secret ? 'yes' : 'no'])
  } else {
    const schema = opts.resolved ? resolvedEnv : envSets
    const { containers } = await api.get(schema, level.path, { query: opts.resolved ? { resolved: 'true' } : undefined, notFound: level.label })
    const picked = opts.service ? { [opts.service]: containers[opts.service] ?? {} } : containers
    json = { containers: picked }
    for (const [s, set] of Object.entries(picked)) {
      for (const [k, v] of Object.entries(set)) rows.push([s, k, v.value, v.secret ? 'yes' : 'no', ...('source' in v ? [String(v.source)] : [])])
    }
  }
  if (opts.json) return printJson(ctx.io, json)
  printTable(ctx.io, ['SERVICE', 'NAME', 'VALUE', 'SECRET', ...(opts.resolved ? ['FROM'] : [])], rows)
}

/** Read, change one variable, write back: the routes replace a whole set at a time. */
async function change(ctx: RemoteContext, opts: LevelOptions, name: string, update: (set: Record<string, ReturnType<typeof writable>[string]>) => void) {
  const api = ctx.client()
  const level = await levelOf(api, opts)
  const service = serviceFor(level, opts.service)
  if (level.kind === 'software') {
    const notFound = `software "${level.name}"`
    const env = await api.get(softwareEnv, `/api/software/${level.id}/env-vars`, { notFound })
    const services = Object.fromEntries(Object.entries(env.services).map(([s, set]) => [s, writable(set)]))
    const vars = writable(env.vars)
    update(service ? (services[service] ??= {}) : vars)
    const body = { vars, services: Object.fromEntries(Object.entries(services).map(([s, set]) => [s, { vars: set }])) }
    const after = await api.put(softwareEnv, `/api/software/${level.id}/env-vars`, body, { notFound })
    return { level: 'software', software: level.name, service: service ?? null, version: after.version ?? null }
  }
  const path = `${level.path}/${encodeURIComponent(service!)}`
  const current = (await api.get(envSets, level.path, { notFound: level.label })).containers[service!] ?? {}
  const set = writable(current)
  update(set)
  if (Object.keys(set).length === 0) await api.delete(noContent, path, { notFound: level.label })
  else await api.put(z.unknown(), path, { vars: set }, { notFound: level.label })
  return { level: level.kind, [level.kind]: opts[level.kind], service }
}

async function set(ctx: RemoteContext, name: string, value: string | undefined, opts: LevelOptions & { secret?: boolean; description?: string }) {
  if (!envName.test(name)) throw usageError(`"${oneLine(name, 80)}" is not an environment variable name (letters, digits and underscore, not starting with a digit)`)
  if (opts.secret && value !== undefined) throw usageError('a secret value is read from stdin, never from the command line (it would stay in shell history and ps)')
  if (opts.description !== undefined && opts.description.length > 1000) throw usageError('--description is at most 1000 characters')
  const text = value ?? (await readStdinValue(opts.secret ? 'the secret value' : 'the value'))
  const result = await change(ctx, opts, name, (vars) => {
    vars[name] = { value: text, secret: Boolean(opts.secret), description: opts.description ?? vars[name]?.description ?? null }
  })
  if (opts.json) return printJson(ctx.io, { ...result, name, secret: Boolean(opts.secret) })
  ctx.io.out(`set ${name}${opts.secret ? ' (secret)' : ''} on ${describe(result)}\n`)
}

async function rm(ctx: RemoteContext, name: string, opts: LevelOptions) {
  if (!envName.test(name)) throw usageError(`"${oneLine(name, 80)}" is not an environment variable name`)
  const result = await change(ctx, opts, name, (vars) => {
    if (!(name in vars)) throw new CliError(EXIT.notFound, `no variable ${name} there`)
    delete vars[name]
  })
  if (opts.json) return printJson(ctx.io, { ...result, name, removed: true })
  ctx.io.out(`removed ${name} from ${describe(result)}\n`)
}

function describe(result: Record<string, unknown>): string {
  const where = `${result.level} ${String(result[result.level as string])}`
  const service = result.service ? `, service ${result.service}` : ''
  return `${where}${service}${result.version ? ` (new version ${result.version})` : ''}`
}

function levelOptions(cmd: Command): Command {
  return cmd
    .option('--software <software>', 'software defaults (name or id)')
    .option('--fleet <fleet>', 'fleet variables (name or id)')
    .option('--device <device>', 'device variables (device id or uuid)')
    .option('-s, --service <service>', 'compose service (needed for fleet and device variables)')
}

export function registerEnvCommands(program: Command) {
  const env = remoteGroup(program, 'env', 'environment variables at the software, fleet and device levels')
  levelOptions(remoteCommand(env, 'list', 'list variables (secrets masked)'))
    .alias('ls')
    .option('--resolved', "with --device: each service's effective variables and the level they come from")
    .action(remote(list))
  levelOptions(remoteCommand(env, 'set <name> [value]', 'set one variable; the value comes from stdin when left out, and always for --secret'))
    .alias('add')
    .option('--secret', 'store it encrypted and masked; the value is read from stdin')
    .option('--description <text>', 'what the variable is for')
    .action(remote(set))
  levelOptions(remoteCommand(env, 'rm <name>', 'remove one variable')).alias('remove').action(remote(rm))
}
