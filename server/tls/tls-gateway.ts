import { readFileSync } from 'node:fs'
import type { Kysely } from 'kysely'
import type { Registry } from 'prom-client'
import type { Config } from '../config/config-schema.js'
import type { Database } from '../db/schema.js'
import { ConflictError } from '../errors.js'
import type { GatewayEvents } from '../events/gateway-events.js'
import type { FrontDoor, HostRoute } from '../http/front-door.js'
import type { Logger } from '../logger.js'
import type { SecretBox } from '../secrets/secret-box.js'
import { createAcmeCertificates, type AcmeTuning } from './acme-certificates.js'
import { createAlpnChallenges } from './alpn-challenge.js'
import { createCertificateCache } from './certificate-cache.js'
import type { CertificateService, CertificateView } from './certificate-view.js'
import { createHttpChallenges } from './http-challenge.js'
import { createHttpsListener, type HttpsListener } from './https-listener.js'
import { createManualCertificateSource } from './manual-certificate.js'
import { createPlainHttpDoor } from './plain-http-door.js'
import { createTlsMetrics } from './tls-metrics.js'

export class TlsConfigError extends Error {
  override name = 'TlsConfigError'
}

export type TlsMode = 'off' | 'acme' | 'manual'

const MANUAL = 'manual'
const MANUAL_CHECK_MS = 60_000

export function tlsMode(config: Config): TlsMode {
  const { cert, key } = config.tls
  if (Boolean(cert) !== Boolean(key)) throw new TlsConfigError('tls.cert and tls.key (EDGETAINER_TLS_CERT, EDGETAINER_TLS_KEY) must be given together')
  if (cert && config.acme.directory) throw new TlsConfigError('configure a manual certificate (tls.cert, tls.key) or an ACME directory (acme.directory), not both')
  if (cert) return 'manual'
  return config.acme.directory ? 'acme' : 'off'
}

