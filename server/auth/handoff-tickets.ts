import { randomBytes } from 'node:crypto'

interface Ticket {
  sessionToken: string
  host: string
  expires: number
}

const TTL_MS = 60_000
const MAX_TICKETS = 10_000

/**
 * One-time tickets that carry a device-host session to that host. The console
 * cookie is host-only (device hosts serve untrusted pages), so the console
 * mints a new session bound to the one device host and hands it over: ticket
 * in the URL, session token in gateway memory, used once, for that host,
 * within a minute. The console session itself never leaves the console.
 */
export function createHandoffTickets() {
  const tickets = new Map<string, Ticket>()

  function prune(now: number) {
    for (const [id, t] of tickets) if (t.expires <= now) tickets.delete(id)
  }

  return {
    issue(hostSessionToken: string, host: string): string {
      const now = Date.now()
      if (tickets.size >= MAX_TICKETS) prune(now)
      // Still full of live tickets: the oldest goes (Map keeps insertion order), so memory stays bounded.
      if (tickets.size >= MAX_TICKETS) tickets.delete(tickets.keys().next().value!)
      const id = randomBytes(24).toString('base64url')
      tickets.set(id, { sessionToken: hostSessionToken, host, expires: now + TTL_MS })
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
