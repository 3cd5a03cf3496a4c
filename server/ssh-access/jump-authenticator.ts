import { timingSafeEqual } from 'node:crypto'
import ssh2, { type PublicKeyAuthContext } from 'ssh2'
import { roleAllows } from '../auth/roles.js'
import type { Role } from '../db/schema.js'
import type { UserStore } from '../users/user-store.js'
import { isCertificateAlgorithm, verifySshSignature } from './openssh-certificate.js'
import type { UserCa } from './user-ca.js'
import { sshFingerprint, type UserSshKeys } from './user-ssh-keys.js'

/**
 * People log in on the SSH port as `u:<username>`; devices as their bare
 * device id. A device id never contains `:` (deviceIdPattern), so the two
 * name spaces cannot overlap (docs/admin-access.md).
 */
export const USER_LOGIN_PREFIX = 'u:'
const usernamePattern = /^[a-zA-Z0-9][a-zA-Z0-9._-]{1,63}$/

/** The username in a jump-host login, or undefined when the name is not a well-formed `u:<username>`. */
export function jumpLoginUsername(login: string): string | undefined {
  if (!login.startsWith(USER_LOGIN_PREFIX)) return undefined
  const name = login.slice(USER_LOGIN_PREFIX.length)
  return usernamePattern.test(name) ? name : undefined
}

export interface JumpUser {
  id: string
  username: string
  role: Role
  via: 'key' | 'certificate'
  /** Fingerprint of the key (or of the certified key) the user signed with. */
  fingerprint: string
  /** Set for certificate logins: the one device the certificate opens, and its serial. */
  certificate?: { deviceId: string; serial: string; keyId: string }
}

export type JumpAuthResult = { user: JumpUser; signed: boolean } | { refused: string }

/**
 * Public-key authentication of people on the jump host: a key registered on
 * the user, or a certificate from the gateway's own user CA naming that user.
 * Operators and admins only; viewers and disabled accounts are refused.
 */
export function createJumpAuthenticator(deps: { users: UserStore; keys: UserSshKeys; ca: UserCa }) {
  async function authenticate(ctx: PublicKeyAuthContext): Promise<JumpAuthResult> {
    const username = jumpLoginUsername(ctx.username)
    if (!username) return { refused: 'not a valid u:<username> login' }
    const row = await deps.users.findByUsername(username)
    if (!row) return { refused: 'no such user' }
    if (row.disabled) return { refused: 'account disabled' }
    if (!roleAllows(row.role, 'operator')) return { refused: `role ${row.role} may not use the jump host` }
    const base = { id: row.id, username: row.username, role: row.role }
    const signed = Boolean(ctx.signature && ctx.blob)

    if (isCertificateAlgorithm(ctx.key.algo)) {
      const checked = deps.ca.check(ctx.key.data)
      if ('refused' in checked) return checked
      const { grant, cert } = checked
      if (grant.userId !== row.id) return { refused: 'certificate issued to another user' }
      if (signed && !verifySshSignature(cert.publicKeyBlob, ctx.blob!, ctx.signature!)) return { refused: 'signature does not verify' }
      const user: JumpUser = {
        ...base,
        via: 'certificate',
        fingerprint: sshFingerprint(cert.publicKeyBlob),
        certificate: { deviceId: grant.deviceId, serial: String(cert.serial), keyId: cert.keyId },
      }
      return { user, signed }
    }

    const key = await deps.keys.findForUser(row.id, ctx.key.data)
    if (!key) return { refused: 'key not registered on this user' }
    const parsed = ssh2.utils.parseKey(key.public_key)
    const registered = Array.isArray(parsed) ? parsed[0] : parsed
    if (!registered || registered instanceof Error) return { refused: 'registered key unreadable' }
    const expected = registered.getPublicSSH()
    if (ctx.key.algo !== registered.type || ctx.key.data.length !== expected.length || !timingSafeEqual(ctx.key.data, expected)) {
      return { refused: 'key type mismatch' }
    }
    if (signed && registered.verify(ctx.blob!, ctx.signature!, ctx.hashAlgo) !== true) return { refused: 'signature does not verify' }
    if (signed) deps.keys.touch(key.id).catch(() => undefined)
    return { user: { ...base, via: 'key', fingerprint: key.fingerprint }, signed }
  }

  return { authenticate }
}

export type JumpAuthenticator = ReturnType<typeof createJumpAuthenticator>
