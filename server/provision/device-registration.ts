import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { AuditLog } from '../audit/audit-log.js'
import type { Database, DeviceRow } from '../db/schema.js'
import type { DeviceStore } from '../devices/device-store.js'
import { parsePublicKey } from '../devices/device-keys.js'
import { deviceLabel } from '../devices/device-labels.js'
import { ConflictError } from '../errors.js'
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
  auditLog: AuditLog
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

    // One transaction: the token's use, the device, its registration record and the audit row commit together or not at all.
    // Without a name pattern (or when the pattern leaves nothing usable) the id is random, as before.
    const randomId = `dev-${randomBytes(5).toString('hex')}`
    let created: { device: DeviceRow; tokenPrefix: string }
    try {
      created = await db.transaction().execute(async (tx) => {
        const token = await tokens.consume(input.token, tx)
        const name = deviceNameFor(token.options, token.uses, input.hostname, randomId)
        // A name pattern names the device id and subdomain too (`lab-{n}` → `lab-1`), suffixed on collision by the store.
        const label = token.options.name_pattern ? deviceLabel(name) : ''
        const device = await devices.create(
          {
            ...(label ? { label } : { device_id: randomId }),
            name,
            fleet_id: token.fleet_id,
            public_key: key.line,
            hardware_info: { ...(input.hardware_info ?? {}), ...(input.hostname ? { hostname: input.hostname } : {}) },
            os_version: input.os_version ?? null,
            labels: token.labels ?? {},
          },
          tx,
        )
        await tx.insertInto('device_registrations').values({ device_id: device.id, token_id: token.id, remote_address: remoteAddress }).execute()
        await deps.auditLog.record(
          {
            actorUserId: null,
            actor: `registration-token:${token.prefix}`,
            action: 'device.register',
            targetType: 'device',
            targetId: device.id,
            details: { device_id: device.device_id, fleet_id: device.fleet_id, token_id: token.id, public_key_fingerprint: key.fingerprint },
            ip: remoteAddress,
          },
          tx,
        )
        return { device, tokenPrefix: token.prefix }
      })
    } catch (err) {
      // The same key racing itself (two retries in flight): the winner's device is the answer, whatever the loser hit.
      const winner = await earlierRegistration(key.fingerprint, known.id).catch(() => undefined)
      if (winner && winner !== 'other') return { created: false, result: result(winner) }
      throw err
    }
    const { device, tokenPrefix } = created
    devices.announce(device)
    logger.info({ device: device.device_id, fleet_id: device.fleet_id, token_prefix: tokenPrefix }, 'device registered')
    return { created: true, result: result(device) }
  }

  return { register }
}

export type DeviceRegistration = ReturnType<typeof createDeviceRegistration>
