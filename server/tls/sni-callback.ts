import type tls from 'node:tls'
import type { Logger } from '../logger.js'
import type { CertificateCache } from './certificate-cache.js'

export type SniCallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => void

/**
 * Picks the certificate for a handshake. A cached certificate answers at
 * once. A host the gateway serves but holds no certificate for yet (an event
 * was missed, or a second gateway has not synced) is issued on demand, and
 * the handshake waits for it a bounded time. Anything else fails the
 * handshake: serving another name's certificate would only trade a clear
 * error for a certificate warning, and would tell a scanner our console's
 * name. Clients without SNI get the console certificate as the default.
 */
export function createSniCallback(deps: {
  cache: CertificateCache
  isKnown: (host: string) => Promise<boolean>
  ensureHost: (host: string) => Promise<void>
  waitMs: number
  logger: Logger
}): SniCallback {
  const { cache, logger } = deps

  async function resolve(host: string): Promise<tls.SecureContext | undefined> {
    if (!(await deps.isKnown(host))) {
      logger.debug({ host }, 'TLS handshake for a host the gateway does not serve')
      return undefined
    }
    let timer: NodeJS.Timeout | undefined
    await Promise.race([deps.ensureHost(host), new Promise((resolve) => (timer = setTimeout(resolve, deps.waitMs)))])
    clearTimeout(timer)
    return cache.match(host)?.context
  }

  return (servername, cb) => {
    const host = servername.toLowerCase().replace(/\.$/, '')
    const hit = cache.match(host)
    if (hit) return cb(null, hit.context)
    resolve(host).then(
      (context) => (context ? cb(null, context) : cb(new Error(`no certificate for ${host}`))),
      (err: Error) => {
        logger.warn({ host, err: err.message }, 'certificate lookup failed during a TLS handshake')
        cb(new Error(`no certificate for ${host}`))
      },
    )
  }
}
