import { timingSafeEqual } from 'node:crypto'
import type { Kysely } from 'kysely'
import ssh2, { type PublicKeyAuthContext } from 'ssh2'
import type { Database } from '../db/schema.js'
import type { AuthenticatedDevice } from './device-session.js'
import { deviceIdPattern } from '../devices/device-store.js'
import { withoutBufferPool } from '../../shared/ssh2-internals.js'

type ParsedKey = ssh2.ParsedKey

export interface DeviceKeyRecord extends AuthenticatedDevice {
  key: ParsedKey
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
    // The parsed key lives as long as the device's session: its bytes are kept out of the shared Buffer pool.
    const parsed = withoutBufferPool(() => ssh2.utils.parseKey(row.public_key!))
    const key = Array.isArray(parsed) ? parsed[0] : parsed
    if (!key || key instanceof Error) return undefined
    return { id: row.id, device_id: row.device_id, ssh_port: row.ssh_port, public_key: row.public_key, key }
  }

  /** True when the offered key is the device's key (and, if signed, the signature verifies). */
  function keyMatches(record: DeviceKeyRecord, ctx: PublicKeyAuthContext): boolean {
    const expected = record.key.getPublicSSH()
    if (ctx.key.algo !== record.key.type || ctx.key.data.length !== expected.length || !timingSafeEqual(ctx.key.data, expected)) return false
    if (!ctx.signature || !ctx.blob) return true
    return record.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) === true
  }

  return { lookup, keyMatches }
}

export type DeviceAuthenticator = ReturnType<typeof createDeviceAuthenticator>
