import { z } from 'zod'
import type { DeviceStore } from '../../devices/device-store.js'
import { NotFoundError } from '../../errors.js'
import type { UserCa } from '../../ssh-access/user-ca.js'
import { createUserSshKeys, parseUserPublicKey, type UserSshKeys } from '../../ssh-access/user-ssh-keys.js'
import type { UserStore } from '../../users/user-store.js'
import type { AuthenticatedUser } from '../../auth/session-tokens.js'
import type { RouteRegistry } from '../route-registry.js'
import { uuidParam } from '../validation.js'

const publicKey = z.string().min(1).max(16_384)
const addKeyBody = z.object({ public_key: publicKey, name: z.string().trim().min(1).max(100).optional() }).strict()
const certificateBody = z.object({ public_key: publicKey, device_id: z.string().min(1).max(200) }).strict()

/**
 * SSH access for people (docs/admin-access.md): their public keys for the
 * jump host, the gateway's user CA, and short-lived certificates from it.
 */
export function registerSshAccessRoutes(
  api: RouteRegistry,
  deps: { keys: UserSshKeys; users: UserStore; devices: DeviceStore; ca: UserCa; certificateTtlSeconds: number; devicePrincipal: string },
) {
  const { keys, users, devices, ca } = deps

  /**
   * `me` is the caller; anyone else's keys are an admin's business only. To
   * anyone else another user's keys do not exist (404, as for a user they may
   * not know of), so ids cannot be probed.
   */
  async function keyOwner(param: string, caller: AuthenticatedUser): Promise<string> {
    const id = param === 'me' ? caller.id : uuidParam(param, 'USER_NOT_FOUND', 'user')
    if (id !== caller.id && caller.role !== 'admin') throw new NotFoundError('USER_NOT_FOUND', 'user')
    await users.get(id)
    return id
  }

  api.route({
    method: 'get',
    path: '/api/users/:id/ssh-keys',
    summary: "List a user's SSH public keys (`me` for the caller)",
    tag: 'ssh',
    access: 'viewer',
    async handler({ params, user }) {
      return { items: await keys.list(await keyOwner(params.id!, user)) }
    },
  })

  api.route({
    method: 'post',
    path: '/api/users/:id/ssh-keys',
    summary: 'Register an SSH public key for the jump host (`me` for the caller)',
    tag: 'ssh',
    access: 'viewer',
    status: 201,
    body: addKeyBody,
    async handler({ params, user, body, transaction }) {
      const owner = await keyOwner(params.id!, user)
      const comment = body.public_key.trim().split(/\s+/).slice(2).join(' ')
      const name = body.name ?? (comment.slice(0, 100) || 'SSH key')
      return transaction(async (trx, audit) => {
        const key = await createUserSshKeys({ db: trx }).add(owner, { name, public_key: body.public_key })
        await audit('ssh_key.add', 'user', owner, { key_id: key.id, name: key.name, fingerprint: key.fingerprint })
        return key
      })
    },
  })

  api.route({
    method: 'delete',
    path: '/api/users/:id/ssh-keys/:keyId',
    summary: 'Delete one of a user\'s SSH public keys (`me` for the caller)',
    tag: 'ssh',
    access: 'viewer',
    status: 204,
    async handler({ params, user, transaction }) {
      const owner = await keyOwner(params.id!, user)
      const keyId = uuidParam(params.keyId, 'SSH_KEY_NOT_FOUND', 'SSH key')
      await transaction(async (trx, audit) => {
        const key = await createUserSshKeys({ db: trx }).remove(owner, keyId)
        await audit('ssh_key.delete', 'user', owner, { key_id: key.id, name: key.name, fingerprint: key.fingerprint })
      })
      return undefined
    },
  })

  api.publicRoute({
    method: 'get',
    path: '/api/provision/ssh-user-ca',
    summary: "The gateway's SSH user CA public key (text/plain, one OpenSSH line), for devices' TrustedUserCAKeys",
    tag: 'ssh',
    access: 'public',
    async handler({ res }) {
      res.type('text/plain').send(`${ca.publicKey} edgetainer-user-ca\n`)
      return undefined
    },
  })

  api.route({
    method: 'post',
    path: '/api/ssh/certificates',
    summary: 'Issue a short-lived OpenSSH user certificate for one device (operators and admins)',
    tag: 'ssh',
    access: 'operator',
    body: certificateBody,
    async handler({ body, user, audit }) {
      const { line, fingerprint } = parseUserPublicKey(body.public_key)
      const device = await devices.get(body.device_id)
      const issued = await ca.sign({
        publicKey: line,
        user: { id: user.id, username: user.username },
        deviceId: device.device_id,
        principal: deps.devicePrincipal,
        validSeconds: deps.certificateTtlSeconds,
      })
      await audit('ssh.certificate.issue', 'device', device.id, {
        device_id: device.device_id,
        serial: issued.serial,
        fingerprint,
        principal: deps.devicePrincipal,
        valid_before: issued.valid_before.toISOString(),
      })
      return { certificate: issued.certificate, valid_before: issued.valid_before.toISOString() }
    },
  })
}

