import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import { ConflictError, NotFoundError } from '../errors.js'
import type { GatewayEvents } from '../events/gateway-events.js'
import type { Logger } from '../logger.js'
import type { SecretBox } from '../secrets/secret-box.js'
import { createAcmeAccount, type AcmeBackoff } from './acme-account.js'
import { createAcmeIssuer, type ChallengeType } from './acme-issuer.js'
import type { AlpnChallenges } from './alpn-challenge.js'
import { createAriRenewal } from './ari-renewal.js'
import type { CertificateCache } from './certificate-cache.js'
import { createCertificateManager, type RetryPolicy } from './certificate-manager.js'
import { createCertificateStore, type CertificateSummary } from './certificate-store.js'
import { createDnsHook } from './dns-hook.js'
import type { HttpChallenges } from './http-challenge.js'
import { createIssuanceQueue } from './issuance-queue.js'
import { createKnownHosts } from './known-hosts.js'
import { createSniCallback } from './sni-callback.js'
import type { TlsMetrics } from './tls-metrics.js'
import type { CertificateView } from './certificate-view.js'

export interface AcmeTuning {
  /** acme-client's polling of pending orders and challenges. */
  acmeBackoff?: AcmeBackoff
  /** Backoff after a failed order. */
  retry?: Partial<RetryPolicy>
  /** How often stored certificates are synced, compared with what is wanted, and renewed (and manual files re-read). */
  checkIntervalMs?: number
  /** How long a handshake for a served host without a certificate waits for its issuance. */
  sniWaitMs?: number
}

/**
 * Certificates from an ACME CA: the account, the store, issuance on demand
 * and on events, renewal, and what the admin API shows. The HTTP-01 and
 * TLS-ALPN-01 responders are shared with the listeners that answer them.
 */
