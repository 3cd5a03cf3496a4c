import type { Logger } from '../logger.js'
import type { AcmeAccount } from './acme-account.js'
import type { CertificateCache } from './certificate-cache.js'
import { ariCertificateId } from './certificate-info.js'
import type { CertificateStore } from './certificate-store.js'

const DEFAULT_RECHECK_S = 6 * 3600
const MIN_RECHECK_S = 60
const MAX_RECHECK_S = 24 * 3600

/** A time in the window, uniformly at random (RFC 9773 §4.2), never earlier than now. */
export function pickRenewalTime(window: { start: Date; end: Date }, now = Date.now(), random = Math.random): Date {
  const start = Math.max(window.start.getTime(), now)
  const end = Math.max(window.end.getTime(), start)
  return new Date(start + (end - start) * random())
}

function retryAfterSeconds(header: unknown): number {
  const seconds = typeof header === 'string' ? Number.parseInt(header, 10) : NaN
  const value = Number.isFinite(seconds) ? seconds : DEFAULT_RECHECK_S
  return Math.min(Math.max(value, MIN_RECHECK_S), MAX_RECHECK_S)
}

/**
 * ACME Renewal Information (RFC 9773): when the CA's directory offers
 * `renewalInfo`, its suggested window replaces the two-thirds rule, so a CA
 * that revokes or shortens certificates gets them renewed early. acme-client
 * 5 has no ARI support; this is the one GET it needs, through acme-client's
 * own HTTP stack (same CA trust, same 429/5xx retries).
 */
export function createAriRenewal(deps: { account: AcmeAccount; store: CertificateStore; cache: CertificateCache; logger: Logger }) {
  const { account, store, cache, logger } = deps

  async function refresh(): Promise<void> {
    const directory = await account.directory().catch(() => undefined)
    const base = directory?.renewalInfo
    if (typeof base !== 'string') return
    const now = Date.now()
    for (const row of await store.summaries()) {
      if (!row.has_certificate || row.directory_url !== account.directoryUrl || !row.serial) continue
      if (row.ari_next_check && row.ari_next_check.getTime() > now) continue
      const entry = cache.get(row.name)
      const certId = entry && entry.info.serial === row.serial ? ariCertificateId(entry.certPem) : undefined
      if (!certId) continue
      try {
        const res = await account.get(`${base.replace(/\/+$/, '')}/${certId}`)
        const window = (res.data as { suggestedWindow?: { start?: string; end?: string } }).suggestedWindow
        const start = new Date(window?.start ?? NaN)
        const end = new Date(window?.end ?? NaN)
        if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) throw new Error('renewalInfo has no suggestedWindow')
        const current = row.renew_after?.getTime()
        const inWindow = current !== undefined && current >= start.getTime() && current <= end.getTime()
        const renewAfter = inWindow ? undefined : pickRenewalTime({ start, end }, now)
        await store.setRenewal(row.name, row.serial, renewAfter, new Date(now + retryAfterSeconds(res.headers['retry-after']) * 1000))
        if (renewAfter) logger.info({ name: row.name, renew_after: renewAfter }, 'renewal time set from ACME renewal information')
      } catch (err) {
        logger.warn({ name: row.name, err: (err as Error).message }, 'ACME renewal information unavailable; keeping the two-thirds schedule')
        await store.setRenewal(row.name, row.serial, undefined, new Date(now + 3600_000))
      }
    }
  }

  return { refresh }
}
