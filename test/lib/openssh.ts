import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { newKeyPair, writeKeyPair } from './keys.js'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

import { freePort } from './ports.js'
import { waitFor } from './wait.js'

// The shared helpers, re-exported where the tests have always found them.
export { freePort, waitFor }

/** A key-only sshd on 127.0.0.1 whose files live in `dir` (shared by the tests and the OpenSSH benchmark reference). */
export function sshdConfigLines(port: number, dir: string, hostKey: string): string[] {
  return [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKey}`,
    `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
    `PidFile ${path.join(dir, 'sshd.pid')}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'PermitRootLogin prohibit-password',
  ]
}

export interface TestSshd {
  port: number
  /** Private key file that logs in as root. */
  clientKeyFile: string
  /** known_hosts line content for `[127.0.0.1]:<port>` style pinning. */
  hostPublicKey: string
}

/** A stock OpenSSH sshd on 127.0.0.1 standing in for a device's own SSH daemon. */
export async function startTestSshd(t: Teardown, extraAuthorizedKeys: string[] = [], extraConfig: string[] = []): Promise<TestSshd> {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-sshd-'))
  const hostKey = path.join(dir, 'ssh_host_ed25519_key')
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey])
  const client = newKeyPair('sshd-client')
  const clientKeyFile = writeKeyPair(client)
  writeFileSync(path.join(dir, 'authorized_keys'), [client.publicKey, ...extraAuthorizedKeys].join('\n') + '\n', { mode: 0o600 })
  const port = await freePort()
  writeFileSync(path.join(dir, 'sshd_config'), [...sshdConfigLines(port, dir, hostKey), 'PermitUserEnvironment no', ...extraConfig].join('\n') + '\n')
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  await waitFor(`sshd on ${port}`, () => connects(port)).catch((err: Error) => {
    throw new Error(`${err.message}: ${stderr.trim()}`)
  })
  return { port, clientKeyFile, hostPublicKey: readFileSync(`${hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ') }
}

export function connects(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, host)
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

export function knownHostsFile(entries: { port: number; publicKey: string }[]): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'et-kh-')), 'known_hosts')
  writeFileSync(file, entries.map((e) => `[127.0.0.1]:${e.port} ${e.publicKey}`).join('\n') + '\n')
  return file
}

export interface OpenSshDevice {
  child: ChildProcess
  output(): string
  exited: Promise<number | null>
}

/**
 * A device as stock OpenSSH: `ssh -N -R … <device_id>@gateway`, the gateway's
 * host key pinned, failing loudly if a forward is refused.
 */
export function startOpenSshDevice(
  t: Teardown,
  options: { gatewayPort: number; gatewayHostKey: string; deviceId: string; keyFile: string; forwards: string[] },
): OpenSshDevice {
  const knownHosts = knownHostsFile([{ port: options.gatewayPort, publicKey: options.gatewayHostKey }])
  const args = [
    '-N',
    '-p', String(options.gatewayPort),
    '-i', options.keyFile,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'ExitOnForwardFailure=yes',
    '-o', 'ServerAliveInterval=5',
    ...options.forwards.flatMap((f) => ['-R', f]),
    `${options.deviceId}@127.0.0.1`,
  ]
  const child = spawn('ssh', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  return { child, output: () => output, exited }
}

/** Runs one command on a device's sshd through the gateway's loopback port, as an admin on the gateway host would. */
export function sshExec(port: number, keyFile: string, hostPublicKey: string, command: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const knownHosts = knownHostsFile([{ port, publicKey: hostPublicKey }])
  return new Promise((resolve) => {
    const child = spawn('ssh', ['-p', String(port), '-i', keyFile, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', '-o', `UserKnownHostsFile=${knownHosts}`, 'root@127.0.0.1', command], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('exit', (code) => resolve({ code, stdout, stderr }))
  })
}
