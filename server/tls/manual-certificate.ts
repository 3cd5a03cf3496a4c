import { readFileSync, statSync } from 'node:fs'
import tls from 'node:tls'
import { readCertificate, type CertificateInfo } from './certificate-info.js'

export interface ManualCertificate {
  certPem: string
  keyPem: string
  info: CertificateInfo
}

/**
 * A certificate and key from files, for sites without an ACME CA. The files
 * are read again when they change, so replacing them renews the certificate
 * without a restart.
 */
export function createManualCertificateSource(files: { cert: string; key: string }) {
  let stamp = ''

  function currentStamp(): string {
    const cert = statSync(files.cert)
    const key = statSync(files.key)
    return `${cert.mtimeMs}:${cert.size}:${key.mtimeMs}:${key.size}`
  }

  /** Reads and checks both files; throws with a one-line reason (unreadable, not PEM, key does not match). */
  function load(): ManualCertificate {
    const nextStamp = currentStamp()
    let certPem: string
    let keyPem: string
    try {
      certPem = readFileSync(files.cert, 'utf8')
      keyPem = readFileSync(files.key, 'utf8')
    } catch (err) {
      throw new Error(`cannot read the TLS certificate or key: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
    }
    let info: CertificateInfo
    try {
      info = readCertificate(certPem)
      tls.createSecureContext({ cert: certPem, key: keyPem })
    } catch (err) {
      throw new Error(`the TLS certificate ${files.cert} and key ${files.key} cannot be used: ${(err as Error).message}`)
    }
    stamp = nextStamp
    return { certPem, keyPem, info }
  }

  return {
    load,
    /** The new certificate when a file changed since the last load, else undefined. */
    reloadIfChanged(): ManualCertificate | undefined {
      return currentStamp() === stamp ? undefined : load()
    },
  }
}

export type ManualCertificateSource = ReturnType<typeof createManualCertificateSource>
