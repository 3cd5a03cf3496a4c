import { generateEd25519 } from '../../shared/ed25519-keys.js'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import path from 'node:path'

export interface KeyPair {
  /** OpenSSH private key; never leaves the device. */
  privateKey: string
  /** `ssh-ed25519 AAAA…` */
  publicKey: string
}

/** What registration answered, kept so the agent never registers twice. */
export interface Registration {
  id: string
  device_id: string
  name: string
  fleet_id: string | null
  ssh: { host: string; port: number }
  host_key: string
  ssh_port: number | null
  subdomain: string
  server_url: string
  registered_at: string
}

function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** Writes through a temporary file and a rename, so a crash leaves the old file or the new one, never half of one. */
export function writeFileAtomic(file: string, content: string, mode: number): void {
  const tmp = `${file}.tmp-${process.pid}`
  writeFileSync(tmp, content, { mode })
  renameSync(tmp, file)
}

/**
 * The device's identity in its data dir: an ed25519 key pair generated on
 * first start (private key 0600), and the registration result.
 */
export function createIdentityStore(dataDir: string) {
  const dir = path.join(dataDir, 'identity')
  const keyFile = path.join(dir, 'id_ed25519')
  const registrationFile = path.join(dir, 'registration.json')

  function keyPair(): KeyPair {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const existing = readOrUndefined(keyFile)
    if (existing) return { privateKey: existing, publicKey: readFileSync(`${keyFile}.pub`, 'utf8').trim() }
    const pair = generateEd25519('edgetainer-agent')
    const publicKey = pair.public.split(' ').slice(0, 2).join(' ')
    // The public half first: a crash in between leaves no private key without its public one.
    writeFileAtomic(`${keyFile}.pub`, publicKey + '\n', 0o644)
    writeFileAtomic(keyFile, pair.private, 0o600)
    return { privateKey: pair.private, publicKey }
  }

  function registration(): Registration | undefined {
    const text = readOrUndefined(registrationFile)
    return text ? (JSON.parse(text) as Registration) : undefined
  }

  function saveRegistration(value: Registration): void {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    writeFileAtomic(registrationFile, JSON.stringify(value, null, 2) + '\n', 0o600)
  }

  return { keyPair, registration, saveRegistration, keyFile }
}

export type IdentityStore = ReturnType<typeof createIdentityStore>
