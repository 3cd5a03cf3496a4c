import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import ssh2 from 'ssh2'

export interface HostKey {
  /** OpenSSH private key, for ssh2's Server `hostKeys`. */
  privateKey: string
  /** `ssh-ed25519 AAAA…`: what devices pin (Ignition writes it into agent.yaml). */
  publicKey: string
}

/**
 * The gateway's SSH host key, generated once into the data dir and kept, so
 * pinned devices keep trusting the gateway across restarts.
 */
export function loadOrCreateHostKey(dataDir: string, name = 'ssh_host_ed25519_key'): HostKey {
  const file = path.join(dataDir, name)
  try {
    return { privateKey: readFileSync(file, 'utf8'), publicKey: readFileSync(`${file}.pub`, 'utf8').trim() }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'edgetainer-gateway' })
  const publicKey = pair.public.split(' ').slice(0, 2).join(' ')
  writeFileSync(file, pair.private, { mode: 0o600, flag: 'wx' })
  writeFileSync(`${file}.pub`, publicKey + '\n', { mode: 0o644 })
  return { privateKey: pair.private, publicKey }
}
