import tls from 'node:tls'
import { readCertificate, type CertificateInfo } from './certificate-info.js'

/**
 * TLS 1.2 and 1.3 only, with AEAD ciphers and forward secrecy (Mozilla's
 * "intermediate" profile without DHE, which would need our own parameters).
 */
export const secureOptions = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_128_GCM_SHA256',
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
} as const satisfies tls.SecureContextOptions

export interface CachedCertificate {
  name: string
  info: CertificateInfo
  certPem: string
  keyPem: string
  context: tls.SecureContext
}

/**
 * Certificates in memory, ready for the SNI callback: a handshake never waits
 * for the database when the certificate is already known.
 */
export function createCertificateCache() {
  const byName = new Map<string, CachedCertificate>()
  const exact = new Map<string, string>()
  const wildcard = new Map<string, string>()
  const listeners = new Set<(entry: CachedCertificate) => void>()

  function unindex(entry: CachedCertificate) {
    for (const host of entry.info.hosts) {
      const index = host.startsWith('*.') ? wildcard : exact
      const key = host.startsWith('*.') ? host.slice(2) : host
      if (index.get(key) === entry.name) index.delete(key)
    }
  }

  /** Adds or replaces a certificate; throws when the key does not belong to the certificate. */
  function put(name: string, certPem: string, keyPem: string): CachedCertificate {
    const context = tls.createSecureContext({ ...secureOptions, cert: certPem, key: keyPem })
    const entry: CachedCertificate = { name, info: readCertificate(certPem), certPem, keyPem, context }
    const previous = byName.get(name)
    if (previous) unindex(previous)
    byName.set(name, entry)
    for (const host of entry.info.hosts) {
      if (host.startsWith('*.')) wildcard.set(host.slice(2), name)
      else exact.set(host, name)
    }
    for (const listener of listeners) listener(entry)
    return entry
  }

  /** The certificate for a handshake's server name: an exact name first, then a wildcard one level up. */
  function match(host: string): CachedCertificate | undefined {
    const dot = host.indexOf('.')
    const name = exact.get(host) ?? (dot > 0 ? wildcard.get(host.slice(dot + 1)) : undefined)
    return name === undefined ? undefined : byName.get(name)
  }

  return {
    put,
    match,
    get: (name: string) => byName.get(name),
    remove(name: string) {
      const entry = byName.get(name)
      if (entry) unindex(entry)
      byName.delete(name)
    },
    entries: () => [...byName.values()],
    onPut(listener: (entry: CachedCertificate) => void) {
      listeners.add(listener)
    },
  }
}

export type CertificateCache = ReturnType<typeof createCertificateCache>
