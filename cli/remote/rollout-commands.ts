import type { Command } from 'commander'
import { rolloutDetail, rolloutPage, type RolloutSummary } from './api-schemas.js'
import { usageError } from './cli-error.js'
import { remote, remoteCommand, remoteGroup } from './command-runner.js'
import { fleetNames } from './device-commands.js'
import { printJson } from './output.js'
import type { RemoteContext } from './remote-context.js'
import { fleetId, softwareRef } from './resolve.js'
import { checkVersion, FAILURE_ACTIONS, ROLLOUT_STATUSES, rolloutId, rolloutSettingsBody, STRATEGIES, type CreateFlags } from './rollout-options.js'
import { countsLine, printRollout, printRolloutTable, waveLine } from './rollout-view.js'
import { watchRollout } from './rollout-watch.js'

/** The API's page size limit; the CLI pages through everything, up to a bound a hostile server cannot stretch. */
const PAGE = 500
const MAX_PAGES = 100

/** The operations an operator runs on a rollout (docs/rollouts.md), each `POST /api/rollouts/:id/<op>`. */
const OPERATIONS: [op: string, description: string][] = [
  ['start', 'start a draft: split its devices into waves and send the first wave'],
  ['pause', 'pause: send no further devices; those updating finish'],
  ['resume', 'resume a paused rollout; failures so far are accepted'],
  ['advance', 'start the next wave now (how a manual rollout moves on)'],
  ['cancel', 'cancel: devices not yet sent the release never get it'],
  ['rollback', 'roll back: every device sent the release returns to its previous one'],
  ['retry', 'send the release again to the failed devices only, and run the rollout again'],
]

const collect = (value: string, previous: string[]) => [...previous, value]

async function listRollouts(ctx: RemoteContext, opts: { status?: string; fleet?: string; software?: string; json?: boolean }) {
  if (opts.status !== undefined && !(ROLLOUT_STATUSES as readonly string[]).includes(opts.status)) throw usageError(`--status must be one of ${ROLLOUT_STATUSES.join(', ')}`)
  const api = ctx.client()
  const fleet = opts.fleet !== undefined ? await fleetId(api, opts.fleet) : undefined
  const software = opts.software !== undefined ? (await softwareRef(api, opts.software)).id : undefined
  const items: RolloutSummary[] = []
  for (let offset = 0, pages = 0; pages < MAX_PAGES; pages++) {
    const page = await api.get(rolloutPage, '/api/rollouts', { query: { status: opts.status, fleet_id: fleet, software_id: software, limit: PAGE, offset } })
    items.push(...page.items)
    offset += page.items.length
    if (!page.items.length || offset >= page.total) break
  }
  if (opts.json) return printJson(ctx.io, items)
  printRolloutTable(ctx.io, items, items.some((r) => r.fleet_id) ? await fleetNames(ctx) : new Map())
}

async function showRollout(ctx: RemoteContext, ref: string, opts: { json?: boolean }) {
  const id = rolloutId(ref)
  const api = ctx.client()
  const r = await api.get(rolloutDetail, `/api/rollouts/${id}`, { notFound: `rollout ${ref}` })
  if (opts.json) return printJson(ctx.io, r)
  printRollout(ctx.io, r, r.fleet_id ? await fleetNames(ctx) : new Map())
}

