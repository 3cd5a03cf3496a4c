/**
 * One T per (device session, service, port), made on first use. Keyed weakly on the
 * session, so a closed session's entries (agents, channel pools) go with it.
 */
export function perService<S extends object, T>(make: (session: S, service: string, port: number) => T) {
  const bySession = new WeakMap<S, Map<string, T>>()
  return {
    get(session: S, service: string, port: number): T {
      let entries = bySession.get(session)
      if (!entries) bySession.set(session, (entries = new Map()))
      const key = `${service}:${port}`
      let entry = entries.get(key)
      if (!entry) entries.set(key, (entry = make(session, service, port)))
      return entry
    },
  }
}
