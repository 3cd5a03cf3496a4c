import { randomBytes } from 'node:crypto'

interface Ticket {
  sessionToken: string
  host: string
  expires: number
}

const TTL_MS = 60_000
const MAX_TICKETS = 10_000

/**
 * One-time tickets that carry a console session to a device host. Browsers
 * will not share a cookie between `localhost` and `*.localhost` (nor between a
 * console host and a base domain it is not under), so the console hands the
 * session over: ticket in the URL, session in gateway memory, used once,
 * for one host, within a minute.
 */
export function createHandoffTickets() {
  const tickets = new Map<string, Ticket>()

  function prune(now: number) {
    for (const [id, t] of tickets) if (t.expires <= now) tickets.delete(id)
  }

  return {
    issue(sessionToken: string, host: string): string {
      const now = Date.now()
      if (tickets.size >= MAX_TICKETS) prune(now)
      const id = randomBytes(24).toString('base64url')
      tickets.set(id, { sessionToken, host, expires: now + TTL_MS })
      return id
    },
    /** The session token, if the ticket exists, is unexpired and was issued for this host. Consumes it either way. */
    redeem(id: string, host: string): string | undefined {
      const ticket = tickets.get(id)
      tickets.delete(id)
      if (!ticket || ticket.expires <= Date.now() || ticket.host !== host) return undefined
      return ticket.sessionToken
    },
  }
}

export type HandoffTickets = ReturnType<typeof createHandoffTickets>
