import type { Command } from 'commander'
import { devicePage, fleetPage, type Device } from './api-schemas.js'
import { usageError } from './cli-error.js'
import { remote, remoteCommand } from './command-runner.js'
import { printFields, printJson, printTable } from './output.js'
import type { RemoteContext } from './remote-context.js'
import { fleetId, getDevice } from './resolve.js'

const STATUSES = ['online', 'offline', 'updating', 'error']
/** The API's page size limit; the CLI pages through everything. */
const PAGE = 500
/** A runaway (or hostile) server cannot keep the CLI paging for ever. */
const MAX_PAGES = 200

async function fleetNames(ctx: RemoteContext): Promise<Map<string, string>> {
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

export function registerDeviceCommands(program: Command) {
  remoteCommand(program, 'devices', 'list devices')
    .option('--fleet <fleet>', 'only this fleet (name or id)')
    .option('--status <status>', `only this status: ${STATUSES.join(', ')}`)
    .action(remote(listDevices))
  remoteCommand(program, 'device <device>', 'show one device (device id or uuid) and its containers').action(remote(showDevice))
}
