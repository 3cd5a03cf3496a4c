import { execFileSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { generateEd25519 } from '../../shared/ed25519-keys.js'
import { connects, freePort, sshdConfigLines } from '../../test/lib/openssh.js'
import { onCleanup, spawnTracked, stop } from './processes.js'
import { waitFor } from '../../test/lib/wait.js'

/**
 * The stock OpenSSH reference: a test `sshd` on 127.0.0.1, and `ssh -R`
 * clients standing in for devices (against that sshd or the gateway).
 */
export interface KeyFiles {
  publicKey: string
  privateKeyFile: string
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix))
  onCleanup(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

export function writeNewKeyPair(dir: string, name: string): KeyFiles {
  const pair = generateEd25519(name)
  const file = path.join(dir, name)
  writeFileSync(file, pair.private, { mode: 0o600 })
  writeFileSync(`${file}.pub`, `${pair.public}\n`)
  return { publicKey: pair.public, privateKeyFile: file }
}

export interface Sshd {
  port: number
  pid: number
  hostPublicKey: string
  client: KeyFiles
}

export async function startSshd(): Promise<Sshd> {
  // sshd wants its privilege separation directory (scripts/test-services.sh makes it too).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 })
  const dir = tempDir('et-bench-sshd-')
  const hostKey = path.join(dir, 'ssh_host_ed25519_key')
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', hostKey])
  const client = writeNewKeyPair(dir, 'client_ed25519')
  writeFileSync(path.join(dir, 'authorized_keys'), `${client.publicKey}\n`, { mode: 0o600 })
  const port = await freePort()
  const config = [...sshdConfigLines(port, dir, hostKey), 'AllowTcpForwarding yes', 'GatewayPorts no', 'UseDNS no']
  writeFileSync(path.join(dir, 'sshd_config'), config.join('\n') + '\n')
  const child = spawnTracked('/usr/sbin/sshd', ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  onCleanup(() => stop(child, 'SIGTERM'))
  await waitFor(`sshd on ${port}`, () => connects(port), 10_000).catch((err: Error) => {
    throw new Error(`${err.message}: ${stderr.trim()}`)
  })
  return { port, pid: child.pid!, client, hostPublicKey: readFileSync(`${hostKey}.pub`, 'utf8').split(' ').slice(0, 2).join(' ') }
}

export interface Negotiated {
  kex?: string
  hostKey?: string
  clientToServer?: string
  serverToClient?: string
}

export interface SshClient {
  child: ChildProcess
  pid: number
  output(): string
  negotiated(): Negotiated
}

/**
 * `ssh -v -N -R … user@127.0.0.1` with the server's host key pinned and the
 * cipher forced; resolves once every forward is confirmed. `-v` adds a few
 * lines per channel open and nothing per byte, the same on both paths.
 */
export async function startSshTunnel(options: {
  port: number
  hostPublicKey: string
  user: string
  keyFile: string
  forwards: string[]
  cipher: string
  extraOptions?: string[]
}): Promise<SshClient & { allocatedPorts: number[] }> {
  const dir = tempDir('et-bench-kh-')
  const knownHosts = path.join(dir, 'known_hosts')
  writeFileSync(knownHosts, `[127.0.0.1]:${options.port} ${options.hostPublicKey}\n`)
  const args = [
    '-v',
    '-N',
    '-p', String(options.port),
    '-i', options.keyFile,
    '-c', options.cipher,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', `UserKnownHostsFile=${knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'ExitOnForwardFailure=yes',
    '-o', 'Compression=no',
    // The same key exchange on both (sshd would otherwise pick sntrup761x25519, which ssh2 lacks).
    '-o', 'KexAlgorithms=curve25519-sha256',
    '-o', 'ServerAliveInterval=15',
    ...(options.extraOptions ?? []),
    ...options.forwards.flatMap((f) => ['-R', f]),
    `${options.user}@127.0.0.1`,
  ]
  const child = spawnTracked('ssh', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  onCleanup(() => stop(child, 'SIGTERM'))
  let output = ''
  child.stderr!.on('data', (d) => {
    // Handshake, forward and per-channel lines; capped so a channel storm cannot eat memory.
    if (output.length < 20_000_000) output += d
  })
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`ssh exited (${code}): ${output.slice(-2000)}`))))
  const confirmed = () => {
    const allocated = [...output.matchAll(/Allocated port (\d+) for remote forward/g)].map((m) => Number(m[1]))
    const fixed = (output.match(/remote forward success for: listen /g) ?? []).length
    return allocated.length + fixed >= options.forwards.length ? allocated : undefined
  }
  const allocatedPorts = await Promise.race([waitFor('ssh forwards', confirmed, 20_000), exited])
  exited.catch(() => {})
  return {
    child,
    pid: child.pid!,
    allocatedPorts,
    output: () => output,
    negotiated: () => parseNegotiated(output),
  }
}

export function parseNegotiated(output: string): Negotiated {
  const line = (dir: string) => new RegExp(`kex: ${dir} cipher: (\\S+) MAC: (\\S+) compression: (\\S+)`).exec(output)
  const c2s = line('client->server')
  const s2c = line('server->client')
  return {
    kex: /kex: algorithm: (\S+)/.exec(output)?.[1],
    hostKey: /kex: host key algorithm: (\S+)/.exec(output)?.[1],
    clientToServer: c2s ? `${c2s[1]} MAC ${c2s[2]} compression ${c2s[3]}` : undefined,
    serverToClient: s2c ? `${s2c[1]} MAC ${s2c[2]} compression ${s2c[3]}` : undefined,
  }
}
