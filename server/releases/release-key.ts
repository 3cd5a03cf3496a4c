import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { releaseKeyLine } from '../../shared/agent-release.js'

export const RELEASE_KEY_FILE = 'release_ed25519_key.pem'

export interface ReleaseKey {
  /** `ed25519:<base64url>`: what Ignition pins in the agent's config. */
  readonly publicKey: string
  /** ed25519 signature of `text`'s UTF-8 bytes, base64. */
  sign(text: string): string
}

function readKey(file: string): KeyObject {
  let key: KeyObject
  try {
    key = createPrivateKey(readFileSync(file))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new Error(`cannot read the release key ${file}: ${code ?? 'not a PEM private key'}`)
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the release key ${file} is ${key.asymmetricKeyType}, not ed25519`)
  return key
}

/**
 * The gateway's release key, which signs every agent manifest. A configured
 * PEM file wins (keep it off the gateway's disk backups, or share one key
 * across gateway nodes); otherwise one is generated into the data dir on first
 * start. Devices pin its public half at provisioning: replacing the key means
 * devices provisioned before refuse later updates.
 */
export function loadOrCreateReleaseKey(options: { dataDir: string; configuredFile?: string }): ReleaseKey {
  let privateKey: KeyObject
  if (options.configuredFile) privateKey = readKey(options.configuredFile)
  else {
    const file = path.join(options.dataDir, RELEASE_KEY_FILE)
    if (!existsSync(file)) {
      mkdirSync(options.dataDir, { recursive: true })
      const pair = generateKeyPairSync('ed25519')
      // wx: two gateways starting on one data dir cannot overwrite each other's key.
      try {
        writeFileSync(file, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' })
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
    }
    privateKey = readKey(file)
  }
  const publicKey = releaseKeyLine(createPublicKey(privateKey))
  return {
    publicKey,
    sign: (text) => sign(null, Buffer.from(text, 'utf8'), privateKey).toString('base64'),
  }
}
