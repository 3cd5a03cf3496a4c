import type { Kysely } from 'kysely'
import type { Database, ExposedServiceRow } from '../db/schema.js'
import type { GatewayEvents } from '../events/gateway-events.js'
import { subdomainPattern } from '../devices/device-store.js'

export interface RouteDevice {
  id: string
  device_id: string
  subdomain: string
}

export type RouteResolution =
  | { kind: 'unknown' }
  | { kind: 'disabled'; device: RouteDevice }
  | { kind: 'route'; device: RouteDevice; service: ExposedServiceRow; stripPrefix: string | undefined }

interface DeviceRoutes {
  device: RouteDevice
  /** Enabled HTTP services; disabled ones are kept apart so they answer 404 like unknown ones. */
  services: ExposedServiceRow[]
}

const MAX_CACHED = 20_000

/**
 * Host → device service, cached per subdomain. Any device or service change
 * clears the cache, so the hot path makes no database query and never serves
 * a stale route. Unknown subdomains are cached too (bounded), so a flood of
 * random hosts cannot turn into a flood of queries.
 */
export function createRouteTable(deps: { db: Kysely<Database>; events: GatewayEvents; baseDomain: string }) {
  const { db, baseDomain } = deps
  const suffix = `.${baseDomain}`
  const cache = new Map<string, Promise<DeviceRoutes | null>>()
  // The same entries once loaded, for the proxy's synchronous fast path (resolveNow): no promise per request.
  const loaded = new Map<string, DeviceRoutes | null>()
  const clear = () => {
    cache.clear()
    loaded.clear()
  }
  deps.events.on('device.changed', clear)
  deps.events.on('service.changed', clear)

  async function load(subdomain: string): Promise<DeviceRoutes | null> {
    const device = await db.selectFrom('devices').select(['id', 'device_id', 'subdomain', 'subdomain_enabled']).where('subdomain', '=', subdomain).executeTakeFirst()
    if (!device || !device.subdomain_enabled) return null
    const services = await db
      .selectFrom('exposed_services')
      .selectAll()
      .where('device_id', '=', device.id)
      .where('protocol', '=', 'http')
      .where('enabled', '=', true)
      .orderBy('created_at')
      .execute()
    return { device: { id: device.id, device_id: device.device_id, subdomain: device.subdomain }, services }
  }

  function routesFor(subdomain: string): Promise<DeviceRoutes | null> {
    let entry = cache.get(subdomain)
    if (!entry) {
      if (cache.size >= MAX_CACHED) clear()
      const pending = load(subdomain)
      entry = pending
      pending.then(
        // Only if the entry is still this load's: a change that cleared the cache meanwhile wins.
        (routes) => cache.get(subdomain) === pending && loaded.set(subdomain, routes),
        // A failed load must not stay cached as a rejection.
        () => cache.get(subdomain) === pending && cache.delete(subdomain),
      )
      cache.set(subdomain, pending)
    }
    return entry
  }

  /** True for hosts under the base domain (the proxy answers them, if only with 404). */
  function isDeviceHost(host: string): boolean {
    return host.endsWith(suffix) && host.length > suffix.length
  }

  function pathMatches(path: string, prefix: string): boolean {
    return path === prefix || path.startsWith(`${prefix}/`) || path.startsWith(`${prefix}?`)
  }

  /** The labels of a device host under the base domain, or undefined when no device or service could have it. */
  function labelsOf(host: string): string[] | undefined {
    if (!isDeviceHost(host)) return undefined
    const labels = host.slice(0, -suffix.length).split('.')
    // Only names a device or service could have reach the database: a garbage Host is a 404 without a query.
    if (labels.length > 2 || !labels.every((l) => subdomainPattern.test(l))) return undefined
    return labels
  }

  function pick(routes: DeviceRoutes | null, labels: string[], path: string): RouteResolution {
    if (!routes) return { kind: 'unknown' }
    if (labels.length === 2) {
      const service = routes.services.find((s) => s.name === labels[0])
      return service ? { kind: 'route', device: routes.device, service, stripPrefix: undefined } : { kind: 'disabled', device: routes.device }
    }
    // The device's own host: the longest matching url_path wins, else its first service without one.
    const byPath = routes.services
      .filter((s) => s.url_path && pathMatches(path, s.url_path))
      .sort((a, b) => b.url_path!.length - a.url_path!.length)[0]
    if (byPath) return { kind: 'route', device: routes.device, service: byPath, stripPrefix: byPath.url_path! }
    const fallback = routes.services.find((s) => !s.url_path)
    return fallback ? { kind: 'route', device: routes.device, service: fallback, stripPrefix: undefined } : { kind: 'disabled', device: routes.device }
  }

  async function resolve(host: string, path: string): Promise<RouteResolution> {
    const labels = labelsOf(host)
    if (!labels) return { kind: 'unknown' }
    return pick(await routesFor(labels[labels.length - 1]!), labels, path)
  }

  /** What resolve would answer, without waiting, when it needs nothing that is not already loaded; else undefined. */
  function resolveNow(host: string, path: string): RouteResolution | undefined {
    const labels = labelsOf(host)
    if (!labels) return { kind: 'unknown' }
    const subdomain = labels[labels.length - 1]!
    const routes = loaded.get(subdomain)
    return routes === undefined ? undefined : pick(routes, labels, path)
  }

  return {
    resolve,
    resolveNow,
    isDeviceHost,
    /** Drops every cached route (another node's changes may have been missed: a lost LISTEN connection). */
    invalidate: clear,
    get cachedEntries() {
      return cache.size
    },
    close() {
      deps.events.off('device.changed', clear)
      deps.events.off('service.changed', clear)
    },
  }
}

export type RouteTable = ReturnType<typeof createRouteTable>
