import { generateEd25519 } from '../../shared/ed25519-keys.js'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

export interface TestKeyPair {
  /** OpenSSH private key (PEM-like `-----BEGIN OPENSSH PRIVATE KEY-----`). */
  privateKey: string
  /** One-line OpenSSH public key. */
  publicKey: string
}

export function newKeyPair(comment = 'test'): TestKeyPair {
  const pair = generateEd25519(comment)
  return { privateKey: pair.private, publicKey: pair.public }
}

/** The temp dirs written below: removed when the test process exits, so no private key outlives its test. */
const written: string[] = []
let cleanupRegistered = false

/** Writes the pair to a private temp dir (mode 0600), as stock `ssh -i` wants it. */
export function writeKeyPair(pair: TestKeyPair, name = 'id_ed25519'): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-key-'))
  written.push(dir)
  if (!cleanupRegistered) {
    cleanupRegistered = true
    process.on('exit', () => {
      for (const d of written) rmSync(d, { recursive: true, force: true })
    })
  }
  const file = path.join(dir, name)
  writeFileSync(file, pair.privateKey, { mode: 0o600 })
  writeFileSync(`${file}.pub`, pair.publicKey + '\n', { mode: 0o644 })
  return file
}
