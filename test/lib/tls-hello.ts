/**
 * Reads the first handshake message of a recorded TLS byte stream (a ClientHello or a
 * ServerHello, both in clear in TLS 1.3) far enough to list its extensions: what the
 * tests need to see which key exchange two peers agreed on, from the wire rather than
 * from either side's own report.
 */

/** IANA numbers of the TLS 1.3 extensions the tests look at. */
export const TLS_EXTENSION = { preSharedKey: 41, supportedVersions: 43, pskKeyExchangeModes: 45, keyShare: 51 } as const

/** psk_key_exchange_modes values (RFC 8446 §4.2.9). */
export const PSK_KE = 0
export const PSK_DHE_KE = 1

export interface Hello {
  kind: 'client_hello' | 'server_hello'
  cipherSuites: number[]
  extensions: Map<number, Buffer>
}

/** The hello at the start of `stream`, or undefined when it does not start with one. */
export function readHello(stream: Buffer): Hello | undefined {
  // One record: type 22 (handshake), version, length. Our hellos are far below one record's 16 KiB.
  if (stream.length < 9 || stream[0] !== 22) return undefined
  const record = stream.subarray(5, 5 + stream.readUInt16BE(3))
  const type = record[0]
  if (type !== 1 && type !== 2) return undefined
  const body = record.subarray(4, 4 + record.readUIntBE(1, 3))
  let at = 2 + 32 // legacy_version, random
  at += 1 + body[at]! // legacy_session_id
  const cipherSuites: number[] = []
  if (type === 1) {
    const length = body.readUInt16BE(at)
    for (let i = 0; i < length; i += 2) cipherSuites.push(body.readUInt16BE(at + 2 + i))
    at += 2 + length
    at += 1 + body[at]! // legacy_compression_methods
  } else {
    cipherSuites.push(body.readUInt16BE(at))
    at += 2 + 1 // cipher_suite, legacy_compression_method
  }
  const extensions = new Map<number, Buffer>()
  const end = at + 2 + body.readUInt16BE(at)
  for (at += 2; at + 4 <= end; ) {
    const extensionType = body.readUInt16BE(at)
    const length = body.readUInt16BE(at + 2)
    extensions.set(extensionType, body.subarray(at + 4, at + 4 + length))
    at += 4 + length
  }
  return { kind: type === 1 ? 'client_hello' : 'server_hello', cipherSuites, extensions }
}

/** The key exchange modes a ClientHello offers with its PSK. */
export function offeredPskModes(hello: Hello): number[] {
  const data = hello.extensions.get(TLS_EXTENSION.pskKeyExchangeModes)
  return data ? [...data.subarray(1, 1 + data[0]!)] : []
}

/** The PSK identities a ClientHello offers, as text. */
export function offeredPskIdentities(hello: Hello): string[] {
  const data = hello.extensions.get(TLS_EXTENSION.preSharedKey)
  if (!data) return []
  const identities: string[] = []
  const end = 2 + data.readUInt16BE(0)
  for (let at = 2; at < end; ) {
    const length = data.readUInt16BE(at)
    identities.push(data.subarray(at + 2, at + 2 + length).toString('utf8'))
    at += 2 + length + 4 // identity, obfuscated_ticket_age
  }
  return identities
}
