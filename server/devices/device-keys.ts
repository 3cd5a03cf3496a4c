import { createHash } from 'node:crypto'
import ssh2 from 'ssh2'
import { ValidationError } from '../errors.js'

export interface ParsedPublicKey {
  /** Normalised `type base64` line, without the comment. */
  line: string
  /** OpenSSH style `SHA256:…`, the same string `ssh-keygen -lf` prints. */
  fingerprint: string
}

const allowedTypes = new Set(['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'ssh-rsa'])

/** Parses an OpenSSH public-key line; a private key, a garbled line or a weak type is a 400 on `field`. */
export function parsePublicKey(text: string, field = 'public_key'): ParsedPublicKey {
  const trimmed = text.trim()
  if (/PRIVATE KEY/.test(trimmed)) throw new ValidationError(field, 'this is a private key; send the public key (.pub) only')
  const parsed = ssh2.utils.parseKey(trimmed)
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (!key || key instanceof Error || key.isPrivateKey()) throw new ValidationError(field, 'must be an OpenSSH public key line, e.g. "ssh-ed25519 AAAA… comment"')
  if (!allowedTypes.has(key.type)) throw new ValidationError(field, `key type ${key.type} is not accepted`)
  const blob = key.getPublicSSH()
  if (key.type === 'ssh-rsa' && blob.length < 270) throw new ValidationError(field, 'RSA keys must be at least 2048 bits')
  return {
    line: `${key.type} ${blob.toString('base64')}`,
    fingerprint: `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`,
  }
}
