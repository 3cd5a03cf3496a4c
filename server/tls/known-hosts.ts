import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'

const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
const KNOWN_TTL_MS = 30_000
const MAX_CACHED = 10_000

/**
 * The host names the gateway may hold certificates for, and which certificate
 * each belongs to. This is the only gate in front of issuance: a name that is
 * not the console host, nor a device host or service host of a device with an
 * enabled HTTP service, never reaches the CA (so a stranger's SNI cannot
 * spend our rate limits).
 *
 * Certificates are named by their main host:
 * - the console host;
 * - `<subdomain>.<base>` for a device, covering `<service>.<subdomain>.<base>` too;
 * - `*.<base>` when a DNS hook makes wildcards possible.
 */
export function createKnownHosts(deps: { db: Kysely<Database>; consoleHost: string; baseDomain: string; wildcard: boolean }) {
  const { db, consoleHost, baseDomain } = deps
  const suffix = `.${baseDomain}`
  const wildcardName = `*.${baseDomain}`
  // Short-lived answers for SNI, so a scanner spraying random names costs no query per handshake.
  const known = new Map<string, { value: boolean; at: number }>()

  /** Which certificate would carry `host` (by syntax alone; says nothing about whether it is wanted). */
  function certificateNameFor(host: string): string | undefined {
    if (host === consoleHost) return consoleHost
    if (deps.wildcard && host === wildcardName) return wildcardName
    if (!host.endsWith(suffix)) return undefined
    const labels = host.slice(0, -suffix.length).split('.')
    if (labels.length > 2 || !labels.every((l) => label.test(l))) return undefined
    return `${labels[labels.length - 1]}${suffix}`
  }

  /** The device host and one host per enabled HTTP service; empty when the device serves nothing. */
  async function hostsForSubdomain(subdomain: string): Promise<string[]> {
    const rows = await db
      .selectFrom('devices')
      .innerJoin('exposed_services', 'exposed_services.device_id', 'devices.id')
      .select('exposed_services.name')
      .where('devices.subdomain', '=', subdomain)
      .where('devices.subdomain_enabled', '=', true)
      .where('exposed_services.enabled', '=', true)
      // TCP services are not reached through the HTTPS front door, so they need no name.
      .where('exposed_services.protocol', '=', 'http')
      .execute()
    if (!rows.length) return []
    const device = `${subdomain}${suffix}`
    const services = [...new Set(rows.map((r) => r.name))].filter((n) => label.test(n)).sort()
    return [device, ...services.map((n) => `${n}.${device}`)]
  }

  /** The hosts certificate `name` should cover now; empty when nothing wants it any more. */
  async function desiredHosts(name: string): Promise<string[]> {
    if (name === consoleHost) return [consoleHost]
    if (name === wildcardName) return deps.wildcard ? [wildcardName] : []
    if (certificateNameFor(name) !== name) return []
    return hostsForSubdomain(name.slice(0, -suffix.length))
  }

  /** Every certificate the gateway should hold, with its hosts: what the reconciler compares the store with. */
  async function desiredAll(): Promise<Map<string, string[]>> {
    const wanted = new Map<string, string[]>([[consoleHost, [consoleHost]]])
    if (deps.wildcard) wanted.set(wildcardName, [wildcardName])
    const rows = await db
      .selectFrom('devices')
      .innerJoin('exposed_services', 'exposed_services.device_id', 'devices.id')
      .select(['devices.subdomain', 'exposed_services.name'])
      .where('devices.subdomain_enabled', '=', true)
      .where('exposed_services.enabled', '=', true)
      .where('exposed_services.protocol', '=', 'http')
      .execute()
    const bySubdomain = new Map<string, Set<string>>()
    for (const row of rows) {
      let names = bySubdomain.get(row.subdomain)
      if (!names) bySubdomain.set(row.subdomain, (names = new Set()))
      if (label.test(row.name)) names.add(row.name)
    }
    for (const [subdomain, names] of bySubdomain) {
      const device = `${subdomain}${suffix}`
      if (device === consoleHost) continue
      wanted.set(device, [device, ...[...names].sort().map((n) => `${n}.${device}`)])
    }
    return wanted
  }

  async function isKnown(host: string): Promise<boolean> {
    const cached = known.get(host)
    if (cached && Date.now() - cached.at < KNOWN_TTL_MS) return cached.value
    const name = certificateNameFor(host)
    const value = name ? (await desiredHosts(name)).includes(host) : false
    if (known.size >= MAX_CACHED) known.clear()
    known.set(host, { value, at: Date.now() })
    return value
  }

  async function certificateNameForDevice(deviceUuid: string): Promise<string | undefined> {
    const row = await db.selectFrom('devices').select('subdomain').where('id', '=', deviceUuid).executeTakeFirst()
    return row ? `${row.subdomain}${suffix}` : undefined
  }

  return { certificateNameFor, desiredHosts, desiredAll, isKnown, certificateNameForDevice, invalidate: () => known.clear() }
}

export type KnownHosts = ReturnType<typeof createKnownHosts>
