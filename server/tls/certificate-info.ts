import { X509Certificate } from 'node:crypto'

/** What the gateway needs to know about a certificate chain's leaf. */
export interface CertificateInfo {
  /** DNS names from the subjectAltName, lower case (wildcards keep their `*.`). */
  hosts: string[]
  notBefore: Date
  notAfter: Date
  /** The issuer's common name (or its whole name when it has none). */
  issuer: string
  /** Lower-case hex. */
  serial: string
}

/** The PEM blocks of a chain, leaf first. */
export function splitPemChain(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
}

export function leafCertificate(pem: string): X509Certificate {
  const leaf = splitPemChain(pem)[0]
  if (!leaf) throw new Error('no certificate in PEM')
  return new X509Certificate(leaf)
}

export function readCertificate(pem: string): CertificateInfo {
  const x509 = leafCertificate(pem)
  const hosts = (x509.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase())
  const issuerCn = x509.issuer.split('\n').find((line) => line.startsWith('CN='))
  return {
    hosts,
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
    issuer: issuerCn ? issuerCn.slice(3) : x509.issuer.replace(/\n/g, ', '),
    serial: x509.serialNumber.toLowerCase(),
  }
}

/** Renewal starts two-thirds into the lifetime: a month ahead for 90-day certificates, as certbot and Caddy do. */
export function renewalTime(info: { notBefore: Date; notAfter: Date }): Date {
  const from = info.notBefore.getTime()
  return new Date(from + ((info.notAfter.getTime() - from) * 2) / 3)
}

/** `*.a.b` matches `x.a.b` but neither `a.b` nor `y.x.a.b` (RFC 6125: one label). */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === host) return true
  if (!pattern.startsWith('*.')) return false
  const dot = host.indexOf('.')
  return dot > 0 && host.slice(dot + 1) === pattern.slice(2)
}

export function coversAll(certHosts: readonly string[], wanted: readonly string[]): boolean {
  return wanted.every((host) => certHosts.some((pattern) => hostMatches(pattern, host)))
}

interface Tlv {
  tag: number
  start: number
  end: number
}

/** One DER tag-length-value at `offset`; enough of DER to reach a serial and an extension. */
function readTlv(der: Buffer, offset: number): Tlv {
  const tag = der[offset]!
  let length = der[offset + 1]!
  let start = offset + 2
  if (length & 0x80) {
    const bytes = length & 0x7f
    if (bytes === 0 || bytes > 4) throw new Error('unsupported DER length')
    length = der.readUIntBE(start, bytes)
    start += bytes
  }
  if (start + length > der.length) throw new Error('truncated DER')
  return { tag, start, end: start + length }
}

const authorityKeyIdentifierOid = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23])

/**
 * The RFC 9773 (ARI) identifier of a certificate:
 * base64url(authority key identifier) "." base64url(DER serial number bytes).
 */
export function ariCertificateId(pem: string): string | undefined {
  try {
    const der = leafCertificate(pem).raw
    const certificate = readTlv(der, 0)
    const tbs = readTlv(der, certificate.start)
    let field = readTlv(der, tbs.start)
    if (field.tag === 0xa0) field = readTlv(der, field.end) // explicit version
    if (field.tag !== 0x02) return undefined
    const serial = der.subarray(field.start, field.end)

    const at = der.indexOf(authorityKeyIdentifierOid, tbs.start)
    if (at < 0 || at > tbs.end) return undefined
    let value = readTlv(der, at + authorityKeyIdentifierOid.length)
    if (value.tag === 0x01) value = readTlv(der, value.end) // critical flag
    if (value.tag !== 0x04) return undefined
    const sequence = readTlv(der, value.start)
    const keyId = readTlv(der, sequence.start)
    if (sequence.tag !== 0x30 || keyId.tag !== 0x80) return undefined
    return ariIdFromParts(der.subarray(keyId.start, keyId.end), serial)
  } catch {
    return undefined
  }
}

export function ariIdFromParts(keyIdentifier: Buffer, serialDer: Buffer): string {
  return `${keyIdentifier.toString('base64url')}.${serialDer.toString('base64url')}`
}
