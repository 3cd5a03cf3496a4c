import { randomBytes, hkdfSync } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'

/**
 * The gateway's one root secret. Encryption-at-rest and token-signing keys are
 * derived from it with HKDF, so the data dir holds a single key file.
 */
export interface MasterKey {
  derive(purpose: string): Buffer
}

/** Uses the configured key, or the one in `<dataDir>/secret.key`, generating it (0600) on first start. */
export function loadMasterKey(options: { dataDir: string; configuredKey?: string }): MasterKey {
  let key: Buffer
  if (options.configuredKey) {
    key = Buffer.from(options.configuredKey, 'base64')
  } else {
    const file = path.join(options.dataDir, 'secret.key')
    try {
      key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      mkdirSync(options.dataDir, { recursive: true, mode: 0o700 })
      key = randomBytes(32)
      writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' })
    }
    if (key.length !== 32) throw new Error(`${file} must hold 32 bytes in base64`)
  }
  return {
    derive: (purpose) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `edgetainer:${purpose}`, 32)),
  }
}
