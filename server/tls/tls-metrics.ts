import { Counter, Gauge, type Registry } from 'prom-client'
import type { CertificateCache } from './certificate-cache.js'

/** Certificate metrics on the gateway's registry (`/metrics`). */
export function createTlsMetrics(registry: Registry, cache: CertificateCache) {
  const orders = new Counter({
    name: 'edgetainer_acme_orders_total',
    help: 'ACME orders placed, by outcome',
    labelNames: ['result'],
    registers: [registry],
  })
  const renewalFailures = new Counter({
    name: 'edgetainer_tls_renewal_failures_total',
    help: 'Certificate issuances or renewals that failed (each is retried with backoff)',
    registers: [registry],
  })
  new Gauge({
    name: 'edgetainer_tls_certificate_expiry_timestamp_seconds',
    help: 'When each certificate the gateway serves expires (Unix time)',
    labelNames: ['name'],
    registers: [registry],
    collect() {
      this.reset()
      for (const entry of cache.entries()) this.set({ name: entry.name }, Math.floor(entry.info.notAfter.getTime() / 1000))
    },
  })
  // Present from the start, so alerts on rate() see a zero rather than no series.
  orders.inc({ result: 'success' }, 0)
  orders.inc({ result: 'failure' }, 0)
  return {
    order: (result: 'success' | 'failure') => orders.inc({ result }),
    renewalFailed: () => renewalFailures.inc(),
  }
}

export type TlsMetrics = ReturnType<typeof createTlsMetrics>
