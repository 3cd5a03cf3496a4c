import type { TlsCertificateRow } from '../db/schema.js'
import type { Logger } from '../logger.js'
import type { AcmeIssuer } from './acme-issuer.js'
import type { CertificateCache } from './certificate-cache.js'
import { coversAll, readCertificate, renewalTime } from './certificate-info.js'
import type { CertificateStore } from './certificate-store.js'
import type { KnownHosts } from './known-hosts.js'
import type { TlsMetrics } from './tls-metrics.js'

export interface RetryPolicy {
  /** First delay after a failed order; it doubles per consecutive failure. */
  baseMs: number
  maxMs: number
}

/** How long a certificate nothing uses any more is kept after it expired (a service may come back meanwhile). */
const KEEP_UNUSED_MS = 30 * 86_400_000

type Schedulable = Pick<TlsCertificateRow, 'hosts' | 'directory_url' | 'renew_after' | 'not_after'> & { has_certificate?: boolean; cert_pem?: string | null }

/**
 * Keeps one certificate per wanted name: loads what the database has, orders
 * what is missing, stale or due, and records failures with an exponential
 * backoff (so a broken DNS record costs one order per backoff step, not one
 * per handshake).
 */
export function createCertificateManager(deps: {
  store: CertificateStore
  cache: CertificateCache
  knownHosts: KnownHosts
  issuer: AcmeIssuer
  directoryUrl: string
  metrics: TlsMetrics
  retry: RetryPolicy
  leaseMs: number
  logger: Logger
  /** A certificate was ordered and stored (other gateway nodes load it from the database). */
  onStored?: (name: string) => void
}) {
  const { store, cache, knownHosts, logger } = deps
  let syncedUntil: Date | undefined

  /** True when the stored certificate covers `hosts`, comes from our CA and is not due for renewal. */
  function satisfied(row: Schedulable, hosts: string[], now = Date.now()): boolean {
    const present = row.has_certificate ?? Boolean(row.cert_pem)
    return (
      present &&
      row.directory_url === deps.directoryUrl &&
      coversAll(row.hosts, hosts) &&
      (row.renew_after?.getTime() ?? 0) > now &&
      (row.not_after?.getTime() ?? 0) > now
    )
  }

  function cacheRow(row: TlsCertificateRow): void {
    if (!row.cert_pem || !row.key_sealed || cache.get(row.name)?.info.serial === row.serial) return
    try {
      cache.put(row.name, row.cert_pem, store.openKey(row))
    } catch (err) {
      logger.error({ name: row.name, err: (err as Error).message }, 'stored certificate cannot be used')
    }
  }

  function retryDelay(failures: number): number {
    const delay = Math.min(deps.retry.baseMs * 2 ** Math.max(0, failures - 1), deps.retry.maxMs)
    return Math.round(delay * (0.9 + Math.random() * 0.2))
  }

  /**
   * Makes sure certificate `name` exists and covers what it should. `force`
   * (the renew route) orders even when nothing is due and ignores the backoff.
   */
  async function ensure(name: string, force: boolean): Promise<void> {
    const hosts = await knownHosts.desiredHosts(name)
    if (!hosts.length) return
    const before = await store.get(name)
    if (before) cacheRow(before)
    if (!force && before && satisfied(before, hosts)) return
    if (!force && before?.next_attempt_at && before.next_attempt_at.getTime() > Date.now()) return
    if (!(await store.claim(name, hosts, deps.leaseMs))) {
      logger.debug({ name }, 'another gateway is ordering this certificate')
      return
    }
    const current = await store.get(name)
    try {
      // Another gateway may have finished between our look and our lease.
      if (!force && current && satisfied(current, hosts)) {
        cacheRow(current)
        await store.release(name)
        return
      }
      const { certPem, keyPem } = await deps.issuer.order(hosts)
      const info = readCertificate(certPem)
      await store.saveIssued(name, { hosts, directoryUrl: deps.directoryUrl, certPem, keyPem, info, renewAfter: renewalTime(info) })
      cache.put(name, certPem, keyPem)
      deps.onStored?.(name)
      logger.info({ name, hosts, serial: info.serial, not_after: info.notAfter, renewal: Boolean(current?.cert_pem) }, 'certificate issued')
    } catch (err) {
      const failures = (current?.failures ?? 0) + 1
      const retryAt = new Date(Date.now() + retryDelay(failures))
      const message = describeError(err)
      await store.saveFailure(name, message, retryAt)
      deps.metrics.renewalFailed()
      logger.warn({ name, hosts, failures, retry_at: retryAt, err: message }, 'certificate order failed')
    }
  }

  /** Loads certificates written since the last sync: ours after a restart, other gateways' at any time. */
  async function syncFromStore(): Promise<void> {
    // A minute of overlap: rows committed late with an earlier now() are not missed.
    const rows = await store.changedSince(syncedUntil && new Date(syncedUntil.getTime() - 60_000))
    for (const row of rows) {
      cacheRow(row)
      if (!syncedUntil || row.updated_at > syncedUntil) syncedUntil = row.updated_at
    }
  }

  /** Compares what should exist with what is stored and asks for the difference (renewals included). */
  async function reconcile(request: (name: string) => unknown): Promise<void> {
    const wanted = await knownHosts.desiredAll()
    const rows = new Map((await store.summaries()).map((r) => [r.name, r]))
    const now = Date.now()
    for (const row of rows.values()) {
      if (wanted.has(row.name) || (row.lease_until?.getTime() ?? 0) > now) continue
      if ((row.not_after?.getTime() ?? 0) < now - KEEP_UNUSED_MS) {
        await store.remove(row.name)
        cache.remove(row.name)
        logger.info({ name: row.name }, 'dropped a certificate nothing uses any more')
      }
    }
    for (const [name, hosts] of wanted) {
      const row = rows.get(name)
      if (row && satisfied(row, hosts, now)) continue
      if (row?.next_attempt_at && row.next_attempt_at.getTime() > now) continue
      if (row?.lease_until && row.lease_until.getTime() > now) continue
      void request(name)
    }
  }

  return { ensure, syncFromStore, reconcile, satisfied }
}

export type CertificateManager = ReturnType<typeof createCertificateManager>

/** A short, safe reason: CA problem documents and network errors say what went wrong without secrets. */
function describeError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message.replace(/\s+/g, ' ').slice(0, 500)
}