export function createAcmeCertificates(deps: {
  acme: { directory: string; email?: string; caPem?: string; challenge: ChallengeType; dnsHook?: string }
  consoleHost: string
  baseDomain: string
  db: Kysely<Database>
  secretBox: SecretBox
  events: GatewayEvents
  metrics: TlsMetrics
  cache: CertificateCache
  http: HttpChallenges
  alpn: AlpnChallenges
  logger: Logger
  tuning?: AcmeTuning
  /** A certificate was ordered and stored here (the cluster tells the other nodes). */
  onStored?: (name: string) => void
}) {
  const { cache, events, logger, metrics, tuning = {} } = deps
  const log = logger.child({ part: 'acme' })
  const store = createCertificateStore({ db: deps.db, secretBox: deps.secretBox, owner: randomUUID() })
  const account = createAcmeAccount({ store, directoryUrl: deps.acme.directory, email: deps.acme.email, caPem: deps.acme.caPem, backoff: tuning.acmeBackoff, logger: log })
  const dns = deps.acme.dnsHook ? createDnsHook({ command: deps.acme.dnsHook, logger: log }) : undefined
  const knownHosts = createKnownHosts({ db: deps.db, consoleHost: deps.consoleHost, baseDomain: deps.baseDomain, wildcard: Boolean(dns) })
  const issuer = createAcmeIssuer({ account, challenge: deps.acme.challenge, http: deps.http, alpn: deps.alpn, dns, onOrder: metrics.order, logger: log })
  const manager = createCertificateManager({
    store,
    cache,
    knownHosts,
    issuer,
    directoryUrl: deps.acme.directory,
    metrics,
    retry: { baseMs: tuning.retry?.baseMs ?? 5 * 60_000, maxMs: tuning.retry?.maxMs ?? 12 * 3600_000 },
    leaseMs: 10 * 60_000,
    logger: log,
    onStored: deps.onStored,
  })
  // Two orders at a time: enough for a fleet coming online, far inside any CA's limits.
  const queue = createIssuanceQueue({ concurrency: 2, run: manager.ensure, logger: log })
  const ari = createAriRenewal({ account, store, cache, logger: log })
  const checkIntervalMs = tuning.checkIntervalMs ?? 60_000
  let timer: NodeJS.Timeout | undefined
  let closed = false

  function ensureHost(host: string): Promise<void> {
    const name = knownHosts.certificateNameFor(host)
    return name ? queue.request(name) : Promise.resolve()
  }

  const sniCallback = createSniCallback({ cache, isKnown: knownHosts.isKnown, ensureHost, waitMs: tuning.sniWaitMs ?? 10_000, logger: log })

  // A service enabled (or a device renamed) wants its certificate now, not at the next check.
  function onDeviceChange(deviceUuid: string) {
    knownHosts.invalidate()
    knownHosts.certificateNameForDevice(deviceUuid).then(
      (name) => {
        if (name) void queue.request(name)
      },
      (err: Error) => log.warn({ err: err.message }, 'cannot look up a changed device'),
    )
  }
  const onService = ({ device_uuid }: { device_uuid: string }) => onDeviceChange(device_uuid)
  const onDevice = ({ id }: { id: string }) => onDeviceChange(id)

  /** Syncs from the database and queues whatever is missing, stale or due (orders run in the background). */
  async function check(): Promise<void> {
    try {
      await manager.syncFromStore()
      await manager.reconcile(queue.request)
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'certificate check failed')
    }
  }

  async function refreshAri(): Promise<void> {
    await ari.refresh().catch((err: Error) => log.warn({ err: err.message }, 'ACME renewal information check failed'))
  }

  function schedule() {
    if (closed) return
    timer = setTimeout(() => void check().then(refreshAri).then(schedule), checkIntervalMs)
    timer.unref()
  }

  function view(row: CertificateSummary | undefined, name: string, wanted: string[] | undefined): CertificateView {
    const now = Date.now()
    const failed = (row?.failures ?? 0) > 0
    let status: CertificateView['status']
    if (queue.busy(name)) status = 'renewing'
    else if (!wanted) status = 'unused'
    else if (!row?.has_certificate) status = failed ? 'failed' : 'pending'
    else if ((row.not_after?.getTime() ?? 0) <= now) status = 'expired'
    else status = failed ? 'failing' : 'valid'
    return {
      name,
      hosts: row?.hosts ?? wanted ?? [],
      source: 'acme',
      status,
      issuer: row?.issuer ?? null,
      serial: row?.serial ?? null,
      not_before: row?.not_before ?? null,
      not_after: row?.not_after ?? null,
      renew_after: row?.renew_after ?? null,
      failures: row?.failures ?? 0,
      last_error: row?.last_error ?? null,
      next_attempt_at: row?.next_attempt_at ?? null,
    }
  }

  async function list(): Promise<CertificateView[]> {
    const wanted = await knownHosts.desiredAll()
    const rows = new Map((await store.summaries()).map((r) => [r.name, r]))
    const names = [...new Set([...wanted.keys(), ...rows.keys()])].sort()
    return names.map((name) => view(rows.get(name), name, wanted.get(name)))
  }

  /** Queues a forced renewal (or first issuance) of the certificate that carries `host`. */
  async function renew(host: string): Promise<CertificateView> {
    const name = knownHosts.certificateNameFor(host) ?? host
    const hosts = await knownHosts.desiredHosts(name)
    if (!hosts.length) {
      if (await store.get(name)) throw new ConflictError('nothing the gateway serves uses this certificate any more', 'CERTIFICATE_UNUSED')
      throw new NotFoundError('CERTIFICATE_NOT_FOUND', 'certificate')
    }
    void queue.request(name, true)
    const row = (await store.summaries()).find((r) => r.name === name)
    return view(row, name, hosts)
  }

  return {
    sniCallback,
    list,
    renew,
    /** Loads stored certificates, so a restart serves them before it listens (and another node's new one at once). */
    load: () => manager.syncFromStore(),
    /** Forgets cached host lookups and loads what other nodes stored (after a lost LISTEN connection). */
    async reload() {
      knownHosts.invalidate()
      await manager.syncFromStore()
    },
    /**
     * Once the listeners answer challenges: queues what is missing or due
     * (resolves when queued, not when issued), then checks periodically.
     */
    async start(): Promise<void> {
      events.on('service.changed', onService)
      events.on('device.changed', onDevice)
      await check()
      void refreshAri().then(schedule)
    },
    async close() {
      closed = true
      clearTimeout(timer)
      events.off('service.changed', onService)
      events.off('device.changed', onDevice)
      await queue.close()
      await store.releaseAll().catch(() => {})
      account.close()
    },
  }
}

export type AcmeCertificates = ReturnType<typeof createAcmeCertificates>
