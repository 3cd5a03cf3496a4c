import type { Command } from 'commander'
import { device as deviceSchema, devicePage, fleetPage, type Device } from './api-schemas.js'
import { usageError } from './cli-error.js'
import { remote, remoteCommand } from './command-runner.js'
import { printFields, printJson, printTable } from './output.js'
import type { RemoteContext } from './remote-context.js'
import { checkDeviceRef, fleetId, getDevice } from './resolve.js'
import { applyLabels } from './rollout-options.js'

const STATUSES = ['online', 'offline', 'updating', 'error']
/** The API's page size limit; the CLI pages through everything. */
const PAGE = 500
/** A runaway (or hostile) server cannot keep the CLI paging for ever. */
const MAX_PAGES = 200

/** Fleet names by id, for tables that would otherwise show UUIDs. */
export async function fleetNames(ctx: RemoteContext): Promise<Map<string, string>> {
  const page = await ctx.client().get(fleetPage, '/api/fleets', { query: { limit: PAGE } })
  return new Map(page.items.map((f) => [f.id, f.name]))
}

async function listDevices(ctx: RemoteContext, opts: { fleet?: string; status?: string; json?: boolean }) {
  if (opts.status && !STATUSES.includes(opts.status)) throw usageError(`--status must be one of ${STATUSES.join(', ')}`)
  const api = ctx.client()
  const fleet = opts.fleet ? await fleetId(api, opts.fleet) : undefined
  const devices: Device[] = []
  for (let offset = 0, pages = 0; pages < MAX_PAGES; pages++) {
    const page = await api.get(devicePage, '/api/devices', { query: { fleet_id: fleet, status: opts.status, limit: PAGE, offset } })
    devices.push(...page.items)
    offset += page.items.length
    if (!page.items.length || offset >= page.total) break
  }
  if (opts.json) return printJson(ctx.io, devices)
  const names = await fleetNames(ctx)
  printTable(
    ctx.io,
    ['DEVICE ID', 'NAME', 'STATUS', 'FLEET', 'LAST SEEN'],
    devices.map((d) => [d.device_id, d.name, d.status, d.fleet_id ? (names.get(d.fleet_id) ?? d.fleet_id) : null, d.last_seen]),
  )
}

async function showDevice(ctx: RemoteContext, ref: string, opts: { json?: boolean }) {
  const api = ctx.client()
  const device = await getDevice(api, ref)
  if (opts.json) return printJson(ctx.io, device)
  const names = device.fleet_id ? await fleetNames(ctx) : new Map<string, string>()
  printFields(ctx.io, [
    ['device id', device.device_id],
    ['name', device.name],
    ['uuid', device.id],
    ['status', device.status],
    ['fleet', device.fleet_id ? (names.get(device.fleet_id) ?? device.fleet_id) : null],
    ['last seen', device.last_seen],
    ['ip address', device.ip_address],
    ['subdomain', device.subdomain],
    ['labels', labelsText(device.labels)],
    ['attention', device.attention],
    ...(device.metrics?.docker_error ? [['docker', `does not answer, so the containers cannot be seen: ${device.metrics.docker_error}`] as [string, unknown]] : []),
  ])
  const containers = device.metrics?.containers ?? []
  if (containers.length) {
    ctx.io.out('\n')
    printTable(
      ctx.io,
      ['SERVICE', 'CONTAINER', 'STATE', 'HEALTH', 'IMAGE'],
      containers.map((c) => [c.service, c.name, c.state, c.health, c.image]),
    )
  }
}

/** `site=north, hw=pi4`, sorted by key. */
function labelsText(labels: Record<string, string> | undefined): string {
  return Object.entries(labels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')
}

/**
 * `devices label pump-1 site=north hw=pi5 --remove legacy`: the API replaces
 * a device's labels as a whole (PUT), so the CLI reads them, applies the
 * change and writes them back. Without changes it prints them.
 */
async function labelDevice(ctx: RemoteContext, ref: string, pairs: string[], opts: { remove: string[]; json?: boolean }) {
  checkDeviceRef(ref)
  const changing = pairs.length > 0 || opts.remove.length > 0
  // Checked before any request: a typo never costs a round trip.
  if (changing) applyLabels({}, pairs, opts.remove)
  const api = ctx.client()
  const device = await getDevice(api, ref)
  let labels = device.labels ?? {}
  if (changing) {
    const updated = await api.put(deviceSchema, `/api/devices/${device.id}`, { labels: applyLabels(labels, pairs, opts.remove) }, { notFound: `device "${ref}"` })
    labels = updated.labels ?? {}
  }
  if (opts.json) return printJson(ctx.io, labels)
  ctx.io.out(`${device.device_id}: ${labelsText(labels) || 'no labels'}\n`)
}

export function registerDeviceCommands(program: Command) {
  // `devices` alone lists; its subcommands come first, so `devices show x` is never a stray argument to the list.
  const devices = remoteCommand(program, 'devices', 'list devices; `devices show` and `devices label` work on one')
    .option('--fleet <fleet>', 'only this fleet (name or id)')
    .option('--status <status>', `only this status: ${STATUSES.join(', ')}`)
    .action(remote(listDevices))
  remoteCommand(devices, 'show <device>', 'show one device (device id or uuid), its labels and its containers').action(remote(showDevice))
  remoteCommand(devices, 'label <device> [key=value...]', 'set (key=value) or --remove labels of a device; alone, print them (admins change them)')
    .option('--remove <key>', 'remove this label; repeat for more', (value: string, previous: string[]) => [...previous, value], [])
    .action(remote(labelDevice))
  remoteCommand(program, 'device <device>', 'show one device (device id or uuid), its labels and its containers').action(remote(showDevice))
}