async function createRollout(ctx: RemoteContext, softwareName: string, version: string, flags: CreateFlags & { json?: boolean }) {
  checkVersion(version)
  const settings = rolloutSettingsBody(flags)
  const api = ctx.client()
  const software = await softwareRef(api, softwareName)
  const target = flags.fleet !== undefined ? { fleet_id: await fleetId(api, flags.fleet) } : { devices: flags.device! }
  const body = { software_id: software.id, version, ...target, ...settings }
  const r = await api.post(rolloutDetail, '/api/rollouts', body, { notFound: `software "${softwareName}"` })
  if (flags.json) return printJson(ctx.io, r)
  const where = flags.fleet !== undefined ? `fleet ${flags.fleet}${flags.selector ? ` (${flags.selector})` : ''}` : `${flags.device!.length} device(s)`
  ctx.io.out(`created rollout ${r.id}: ${r.software_name} ${r.version} to ${where}, ${r.strategy}; ${r.status}\n`)
  if (r.status === 'draft') ctx.io.out(`start it with: edgetainer rollouts start ${r.id}\n`)
  else ctx.io.out(`${waveLine(r)}; ${r.total} device(s) in waves of ${r.waves.map((w) => w.size).join(', ')}; follow it with: edgetainer rollouts watch ${r.id}\n`)
}

function operation(op: string) {
  return async (ctx: RemoteContext, ref: string, flags: { json?: boolean }) => {
    const id = rolloutId(ref)
    const r = await ctx.client().post(rolloutDetail, `/api/rollouts/${id}/${op}`, undefined, { notFound: `rollout ${ref}` })
    if (flags.json) return printJson(ctx.io, r)
    ctx.io.out(`rollout ${r.id} is ${r.status.replace('_', ' ')}: ${waveLine(r)}; ${countsLine(r.counts)}${r.reason ? `\n${r.reason}` : ''}\n`)
  }
}

export function registerRolloutCommands(program: Command) {
  const rollouts = remoteGroup(program, 'rollouts', 'phased rollouts of a software release to a fleet or devices (docs/rollouts.md)')
  remoteCommand(rollouts, 'list', 'list rollouts, newest first, with how many devices succeeded')
    .alias('ls')
    .option('--status <status>', `only this status: ${ROLLOUT_STATUSES.join(', ')}`)
    .option('--fleet <fleet>', 'only rollouts to this fleet (name or id)')
    .option('--software <software>', 'only rollouts of this software (name or id)')
    .action(remote(listRollouts))
  remoteCommand(rollouts, 'show <id>', 'show a rollout: status, waves, counts per state and every device with its reason').action(remote(showRollout))
  remoteCommand(rollouts, 'create <software> <version>', 'create a rollout of a software version (a draft unless --start); admins only')
    .option('--fleet <fleet>', 'target this fleet (name or id); devices that join it mid-rollout follow it')
    .option('--selector <selector>', "only the fleet's devices whose labels match, e.g. 'site=north,hw in (pi4,pi5)'")
    .option('--device <device>', 'target this device instead of a fleet (device id or uuid); repeat for more', collect, [])
    .option('--strategy <strategy>', `${STRATEGIES.join(', ')} (default canary)`)
    .option('--canary-percent <n>', "share of the devices in a canary's first wave (default 10)")
    .option('--wave-size <n|n%>', 'devices per wave, or a share such as 25% (default 25%; a canary sends the rest in one wave)')
    .option('--doubling', 'each wave twice the size of the one before')
    .option('--success-percent <n>', 'a wave is done when this share of its devices succeeded (default 100)')
    .option('--error-threshold <n>', 'more failed devices than this share triggers --on-failure (default 20)')
    .option('--on-failure <action>', `${FAILURE_ACTIONS.join(', ')} (default pause)`)
    .option('--soak <duration>', 'how long a device must stay healthy to count as succeeded, e.g. 60s, 5m (default 60s)')
    .option('--deadline <duration>', 'a device offline this long after it was sent the release is skipped (default 1h)')
    .option('--start', 'start at once instead of creating a draft')
    .action(remote(createRollout))
  for (const [op, description] of OPERATIONS) remoteCommand(rollouts, `${op} <id>`, description).action(remote(operation(op)))
  remoteCommand(rollouts, 'watch <id>', 'follow a rollout until it ends; exit 0 when completed, 6 when failed, rolled back or cancelled')
    .option('--interval <duration>', 'how often to ask the gateway (default 2s)')
    .action(remote(watchRollout))
}
