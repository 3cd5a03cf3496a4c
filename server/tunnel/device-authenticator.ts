import { createPublicKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto'
import type { Kysely } from 'kysely'
import ssh2, { type PublicKeyAuthContext } from 'ssh2'
import type { Database } from '../db/schema.js'
import type { AuthenticatedDevice } from './device-session.js'
import { deviceIdPattern } from '../devices/device-store.js'
import { withoutBufferPool } from '../../shared/ssh2-internals.js'

type ParsedKey = ssh2.ParsedKey

export interface DeviceKeyRecord extends AuthenticatedDevice {
  key: ParsedKey
  /**
   * An ed25519 key imported from its raw bytes. ssh2 verifies with the key as PEM text, which
   * OpenSSL 3 decodes on every call through its slow decoder framework: about 0.1 ms of the
   * gateway's CPU per handshake, which a reconnect storm of thousands multiplies.
   */
  ed25519?: KeyObject
}

/** What a session keeps of the record once authenticated: not the parsed keys, which served authentication only. */
export function authenticatedDevice(record: DeviceKeyRecord): AuthenticatedDevice {
  return { id: record.id, device_id: record.device_id, ssh_port: record.ssh_port, public_key: record.public_key }
}

/** The key of an `ssh-ed25519` public blob (string type, string 32-byte key) as a KeyObject; undefined if malformed. */
function ed25519KeyObject(blob: Buffer): KeyObject | undefined {
  if (blob.length !== 4 + 11 + 4 + 32) return undefined
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: blob.subarray(blob.length - 32).toString('base64url') }, format: 'jwk' })
  } catch {
    return undefined
  }
}

/** A device row as the SSH endpoint needs it: its key parsed once per connection; undefined when the key cannot be read. */
export function deviceKeyRecord(row: AuthenticatedDevice): DeviceKeyRecord | undefined {
  // The parsed key lives as long as the connection authenticates: its bytes are kept out of the shared Buffer pool.
  const parsed = withoutBufferPool(() => ssh2.utils.parseKey(row.public_key))
  const key = Array.isArray(parsed) ? parsed[0] : parsed
  if (!key || key instanceof Error) return undefined
  const ed25519 = key.type === 'ssh-ed25519' ? ed25519KeyObject(key.getPublicSSH()) : undefined
  return { id: row.id, device_id: row.device_id, ssh_port: row.ssh_port, public_key: row.public_key, key, ...(ed25519 ? { ed25519 } : {}) }
}

/** True when the offered key is the device's key (and, if signed, the signature verifies). */
export function keyMatches(record: DeviceKeyRecord, ctx: Pick<PublicKeyAuthContext, 'key' | 'signature' | 'blob' | 'hashAlgo'>): boolean {
  const expected = record.key.getPublicSSH()
  if (ctx.key.algo !== record.key.type || ctx.key.data.length !== expected.length || !timingSafeEqual(ctx.key.data, expected)) return false
  if (!ctx.signature || !ctx.blob) return true
  if (record.ed25519) {
    try {
      return verify(null, ctx.blob, record.ed25519, ctx.signature)
    } catch {
      return false // a signature OpenSSL cannot even read
    }
  }
  return record.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true
}

/**
 * Public-key authentication of devices: the SSH user name is the device_id,
 * and the offered key must be the one registered for that device. Another
 * device's key under this name, an unknown device, or no key all fail alike.
 */
export function createDeviceAuthenticator(deps: { db: Kysely<Database> }) {
  async function lookup(deviceId: string): Promise<DeviceKeyRecord | undefined> {
    // Only well-formed ids reach the database: a NUL byte, for one, is an error there, not a miss.
    if (!deviceIdPattern.test(deviceId)) return undefined
    const row = await deps.db.selectFrom('devices').select(['id', 'device_id', 'ssh_port', 'public_key']).where('device_id', '=', deviceId).executeTakeFirst()
    if (!row?.public_key) return undefined
    return deviceKeyRecord({ ...row, public_key: row.public_key })
  }

  return { lookup, keyMatches }
}

export type DeviceAuthenticator = ReturnType<typeof createDeviceAuthenticator>
