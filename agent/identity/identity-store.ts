import { generateEd25519 } from '../../shared/ed25519-keys.js'
import { mkdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import ssh2 from 'ssh2'
import { fsyncDir, writeFileAtomic } from './durable-file.js'

// Other agent parts write their state through the same durable path.
export { writeFileAtomic } from './durable-file.js'

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
  /** The public key the gateway registered (absent in registrations saved by older agents). */
  public_key?: string
}

/**
 * The identity on disk is unusable and must not be replaced silently: the
 * gateway knows this device by its key, so a new key would lock it out (or,
 * worse, register a second device).
 */
export class IdentityCorruptError extends Error {
  override name = 'IdentityCorruptError'
}

function readOrUndefined(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

/** `ssh-ed25519 AAAA…` of an OpenSSH private key, or undefined when the text is not a usable key. */
function publicKeyOf(privateKey: string): string | undefined {
  if (!privateKey.trim()) return undefined
  const parsed = ssh2.utils.parseKey(privateKey)
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (!key || key instanceof Error || key.isPrivateKey() !== true) return undefined
  return `${key.type} ${key.getPublicSSH().toString('base64')}`
}

/**
 * The device's identity in its data dir: an ed25519 key pair generated on
 * first start (private key 0600), and the registration result. Every write
 * is durable (fsync of the file and its directory), and once registered the
 * key is never generated again: a lost or damaged key stops the agent with
 * instructions instead.
 */
export function createIdentityStore(dataDir: string) {
  const dir = path.join(dataDir, 'identity')
  const keyFile = path.join(dir, 'id_ed25519')
  const registrationFile = path.join(dir, 'registration.json')

  function ensureDir() {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    fsyncDir(dataDir)
  }

  function refuse(what: string, registration: Registration): never {
    throw new IdentityCorruptError(
      `this device is registered as ${registration.device_id}, but ${what}. ` +
        `The agent will not make a new key: the gateway knows the device by the old one. ` +
        `Re-provision the device: delete it at the gateway (or keep its record for history), remove ${dir}, ` +
        `and start the agent again with a new registration token.`,
    )
  }

  function registration(): Registration | undefined {
    const text = readOrUndefined(registrationFile)
    if (!text?.trim()) return undefined
    try {
      const value = JSON.parse(text) as Registration
      if (typeof value.device_id === 'string' && typeof value.id === 'string') return value
    } catch {
      // Reported below.
    }
    throw new IdentityCorruptError(
      `${registrationFile} is damaged, so the agent cannot tell which device it is. ` +
        `Re-provision the device: remove ${dir} and start the agent again with a new registration token.`,
    )
  }

  function keyPair(): KeyPair {
    ensureDir()
    const registered = registration()
    const existing = readOrUndefined(keyFile)
    if (existing !== undefined || registered) {
      const publicKey = existing === undefined ? undefined : publicKeyOf(existing)
      if (!publicKey) {
        if (registered) refuse(existing === undefined ? `its private key ${keyFile} is missing` : `its private key ${keyFile} is empty or damaged`, registered)
      } else {
        if (registered?.public_key && registered.public_key.split(' ')[1] !== publicKey.split(' ')[1]) {
          refuse(`its private key ${keyFile} is not the key it registered with`, registered)
        }
        // The private key is the truth; a torn or missing .pub is rebuilt from it.
        if (readOrUndefined(`${keyFile}.pub`)?.trim() !== publicKey) writeFileAtomic(`${keyFile}.pub`, publicKey + '\n', 0o644)
        return { privateKey: existing!, publicKey }
      }
    }
    // Not registered yet (or the key never reached the disk whole before registering): a new key is safe.
    const pair = generateEd25519('edgetainer-agent')
    const publicKey = pair.public.split(' ').slice(0, 2).join(' ')
    writeFileAtomic(keyFile, pair.private, 0o600)
    writeFileAtomic(`${keyFile}.pub`, publicKey + '\n', 0o644)
    return { privateKey: pair.private, publicKey }
  }

  function saveRegistration(value: Registration): void {
    ensureDir()
    writeFileAtomic(registrationFile, JSON.stringify(value, null, 2) + '\n', 0o600)
  }

  return { keyPair, registration, saveRegistration, keyFile, dir }
}

export type IdentityStore = ReturnType<typeof createIdentityStore>
