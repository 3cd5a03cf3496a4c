import type { Command } from 'commander'
import { deployment } from './api-schemas.js'
import { oneLine, usageError } from './cli-error.js'
import { remote, remoteCommand } from './command-runner.js'
import { printJson } from './output.js'
import type { RemoteContext } from './remote-context.js'
import { fleetId, getDevice, softwareRef } from './resolve.js'

const versionLabel = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/

interface DeployOptions {
  fleet?: string
  device?: string
  version?: string
  json?: boolean
}

async function deploy(ctx: RemoteContext, softwareName: string, opts: DeployOptions & { pin?: boolean }) {
  if ((opts.fleet === undefined) === (opts.device === undefined)) throw usageError('give exactly one of --fleet or --device')
  if (opts.version !== undefined && !versionLabel.test(opts.version)) throw usageError(`"${oneLine(opts.version, 80)}" is not a version label (letters, digits, dot, dash, plus, underscore)`)
  const api = ctx.client()
  const software = await softwareRef(api, softwareName)
  const target = opts.fleet !== undefined ? { fleet_id: await fleetId(api, opts.fleet) } : { device_id: (await getDevice(api, opts.device!)).id }
  const body = { ...target, ...(opts.version ? { version: opts.version } : {}), ...(opts.pin === false ? { pinned: false } : {}) }
  const result = await api.post(deployment, `/api/software/${software.id}/deploy`, body, { notFound: `software "${softwareName}"` })
  if (opts.json) return printJson(ctx.io, result)
  const where = opts.fleet !== undefined ? `fleet ${opts.fleet}` : `device ${opts.device}`
  const version = result.version ?? opts.version ?? 'the current version'
  ctx.io.out(`deployed ${result.software_name ?? softwareName} ${version} to ${where}${result.pinned ? ' (pinned)' : ''}; deployment ${result.id}\n`)
}

export function registerDeployCommand(program: Command) {
  remoteCommand(program, 'deploy <software>', 'deploy software (name or id) to a fleet or one device; deploying again updates that deployment')
    .option('--fleet <fleet>', 'every device of this fleet, including later ones (name or id)')
    .option('--device <device>', 'one device (device id or uuid), overriding its fleet')
    .option('--version <version>', 'a version label; pins it (default: follow the current version)')
    .option('--no-pin', 'with --version: deploy it now but follow later versions')
    .action(remote(deploy))
}
