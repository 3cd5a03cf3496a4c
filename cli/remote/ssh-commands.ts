import { spawn } from 'node:child_process'
import type { Command } from 'commander'
import { CliError, EXIT, oneLine, usageError } from './cli-error.js'
import { remote, remoteCommand } from './command-runner.js'
import { printJson } from './output.js'
import type { RemoteContext } from './remote-context.js'
import { getDevice } from './resolve.js'
import { prepareSsh } from './ssh-access.js'

/** docker's container name rule; a name from the gateway is checked before it reaches a remote shell. */
const containerName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$/
const serviceName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/

/** Runs stock OpenSSH with the terminal attached; its exit code becomes the CLI's, as with plain ssh. */
function runSsh(ctx: RemoteContext, args: string[]): Promise<number> {
  const bin = ctx.env.EDGETAINER_SSH_BIN || 'ssh'
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: 'inherit' })
    // The terminal's Ctrl-C goes to ssh (same process group); the CLI just waits for it.
    const ignore = () => {}
    process.on('SIGINT', ignore)
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' ? new CliError(EXIT.usage, `${bin} not found on PATH: install the OpenSSH client`) : new CliError(EXIT.internal, `cannot run ${bin}: ${err.message}`)),
    )
    child.on('exit', (code, signal) => {
      process.off('SIGINT', ignore)
      resolve(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 255))
    })
  })
}

/** The container of a compose service, from what the device last reported. */
function containerOf(device: Awaited<ReturnType<typeof getDevice>>, service: string): string {
  const reported = device.metrics?.containers ?? []
  // Agents that say which software a container runs: only their own stacks count, not whatever else runs on the host.
  const own = reported.filter((c) => c.software_id)
  const containers = own.length ? own : reported
  const matches = containers.filter((c) => c.service === service)
  const picked = matches.length ? matches : containers.filter((c) => c.name === service)
  if (!picked.length) {
    const known = [...new Set(containers.map((c) => c.service ?? c.name))].slice(0, 20).join(', ')
    throw new CliError(EXIT.notFound, `device ${device.device_id} reports no container for service "${service}"${known ? ` (it has: ${oneLine(known, 200)})` : ''}`)
  }
  const running = picked.filter((c) => c.state === undefined || c.state === 'running')
  if (running.length > 1) throw usageError(`${running.length} containers run service "${service}" (${running.map((c) => c.name).join(', ')}); give a container name`)
  const name = (running[0] ?? picked[0]!).name
  if (!containerName.test(name)) throw new CliError(EXIT.server, `the gateway reported an unusable container name (${oneLine(name, 60)})`)
  return name
}

interface SshOptions {
  container?: string
  print?: boolean
  json?: boolean
}

async function ssh(ctx: RemoteContext, ref: string, command: string[], opts: SshOptions) {
  if (opts.container !== undefined && !serviceName.test(opts.container)) throw usageError('--container must be a compose service name')
  const api = ctx.client()
  const device = await getDevice(api, ref)
  const container = opts.container === undefined ? undefined : containerOf(device, opts.container)
  const plan = await prepareSsh(api, ctx.config.dir, device)
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY)
  let remoteCommand = command
  if (container) remoteCommand = ['docker', 'exec', interactive ? '-it' : '-i', container, ...(command.length ? command : ['sh'])]
  // A shell needs a terminal; `docker exec -it` does too, so ssh must allocate one.
  const tty = container && interactive ? ['-t'] : []
  const args = ['-F', plan.configFile, ...tty, plan.deviceId, ...(remoteCommand.length ? ['--', ...remoteCommand] : [])]
  if (opts.print || opts.json) {
    // For scp, rsync or an IDE: the same config, any OpenSSH tool.
    if (opts.json) printJson(ctx.io, { ssh_config: plan.configFile, host: plan.deviceId, args, valid_before: plan.validBefore })
    else ctx.io.out(`ssh ${args.map(shellQuote).join(' ')}\n`)
    return
  }
  return runSsh(ctx, args)
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_./:@=,+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`
}

function port(value: string, what: string): number {
  const n = Number(value)
  if (!/^\d{1,5}$/.test(value) || n < 1 || n > 65_535) throw usageError(`${what} must be a port number from 1 to 65535`)
  return n
}

async function tunnel(ctx: RemoteContext, ref: string, remotePort: string, opts: { localPort?: string; bind?: string; json?: boolean }) {
  const remote = port(remotePort, 'the remote port')
  const local = opts.localPort === undefined ? remote : port(opts.localPort, '--local-port')
  const bind = opts.bind ?? '127.0.0.1'
  if (!/^[0-9a-fA-F.:]+$|^localhost$/.test(bind)) throw usageError('--bind must be an IP address or localhost')
  const api = ctx.client()
  const device = await getDevice(api, ref)
  const plan = await prepareSsh(api, ctx.config.dir, device)
  if (opts.json) printJson(ctx.io, { device: plan.deviceId, bind, local_port: local, remote_port: remote, valid_before: plan.validBefore })
  ctx.io.err(`forwarding ${bind}:${local} to port ${remote} on ${plan.deviceId} (certificate valid until ${plan.validBefore}); Ctrl-C stops\n`)
  return runSsh(ctx, ['-F', plan.configFile, '-N', '-o', 'ExitOnForwardFailure=yes', '-L', `${bind.includes(':') ? `[${bind}]` : bind}:${local}:localhost:${remote}`, plan.deviceId])
}

export function registerSshCommands(program: Command) {
  remoteCommand(program, 'ssh <device> [command...]', "open a shell (or run a command) on a device's own sshd through the gateway, with a short-lived certificate")
    .option('--container <service>', 'run in the container of this compose service (docker exec) instead of the host')
    .option('--print', 'print the ssh command (its config works for scp and rsync too) instead of running it; --json prints it as JSON')
    .action(remote((ctx, ref: string, command: string[], opts: SshOptions) => ssh(ctx, ref, command, opts)))
  remoteCommand(program, 'tunnel <device> <remote-port>', "forward a local port to a port on the device (its localhost), through the gateway")
    .option('-l, --local-port <port>', 'local port (default: the remote port)')
    .option('--bind <address>', 'local address to listen on', '127.0.0.1')
    .action(remote(tunnel))
}
