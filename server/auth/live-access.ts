import type { Role } from '../db/schema.js'
import type { Logger } from '../logger.js'
import { roleAllows } from './roles.js'
import type { AuthenticatedUser } from './session-tokens.js'

/** A long-lived connection (web terminal, event stream) opened with a credential that may stop being valid. */
export interface LiveConnection {
  /** Who opened it, with the credential they used. */
  user: AuthenticatedUser
  /** The lowest role the connection needs; a demotion below it ends the connection. */
  requiredRole: Role
  /** Verifies the credential the connection was opened with again; undefined once it is revoked. */
  reverify(): Promise<AuthenticatedUser | undefined>
  /** Ends the connection, telling the client why. Called at most once. */
  close(reason: string): void
}

/**
 * Ends long-lived connections when the access they were opened with ends.
 * A request is checked once, but a terminal or an event stream lives for
 * hours: without this, logout, a disabled account, a demotion or a new
 * password would leave them open. Two paths close them:
 *  - `recheckUser`, called in-process right after a change to a user or their
 *    credentials, re-verifies that user's connections at once;
 *  - a periodic re-check of every connection catches what this process did not
 *    see (the CLI in another process, another gateway node, an expiry, a logout).
 */
export function createLiveAccess(deps: { recheckMs: number; logger: Logger }) {
  const live = new Set<LiveConnection>()
  let checking = false

  async function check(connection: LiveConnection, hint?: string): Promise<void> {
    let user: AuthenticatedUser | undefined
    try {
      user = await connection.reverify()
    } catch (err) {
      // A database blip must not cut every terminal; the next round decides.
      deps.logger.warn({ err }, 'could not re-verify a live connection')
      return
    }
    if (!live.has(connection)) return
    let reason: string | undefined
    if (!user || user.id !== connection.user.id) reason = `access revoked: ${hint ?? 'the session ended (signed out, expired, password changed or account disabled)'}`
    else if (!roleAllows(user.role, connection.requiredRole)) reason = `access revoked: the ${user.role} role may not do this (it needs ${connection.requiredRole})`
    if (!reason) return
    live.delete(connection)
    try {
      connection.close(reason)
    } catch (err) {
      deps.logger.error({ err }, 'could not close a revoked connection')
    }
  }

  const timer = setInterval(() => {
    // One round at a time: a slow database must not pile rounds up.
    if (checking) return
    checking = true
    void Promise.all([...live].map((c) => check(c))).finally(() => (checking = false))
  }, deps.recheckMs)
  timer.unref()

  return {
    /** Watches a connection; call the returned function when it closes on its own. */
    track(connection: LiveConnection): () => void {
      live.add(connection)
      return () => void live.delete(connection)
    },
    /** Re-verifies every connection of one user now, e.g. after a password change, disable or demotion. */
    async recheckUser(userId: string, hint?: string): Promise<void> {
      await Promise.all([...live].filter((c) => c.user.id === userId).map((c) => check(c, hint)))
    },
    get size() {
      return live.size
    },
    close() {
      clearInterval(timer)
      live.clear()
    },
  }
}

export type LiveAccess = ReturnType<typeof createLiveAccess>
