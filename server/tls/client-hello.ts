/** What the gateway reads from a TLS ClientHello before any TLS library sees it. */
export interface ClientHello {
  servername: string | undefined
  alpn: string[]
}

const MAX_RECORD = 16_384 + 2048

export type ParseResult = ClientHello | 'incomplete' | 'other'

/**
 * Parses the server name and ALPN protocols out of the first TLS record.
 * 'incomplete' asks for more bytes; 'other' means "not a ClientHello we can
 * read" (the TLS server then handles the bytes as usual). Node's own TLS
 * server does not show ALPN offers before it picks a certificate, and
 * TLS-ALPN-01 needs exactly that choice.
 */
export function parseClientHello(buf: Buffer): ParseResult {
  if (buf.length < 5) return 'incomplete'
  if (buf[0] !== 0x16) return 'other'
  const recordEnd = 5 + buf.readUInt16BE(3)
  if (recordEnd - 5 > MAX_RECORD) return 'other'
  if (buf.length < recordEnd) return 'incomplete'
  try {
    let p = 5
    if (buf[p] !== 0x01) return 'other'
    const helloEnd = p + 4 + buf.readUIntBE(p + 1, 3)
    // A ClientHello split over several records is legal but never seen from ACME validators.
    if (helloEnd > recordEnd) return 'other'
    p += 4 + 2 + 32 // header, legacy version, random
    p += 1 + buf[p]! // session id
    p += 2 + buf.readUInt16BE(p) // cipher suites
    p += 1 + buf[p]! // compression methods
    const hello: ClientHello = { servername: undefined, alpn: [] }
    if (p + 2 > helloEnd) return hello
    const extensionsEnd = Math.min(helloEnd, p + 2 + buf.readUInt16BE(p))
    p += 2
    while (p + 4 <= extensionsEnd) {
      const type = buf.readUInt16BE(p)
      const end = p + 4 + buf.readUInt16BE(p + 2)
      if (end > extensionsEnd) return 'other'
      if (type === 0x0000) hello.servername = readServerName(buf, p + 4, end)
      if (type === 0x0010) hello.alpn = readProtocols(buf, p + 4, end)
      p = end
    }
    return hello
  } catch {
    return 'other'
  }
}

function readServerName(buf: Buffer, start: number, end: number): string | undefined {
  let p = start + 2
  while (p + 3 <= end) {
    const type = buf[p]!
    const length = buf.readUInt16BE(p + 1)
    if (type === 0) return buf.toString('ascii', p + 3, p + 3 + length).toLowerCase().replace(/\.$/, '')
    p += 3 + length
  }
  return undefined
}

function readProtocols(buf: Buffer, start: number, end: number): string[] {
  const protocols: string[] = []
  let p = start + 2
  while (p < end) {
    const length = buf[p]!
    protocols.push(buf.toString('ascii', p + 1, p + 1 + length))
    p += 1 + length
  }
  return protocols
}
