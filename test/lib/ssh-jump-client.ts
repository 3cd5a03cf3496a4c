import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface JumpClientOptions {
  gatewayPort: number
  gatewayHostKey: string
  /** `u:<username>` on the gateway. */
  login: string
  /** The device account (`core` on Flatcar; the test sshd runs as root). */
  deviceUser: string
  /** Device ids and the device sshd host key each presents. */
  devices: { deviceId: string; hostKey: string }[]
  keyFile: string
  certificateFile?: string
}

/**
 * An ssh_config for stock OpenSSH like the one docs/admin-access.md gives:
 * `gw` is the jump host, and every device (by id or as `<id>.edgetainer`)
 * goes through it. `-F` reaches the jump's own ssh process as well, so one
 * file pins both hops' host keys and names the key and certificate for both.
 */
export function writeJumpConfig(options: JumpClientOptions): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-jump-'))
  const knownHosts = path.join(dir, 'known_hosts')
  writeFileSync(
    knownHosts,
    [
      `[127.0.0.1]:${options.gatewayPort} ${options.gatewayHostKey}`,
      ...options.devices.flatMap((d) => [`${d.deviceId} ${d.hostKey}`, `${d.deviceId}.edgetainer ${d.hostKey}`]),
    ].join('\n') + '\n',
  )
  const file = path.join(dir, 'ssh_config')
  writeFileSync(
    file,
    [
      'Host gw',
      '  HostName 127.0.0.1',
      `  Port ${options.gatewayPort}`,
      `  User ${options.login}`,
      `Host *.edgetainer ${options.devices.map((d) => d.deviceId).join(' ')}`,
      `  User ${options.deviceUser}`,
      '  ProxyJump gw',
      'Host *',
      `  IdentityFile ${options.keyFile}`,
      ...(options.certificateFile ? [`  CertificateFile ${options.certificateFile}`] : []),
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${knownHosts}`,
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '  ConnectTimeout 15',
      '  LogLevel ERROR',
      '',
    ].join('\n'),
  )
  return file
}

export interface SshResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs `ssh -F config …args` to completion (killed after `timeoutMs`). */
export function runSsh(config: string, args: string[], timeoutMs = 30_000): Promise<SshResult> {
  return new Promise((resolve) => {
    const child = spawn('ssh', ['-F', config, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/** A long-running `ssh -F config …args` (a `-N -L` forward), killed at teardown. */
export function startSsh(t: Teardown, config: string, args: string[]): { child: ChildProcess; output(): string } {
  const child = spawn('ssh', ['-F', config, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  return { child, output: () => output }
}
