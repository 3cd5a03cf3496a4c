import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import { parse as parseYaml } from 'yaml'
import { fromDataUrl } from '../ignition/data-url.js'
import { ValidationError } from '../server/errors.js'
import { isLoopbackHost } from '../server/provision/gateway-endpoints.js'

const AGENT_CONFIG_PATH = '/etc/edgetainer/agent.yaml'

interface IgnitionFile {
  path: string
  contents?: { source?: string; verification?: { hash?: string } }
}

interface Check {
  ok: boolean
  line: string
}

/** The parts of a device file that decide whether it still works: the agent config and every file fetched by hash. */
function readDeviceFile(file: string) {
  let config: { storage?: { files?: IgnitionFile[] } }
  try {
    config = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new ValidationError('file', `cannot read ${file} as an Ignition (JSON) config: ${(err as Error).message}`)
  }
  const files = Array.isArray(config?.storage?.files) ? config.storage.files : []
  const agentYaml = files.find((f) => f?.path === AGENT_CONFIG_PATH)?.contents?.source
  if (typeof agentYaml !== 'string' || !agentYaml.startsWith('data:')) throw new ValidationError('file', `${file} holds no ${AGENT_CONFIG_PATH}: not an Edgetainer device file`)
  let agent: { server_url?: unknown; ssh_host?: unknown; ssh_port?: number; token?: unknown } | null
  try {
    agent = parseYaml(fromDataUrl(agentYaml).toString('utf8'))
  } catch (err) {
    throw new ValidationError('file', `${AGENT_CONFIG_PATH} in ${file} cannot be read: ${(err as Error).message}`)
  }
  if (typeof agent?.server_url !== 'string' || typeof agent.token !== 'string' || !URL.canParse(agent.server_url)) throw new ValidationError('file', `${AGENT_CONFIG_PATH} in ${file} has no valid server_url or token`)
  const fetched = files
    .filter((f) => typeof f?.contents?.source === 'string' && /^https?:/.test(f.contents.source))
    .map((f) => ({ path: f.path, url: f.contents!.source!, hash: f.contents!.verification?.hash ?? '' }))
  const sshHost = typeof agent.ssh_host === 'string' ? agent.ssh_host : ''
  return { agent: { server_url: agent.server_url, ssh_host: sshHost, ssh_port: agent.ssh_port, token: agent.token }, fetched }
}

/** Downloads `url` as Ignition will at first boot and compares its sha512 with the one the file pins. */
async function checkDownload(item: { path: string; url: string; hash: string }): Promise<Check> {
  const [algorithm, expected] = item.hash.split('-', 2)
  if (algorithm !== 'sha512' || !expected) return { ok: false, line: `${item.path}: no sha512 pinned for ${item.url}` }
  let res: Response
  try {
    res = await fetch(item.url, { signal: AbortSignal.timeout(10 * 60_000) })
  } catch (err) {
    return { ok: false, line: `${item.path}: cannot reach ${item.url}: ${(err as Error).message}` }
  }
  if (!res.ok || !res.body) return { ok: false, line: `${item.path}: ${item.url} answered ${res.status}: the device would stop in Ignition` }
  const hash = createHash('sha512')
  let size = 0
  for await (const chunk of res.body) {
    hash.update(chunk)
    size += chunk.length
  }
  const actual = hash.digest('hex')
  if (actual !== expected) return { ok: false, line: `${item.path}: ${item.url} no longer matches the sha512 in the file: download a fresh file` }
  return { ok: true, line: `${item.path}: ${item.url} matches the sha512 in the file (${(size / 1048576).toFixed(1)} MiB, the first-boot download)` }
}

/** The config route answers 200 while the token can still register a device, 404/410 with the reason once it cannot. */
async function checkToken(serverUrl: string, token: string): Promise<Check> {
  let res: Response
  try {
    res = await fetch(`${serverUrl.replace(/\/+$/, '')}/api/provision/config/${encodeURIComponent(token)}?allow_loopback=1`, { signal: AbortSignal.timeout(30_000) })
  } catch (err) {
    return { ok: false, line: `registration: cannot reach ${serverUrl}: ${(err as Error).message}` }
  }
  if (res.ok) {
    await res.body?.cancel()
    return { ok: true, line: `registration: the token is still usable at ${serverUrl}` }
  }
  const info = (await res.json().catch(() => ({}))) as { error?: string }
  return { ok: false, line: `registration: ${serverUrl} refuses the token (${res.status}${info.error ? `: ${info.error}` : ''}): ask for a new file` }
}

/**
 * `edgetainer verify-ignition device.ign`: the on-site check that a device file
 * is current, run from any machine that reaches the gateway like the device
 * will. It checks what first boot needs: endpoints that are not loopback, every
 * download matching the hash the file pins, and a token that still registers.
 */
export async function runVerifyIgnition(
  file: string,
  options: { allowLoopback?: boolean; write?: (text: string) => void } = {},
): Promise<boolean> {
  const write = options.write ?? ((text: string) => process.stdout.write(text))
  const { agent, fetched } = readDeviceFile(file)
  const checks: Check[] = []
  const server = new URL(agent.server_url)
  for (const [what, host] of [['server URL', server.hostname], ['SSH host', agent.ssh_host]] as const) {
    if (isLoopbackHost(host) && !options.allowLoopback) checks.push({ ok: false, line: `${what} ${host} is a loopback address: a device would dial itself; the admin must set public_url and issue a new file` })
  }
  checks.push({ ok: true, line: `devices dial ${agent.server_url} and SSH ${agent.ssh_host}:${agent.ssh_port ?? '?'}` })
  for (const item of fetched) checks.push(await checkDownload(item))
  checks.push(await checkToken(agent.server_url, agent.token))
  for (const c of checks) write(`${c.ok ? 'ok  ' : 'fail'} ${c.line}\n`)
  const ok = checks.every((c) => c.ok)
  write(ok ? `${file} is current: install it.\n` : `${file} would not provision a device as it is.\n`)
  return ok
}

export function registerVerifyIgnitionCommand(program: Command) {
  program
    .command('verify-ignition <file>')
    .description('check on site that a device file (.ign) is current: its downloads match their hashes and its token still registers')
    .option('--allow-loopback', 'accept a file that points devices at a loopback address (a lab test with the device on this machine)')
    .action(async (file: string, opts: { allowLoopback?: boolean }) => {
      if (!(await runVerifyIgnition(file, { allowLoopback: opts.allowLoopback === true }))) process.exitCode = 1
    })
}
