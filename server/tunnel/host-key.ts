import { createPrivateKey } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { generateEd25519 } from '../../shared/ed25519-keys.js'
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
  const pair = generateEd25519('edgetainer-gateway')
  const publicKey = pair.public.split(' ').slice(0, 2).join(' ')
  writeFileSync(file, pair.private, { mode: 0o600, flag: 'wx' })
  writeFileSync(`${file}.pub`, publicKey + '\n', { mode: 0o644 })
  return { privateKey: pair.private, publicKey }
}

/**
 * The host key parsed once for ssh2's Server, signing with a KeyObject: ssh2
 * otherwise hands the PEM text to crypto.sign on every key exchange, and
 * OpenSSL 3 decodes it anew each time (about 1.1 ms per handshake on this
 * machine, against 0.05 ms with a KeyObject).
 */
export function sshHostKey(privateKey: string): ssh2.ParsedKey {
  const parsed = ssh2.utils.parseKey(privateKey)
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (!key || key instanceof Error) throw new Error(`the SSH host key cannot be parsed: ${key instanceof Error ? key.message : 'empty'}`)
  const pemSymbol = Object.getOwnPropertySymbols(key).find((s) => s.description === 'Private key PEM')
  const slots = key as unknown as Record<symbol, unknown>
  if (pemSymbol && typeof slots[pemSymbol] === 'string') slots[pemSymbol] = createPrivateKey(slots[pemSymbol] as string)
  return key
}
