import { isIP } from 'node:net'
import type { AuditLog } from '../audit/audit-log.js'
import type { UserRow } from '../db/schema.js'
import { UnauthorizedError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { UserStore } from '../users/user-store.js'
import type { LoginLimiter } from './login-limiter.js'
import type { PasswordHasher } from './passwords.js'

/** The user-name pattern accounts are created with; anything else cannot exist, so it is never looked up. */
const STORABLE_USERNAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{1,63}$/

/**
 * The address limits and audit rows key on. express derives `req.ip` from
 * X-Forwarded-For under `trust proxy`; an entry there that is not an IP
 * address is a client's junk passed on, so the nearest real peer counts instead.
 */
export function clientAddress(req: { ip?: string | undefined; socket: { remoteAddress?: string | undefined } }): string {
  if (req.ip && isIP(req.ip)) return req.ip
  return req.socket.remoteAddress ?? 'unknown'
}

/** A user name as it may be shown in the audit log: no control characters or lone surrogates (jsonb refuses them). */
function printable(name: string): string {
  return name
    .slice(0, 100)
    .replace(/[\u0000-\u001f\u007f-\u009f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
}

/**
 * Password login: limiter point first, then the (bounded) password check,
 * then the audit row either way. A hash weaker than today's cost is replaced
 * after a good login, while the plain password is at hand.
 */
export function createPasswordLogin(deps: { users: UserStore; limiter: LoginLimiter; passwords: PasswordHasher; auditLog: AuditLog; logger: Logger }) {
  const { users, limiter, passwords, auditLog, logger } = deps

  async function rehash(user: UserRow, password: string): Promise<void> {
    try {
      const replaced = await users.replacePasswordHash(user.id, user.password_hash, await passwords.hash(password))
      if (replaced) logger.info({ user_id: user.id }, 'password rehashed at the current scrypt cost')
    } catch (err) {
      // The login stands; the next one tries again.
      logger.warn({ err, user_id: user.id }, 'password rehash failed')
    }
  }

  async function login(input: { username: string; password: string; address: string }): Promise<UserRow> {
    const attempt = await limiter.reserve(input.username, input.address)
    let user: UserRow | undefined
    let ok: boolean
    try {
      user = STORABLE_USERNAME.test(input.username) ? await users.findByUsername(input.username) : undefined
      // Check a decoy hash for unknown users so timing does not tell who exists.
      ok = await passwords.verify(input.password, user?.password_hash ?? (await passwords.decoyHash()))
    } catch (err) {
      await attempt.release()
      throw err
    }
    if (!user || !ok || user.disabled) {
      const username = printable(input.username)
      const reason = !user ? 'unknown_user' : !ok ? 'wrong_password' : 'disabled'
      await auditLog.record({
        actorUserId: null,
        actor: username,
        action: 'auth.login_failed',
        targetType: 'user',
        targetId: user?.id ?? null,
        details: { username, reason },
        ip: input.address,
      })
      throw new UnauthorizedError('invalid username or password', 'INVALID_CREDENTIALS')
    }
    await attempt.succeeded()
    if (passwords.needsRehash(user.password_hash)) await rehash(user, input.password)
    await auditLog.record({ actorUserId: user.id, actor: user.username, action: 'auth.login', targetType: 'user', targetId: user.id, ip: input.address })
    return user
  }

  return { login }
}

export type PasswordLogin = ReturnType<typeof createPasswordLogin>
