import tls from 'node:tls'

export const ACME_TLS_PROTOCOL = 'acme-tls/1'

/**
 * TLS-ALPN-01 responder (RFC 8737): while a name is being validated, a
 * handshake for it that offers only `acme-tls/1` gets a self-signed
 * certificate carrying the key authorization. Ordinary clients of the same
 * name keep getting the real certificate: the HTTPS listener routes only
 * `acme-tls/1` handshakes here.
 */
export function createAlpnChallenges() {
  const contexts = new Map<string, tls.SecureContext>()
  return {
    set(host: string, certPem: string, keyPem: string) {
      contexts.set(host, tls.createSecureContext({ cert: certPem, key: keyPem }))
    },
    delete: (host: string) => void contexts.delete(host),
    /** True while any validation is running; the listener inspects ClientHellos only then. */
    active: () => contexts.size > 0,
    contextFor: (host: string) => contexts.get(host),
  }
}

export type AlpnChallenges = ReturnType<typeof createAlpnChallenges>