function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw new TlsConfigError(`cannot read acme.ca ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}

/**
 * TLS for the gateway, in one of three modes: off (plain HTTP only), ACME
 * (certificates issued and renewed by themselves) or manual (a certificate
 * from files). It owns the HTTPS listener and, once TLS is on, decides what
 * the plain-HTTP listener does: answer ACME challenges and redirect.
 */
export function createTlsGateway(deps: {
  config: Config
  db: Kysely<Database>
  secretBox: SecretBox
  events: GatewayEvents
  metrics: Registry
  logger: Logger
  tuning?: AcmeTuning
  /** A certificate was ordered and stored here (the cluster tells the other nodes). */
  onCertificateStored?: (name: string) => void
}) {
  const { config, logger } = deps
  const mode = tlsMode(config)
  const log = logger.child({ part: 'tls' })
  const cache = createCertificateCache()
  // HTTP-01 answers go to the database too: the CA's request may reach another node of the cluster.
  const http = createHttpChallenges({ db: deps.db, logger: log })
  const alpn = createAlpnChallenges()
  const metrics = mode === 'off' ? undefined : createTlsMetrics(deps.metrics, cache)
  const manual = mode === 'manual' ? createManualCertificateSource({ cert: config.tls.cert!, key: config.tls.key! }) : undefined
  if (manual) {
    try {
      const loaded = manual.load()
      cache.put(MANUAL, loaded.certPem, loaded.keyPem)
    } catch (err) {
      throw new TlsConfigError((err as Error).message)
    }
  }
  const acme =
    mode === 'acme'
      ? createAcmeCertificates({
          acme: {
            directory: config.acme.directory!,
            email: config.acme.email,
            caPem: config.acme.ca ? readCa(config.acme.ca) : undefined,
            challenge: config.acme.challenge ?? 'http-01',
            dnsHook: config.acme.dns_hook,
          },
          consoleHost: config.consoleHost,
          baseDomain: config.baseDomain,
          db: deps.db,
          secretBox: deps.secretBox,
          events: deps.events,
          metrics: metrics!,
          cache,
          http,
          alpn,
          logger: log,
          tuning: deps.tuning,
          onStored: deps.onCertificateStored,
        })
      : undefined

  let listener: HttpsListener | undefined
  let httpsPort: number | undefined
  let manualTimer: NodeJS.Timeout | undefined

  // The console's certificate (or the manual one) also answers clients that send no server name.
  const isDefault = (name: string) => name === config.consoleHost || name === MANUAL
  cache.onPut((entry) => {
    if (isDefault(entry.name)) listener?.setDefaultCertificate(entry.certPem, entry.keyPem)
  })

  const baseSuffix = `.${config.baseDomain}`
  const servesHost = (host: string) => host === config.consoleHost || host === config.baseDomain || host.endsWith(baseSuffix)

  /** Where redirects point: the public HTTPS port when public_url says https, else the one we listen on. */
  function redirectPort(): number {
    const url = new URL(config.publicUrl)
    if (url.protocol === 'https:') return Number(url.port || 443)
    return httpsPort ?? config.httpsPort
  }

  function manualView(): CertificateView {
    const entry = cache.get(MANUAL)!
    return {
      name: entry.info.hosts[0] ?? MANUAL,
      hosts: entry.info.hosts,
      source: 'manual',
      status: 'manual',
      issuer: entry.info.issuer,
      serial: entry.info.serial,
      not_before: entry.info.notBefore,
      not_after: entry.info.notAfter,
      renew_after: null,
      failures: 0,
      last_error: null,
      next_attempt_at: null,
    }
  }

  const certificates: CertificateService = {
    mode,
    async list() {
      if (acme) return acme.list()
      return manual ? [manualView()] : []
    },
    async renew(host) {
      if (acme) return acme.renew(host.toLowerCase().replace(/\.$/, ''))
      if (manual) throw new ConflictError('the certificate comes from files (tls.cert, tls.key): replace them to renew it', 'MANUAL_CERTIFICATE')
      throw new ConflictError('TLS is not configured on this gateway', 'TLS_DISABLED')
    },
  }

  function reloadManual() {
    try {
      const changed = manual?.reloadIfChanged()
      if (changed) {
        cache.put(MANUAL, changed.certPem, changed.keyPem)
        log.info({ not_after: changed.info.notAfter, serial: changed.info.serial }, 'manual certificate reloaded')
      }
    } catch (err) {
      log.error({ err: (err as Error).message }, 'manual certificate files changed but cannot be used; still serving the previous one')
    }
  }

  return {
    mode,
    enabled: mode !== 'off',
    certificates,
    /** Front-door routes for every listener: the HTTP-01 responder when ACME is on. */
    hostRoutes: (acme ? [http.route] : []) as HostRoute[],
    /** What the plain-HTTP listener serves once TLS is on: challenges, redirects for our names, `fallback` for the rest. */
    plainHttpDoor: (fallback: FrontDoor): FrontDoor => createPlainHttpDoor({ challengeRoute: http.route, servesHost, httpsPort: redirectPort, fallback }),
    /** Starts the HTTPS listener on the same front door as plain HTTP; undefined when TLS is off. */
    async listen(frontDoor: FrontDoor): Promise<number | undefined> {
      if (mode === 'off') return undefined
      await acme?.load()
      listener = createHttpsListener({
        handleRequest: frontDoor.handleRequest,
        handleUpgrade: frontDoor.handleUpgrade,
        sniCallback: acme?.sniCallback,
        alpn,
        hstsMaxAge: config.hstsMaxAge,
        logger: log,
        proxyProtocolFrom: config.proxyProtocolFrom,
      })
      const fallback = cache.get(config.consoleHost) ?? cache.get(MANUAL)
      if (fallback) listener.setDefaultCertificate(fallback.certPem, fallback.keyPem)
      httpsPort = await listener.listen(config.httpsPort, config.bindAddress)
      return httpsPort
    },
    /** A draining node: the HTTPS listener takes no new connections. */
    stopAccepting(): void {
      listener?.stopAccepting()
    },
    /** Loads certificates other nodes stored (a cluster notice, or a full reload after a reconnect). */
    async reload(): Promise<void> {
      await acme?.reload()
    },
    /** After every listener is up (HTTP-01 needs the plain one): issue what is missing, renew, reload. */
    async start(): Promise<void> {
      await acme?.start()
      if (manual) {
        manualTimer = setInterval(reloadManual, deps.tuning?.checkIntervalMs ?? MANUAL_CHECK_MS)
        manualTimer.unref()
      }
    },
    async close() {
      clearInterval(manualTimer)
      await listener?.close()
      await acme?.close()
    },
  }
}

export type TlsGateway = ReturnType<typeof createTlsGateway>
