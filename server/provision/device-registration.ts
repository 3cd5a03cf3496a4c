import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database, DeviceRow } from '../db/schema.js'
import type { DeviceStore } from '../devices/device-store.js'
import { parsePublicKey } from '../devices/device-keys.js'
import { ConflictError, HttpError } from '../errors.js'
import type { Logger } from '../logger.js'
import { RegistrationTokenError, type RegistrationTokens } from './registration-tokens.js'
import { deviceNameFor } from './token-options.js'

export interface RegistrationRequest {
  token: string
  public_key: string
  hardware_info?: Record<string, unknown>
  os_version?: string
  hostname?: string
}

/** What a device learns once, at registration; after this everything travels in its tunnel. */
export interface RegistrationResult {
  id: string
  device_id: string
  name: string
  fleet_id: string | null
  /** Where to dial the tunnel: `ssh -p <port> <device_id>@<host>`. */
  ssh: { host: string; port: number }
  /** The gateway's host key, `ssh-ed25519 AAAA…`: the device pins it. */
  host_key: string
  /** The gateway loopback port assigned to the device's own sshd. */
  ssh_port: number | null
  subdomain: string
}

/**
 * Turns a registration token and a device's public key into a device in the
 * token's fleet. A retry with the same key and token (the reply was lost)
 * returns the same device and uses nothing.
 */
export function createDeviceRegistration(deps: {
  db: Kysely<Database>
  tokens: RegistrationTokens
  devices: DeviceStore
  /** The SSH endpoint devices dial; known once the tunnel server listens. */
  sshEndpoint: () => { host: string; port: number }
  hostPublicKey: string
  logger: Logger
}) {
  const { db, tokens, devices, logger } = deps

  function result(device: DeviceRow): RegistrationResult {
    return {
      id: device.id,
      device_id: device.device_id,
      name: device.name,
      fleet_id: device.fleet_id,
      ssh: deps.sshEndpoint(),
      host_key: deps.hostPublicKey,
      ssh_port: device.ssh_port,
      subdomain: device.subdomain,
    }
  }

  /** The device this key registered earlier with this very token, if any. */
  async function earlierRegistration(fingerprint: string, tokenId: string): Promise<DeviceRow | 'other' | undefined> {
    const device = await db.selectFrom('devices').selectAll().where('public_key_fingerprint', '=', fingerprint).executeTakeFirst()
    if (!device) return undefined
    const registration = await db.selectFrom('device_registrations').select('token_id').where('device_id', '=', device.id).executeTakeFirst()
    return registration?.token_id === tokenId ? device : 'other'
  }

  async function register(input: RegistrationRequest, remoteAddress: string | null): Promise<{ created: boolean; result: RegistrationResult }> {
    const key = parsePublicKey(input.public_key)
    const known = await tokens.byValue(input.token)
    if (!known) throw new RegistrationTokenError('not_found')

    const earlier = await earlierRegistration(key.fingerprint, known.id)
    if (earlier === 'other') throw new ConflictError('this public key already belongs to another device', 'PUBLIC_KEY_IN_USE', 'public_key')
    if (earlier) {
      if (known.revoked_at) throw new RegistrationTokenError('revoked')
      return { created: false, result: result(earlier) }
    }

    const token = await tokens.consume(input.token)
    const deviceId = `dev-${randomBytes(5).toString('hex')}`
    let device: DeviceRow
    try {
      device = await devices.create({
        device_id: deviceId,
        name: deviceNameFor(token.options, token.uses, input.hostname, deviceId),
        fleet_id: token.fleet_id,
        public_key: key.line,
        hardware_info: { ...(input.hardware_info ?? {}), ...(input.hostname ? { hostname: input.hostname } : {}) },
        os_version: input.os_version ?? null,
      })
    } catch (err) {
      await tokens.release(token.id)
      // The same key racing itself (two retries in flight): the winner's device is the answer.
      if (err instanceof HttpError && err.code === 'PUBLIC_KEY_IN_USE') {
        const winner = await earlierRegistration(key.fingerprint, token.id)
        if (winner && winner !== 'other') return { created: false, result: result(winner) }
      }
      throw err
    }
    await db.insertInto('device_registrations').values({ device_id: device.id, token_id: token.id, remote_address: remoteAddress }).execute()
    logger.info({ device: device.device_id, fleet_id: device.fleet_id, token_prefix: token.prefix }, 'device registered')
    return { created: true, result: result(device) }
  }

  return { register }
}

export type DeviceRegistration = ReturnType<typeof createDeviceRegistration>
