import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import type { ApiClient } from './api-client.js'
import { gatewayInfo, meAnswer, sshCertificate, type GatewayInfo } from './api-schemas.js'
import { ensurePrivateDir, writePrivateFile } from './cli-config.js'
import { CliError, EXIT, oneLine } from './cli-error.js'

/**
 * The SSH user name on the gateway's port for a person. The gateway tells
 * people from devices by the `u:` prefix (docs/admin-access.md): a device id
 * can never contain `:`.
 */
export function jumpLogin(username: string): string {
  return `u:${username}`
}

/** The device account gateway certificates are for, when the gateway does not say (Flatcar's). */
export const DEFAULT_DEVICE_USER = 'core'

const deviceIdPattern = /^[a-z0-9][a-z0-9._-]{0,62}$/
const usernamePattern = /^[a-zA-Z0-9][a-zA-Z0-9._-]{1,63}$/
const hostPattern = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|[0-9A-Fa-f:.]{2,45})$/
const keyLine = /^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+) [A-Za-z0-9+/]+={0,3}$/
const certLine = /^[a-z0-9-]+(-[a-z0-9]+)*-cert-v01@openssh\.com [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/

/** Everything the gateway says goes into ssh's arguments or config: checked first, so no answer can smuggle in an option. */
function untrusted(value: string, pattern: RegExp, what: string): string {
  if (!pattern.test(value)) throw new CliError(EXIT.server, `the gateway answered an unusable ${what} (${oneLine(value, 60)})`)
  return value
}

export interface SshPlan {
  /** `ssh -F <configFile> <deviceId>` reaches the device through the jump host. */
  configFile: string
  deviceId: string
  gateway: GatewayInfo
  validBefore: string
}

/** The CLI's own key pair, made once: the private half never leaves the config dir. */
export async function ensureKey(dir: string): Promise<{ keyFile: string; publicKey: string }> {
  const sshDir = ensurePrivateDir(path.join(dir, 'ssh'))
  const keyFile = path.join(sshDir, 'id_ed25519')
  if (!existsSync(keyFile) || !existsSync(`${keyFile}.pub`)) {
    // Loaded here only: ssh2 is not needed by any other command.
    const { generateEd25519 } = await import('../../shared/ed25519-keys.js')
    const pair = generateEd25519('edgetainer-cli')
    writePrivateFile(keyFile, pair.private)
    writePrivateFile(`${keyFile}.pub`, pair.public + '\n')
  }
  return { keyFile, publicKey: readFileSync(`${keyFile}.pub`, 'utf8').trim() }
}

/** ssh_config values in double quotes (paths may hold spaces); a quote or newline in a path is refused. */
function quoted(value: string): string {
  if (/["\r\n]/.test(value)) throw new CliError(EXIT.usage, `the path ${oneLine(value, 100)} cannot be used in an ssh_config file`)
  return `"${value}"`
}

/**
 * Prepares `ssh` to one device: the CLI's key, a certificate for that device
 * (one hour by default, fetched each time: cheap, and never stale), the
 * gateway's pinned host key, and an ssh_config with the jump host in it.
 */
export async function prepareSsh(api: ApiClient, dir: string, device: { id: string; device_id: string }): Promise<SshPlan> {
  const deviceId = untrusted(device.device_id, deviceIdPattern, 'device id')
  const [gateway, me] = await Promise.all([api.get(gatewayInfo, '/api/gateway'), api.get(meAnswer, '/api/auth/me')])
  const host = untrusted(gateway.ssh.host, hostPattern, 'SSH host')
  const hostKey = untrusted(gateway.ssh.host_key.trim().split(/\s+/).slice(0, 2).join(' '), keyLine, 'SSH host key')
  const login = jumpLogin(untrusted(me.username, usernamePattern, 'user name'))
  const deviceUser = untrusted(gateway.ssh.device_user ?? DEFAULT_DEVICE_USER, /^[a-z_][a-z0-9_.-]{0,31}$/, 'device account')
  const { keyFile, publicKey } = await ensureKey(dir)
  const cert = await api.post(sshCertificate, '/api/ssh/certificates', { public_key: publicKey, device_id: deviceId }, { notFound: `device "${deviceId}"` })
  const sshDir = path.join(dir, 'ssh')
  // One certificate file per device: two sessions to two devices never overwrite each other's.
  const certFile = path.join(sshDir, `id_ed25519.${deviceId}-cert.pub`)
  writePrivateFile(certFile, untrusted(cert.certificate.trim(), certLine, 'certificate') + '\n')
  const gatewayKnownHosts = path.join(sshDir, 'gateway_known_hosts')
  const hostEntry = gateway.ssh.port === 22 ? host : `[${host}]:${gateway.ssh.port}`
  writePrivateFile(gatewayKnownHosts, `${hostEntry} ${hostKey}\n`)
  const configFile = path.join(sshDir, `${deviceId}.ssh_config`)
  // LogLevel ERROR: no "Permanently added … to the list of known hosts" on every first visit; errors still show.
  const identity = [`  IdentityFile ${quoted(keyFile)}`, `  CertificateFile ${quoted(certFile)}`, '  IdentitiesOnly yes', '  IdentityAgent none', '  LogLevel ERROR']
  writePrivateFile(
    configFile,
    [
      '# Written by `edgetainer ssh`/`tunnel` for each session.',
      'Host edgetainer-jump',
      `  HostName ${host}`,
      `  Port ${gateway.ssh.port}`,
      `  User ${login}`,
      ...identity,
      // The gateway's key comes from its API, over the logged-in connection: no trust on first use.
      `  UserKnownHostsFile ${quoted(gatewayKnownHosts)}`,
      '  StrictHostKeyChecking yes',
      `Host ${deviceId}`,
      `  User ${deviceUser}`,
      '  ProxyJump edgetainer-jump',
      ...identity,
      // Device host keys are nowhere in the API: remembered on first use, in the CLI's own file.
      `  UserKnownHostsFile ${quoted(path.join(sshDir, 'known_hosts'))}`,
      '  StrictHostKeyChecking accept-new',
      '  ServerAliveInterval 30',
      '',
    ].join('\n'),
  )
  return { configFile, deviceId, gateway, validBefore: cert.valid_before }
}
