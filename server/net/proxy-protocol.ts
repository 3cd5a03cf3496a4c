import net from 'node:net'
import proxyProtocol from 'proxy-protocol-js'

/**
 * The PROXY protocol (HAProxy's `send-proxy` / `send-proxy-v2`, v1 and v2): a load balancer passing
 * TCP through (SSH, TLS) says first who the client is. Only connections from the addresses in
 * `proxy_protocol_from` are read this way, and from those the header is required: anyone else
 * could otherwise name their own address and walk past every per-address limit.
 */

const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'binary')
const V1_PREFIX = Buffer.from('PROXY ', 'ascii')
/** The v1 line is at most 107 bytes with its CRLF (the spec's bound); the v2 address block at most 216 (UNIX) plus TLVs. */
const V1_MAX = 107
const V2_MAX = 16 + 4096

export class ProxyHeaderError extends Error {
  override name = 'ProxyHeaderError'
}

/** Where the client is, as the balancer says; undefined: the balancer's own connection (a health check, `LOCAL`, `UNKNOWN`). */
export type ProxiedClient = { address: string; port: number } | undefined

export type HeaderResult = { kind: 'incomplete' } | { kind: 'header'; client: ProxiedClient; length: number }

function ipv6Text(bytes: readonly number[]): string {
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16))
  // Through SocketAddress for the canonical short form (`::ffff:1.2.3.4`, `2001:db8::1`).
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address
}

function checkedClient(address: string, port: number): ProxiedClient {
  if (!net.isIP(address)) throw new ProxyHeaderError(`the PROXY header names ${JSON.stringify(address.slice(0, 64))}, which is not an IP address`)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ProxyHeaderError(`the PROXY header names port ${port}, outside 0-65535`)
  return { address, port }
}

function v1(line: string): ProxiedClient {
  if (/^PROXY UNKNOWN[ \r]/.test(line)) return undefined
  let parsed: InstanceType<typeof proxyProtocol.V1ProxyProtocol>
  try {
    parsed = proxyProtocol.V1ProxyProtocol.parse(line)
  } catch {
    throw new ProxyHeaderError('the PROXY v1 line is not "PROXY TCP4|TCP6 <source> <destination> <source port> <destination port>"')
  }
  const client = checkedClient(parsed.source.ipAddress, parsed.source.port)
  if (net.isIP(client!.address) !== (parsed.inetProtocol === proxyProtocol.INETProtocol.TCP4 ? 4 : 6)) throw new ProxyHeaderError(`the PROXY v1 line says ${parsed.inetProtocol} but names ${client!.address}`)
  return client
}

function v2(header: Buffer): ProxiedClient {
  let parsed: InstanceType<typeof proxyProtocol.V2ProxyProtocol>
  try {
    parsed = proxyProtocol.V2ProxyProtocol.parse(header)
  } catch (err) {
    throw new ProxyHeaderError(`the PROXY v2 header is malformed: ${(err as Error).message}`)
  }
  if (parsed.command === proxyProtocol.Command.LOCAL) return undefined
  const a = parsed.proxyAddress
  if (a instanceof proxyProtocol.IPv4ProxyAddress) return checkedClient(a.sourceAddress.address.join('.'), a.sourcePort)
  if (a instanceof proxyProtocol.IPv6ProxyAddress) return checkedClient(ipv6Text(a.sourceAddress.address), a.sourcePort)
  // UNSPEC or a UNIX socket: nothing that is an internet address; the connection keeps the balancer's.
  return undefined
}

/**
 * Reads one PROXY header (v1 or v2) from the start of `data`: `incomplete` while more bytes are
 * needed, the header's length and client once whole. Throws ProxyHeaderError on anything else.
 */
export function readProxyHeader(data: Buffer): HeaderResult {
  if (data.length === 0) return { kind: 'incomplete' }
  const head = data.subarray(0, V2_SIGNATURE.length)
  if (V2_SIGNATURE.subarray(0, head.length).equals(head)) {
    if (data.length < 16) return { kind: 'incomplete' }
    const length = 16 + data.readUInt16BE(14)
    if (length > V2_MAX) throw new ProxyHeaderError(`the PROXY v2 header claims ${length} bytes, more than ${V2_MAX}`)
    if (data.length < length) return { kind: 'incomplete' }
    return { kind: 'header', client: v2(data.subarray(0, length)), length }
  }
  const prefix = data.subarray(0, V1_PREFIX.length)
  if (V1_PREFIX.subarray(0, prefix.length).equals(prefix)) {
    const end = data.subarray(0, V1_MAX).indexOf('\r\n')
    if (end < 0) {
      if (data.length >= V1_MAX) throw new ProxyHeaderError(`the PROXY v1 line has no CRLF within ${V1_MAX} bytes`)
      return { kind: 'incomplete' }
    }
    return { kind: 'header', client: v1(data.subarray(0, end + 2).toString('latin1')), length: end + 2 }
  }
  throw new ProxyHeaderError('the connection comes from a proxy_protocol_from address but does not start with a PROXY header')
}

/** `proxy_protocol_from`: which peers must send a header. IPv4-mapped IPv6 peers count as their IPv4 address. */
export function proxyPeers(entries: readonly string[]): (address: string | undefined) => boolean {
  if (!entries.length) return () => false
  const list = new net.BlockList()
  for (const entry of entries) {
    const [address = '', prefix] = entry.split('/')
    const family = net.isIP(address) === 6 ? 'ipv6' : 'ipv4'
    if (prefix === undefined) list.addAddress(address, family)
    else list.addSubnet(address, Number(prefix), family)
  }
  return (address) => {
    if (!address) return false
    const plain = address.startsWith('::ffff:') && net.isIP(address.slice(7)) === 4 ? address.slice(7) : address
    return list.check(plain, net.isIP(plain) === 6 ? 'ipv6' : 'ipv4')
  }
}

/**
 * Waits for the PROXY header on a socket from a balancer, then makes the socket report the client's
 * address (remoteAddress, remotePort, remoteFamily: what every limiter and log line reads) and
 * resolves with the bytes read past the header. Rejects, and destroys the socket, on a malformed
 * header, on close, or when none arrives within `timeoutMs`.
 */
export function awaitProxyHeader(socket: net.Socket, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered: Buffer = Buffer.alloc(0)
    const finish = (err?: Error, rest?: Buffer) => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('close', onClose)
      socket.off('error', onClose)
      if (err) {
        socket.destroy()
        reject(err)
      } else {
        socket.pause()
        resolve(rest!)
      }
    }
    const timer = setTimeout(() => finish(new ProxyHeaderError(`no PROXY header within ${timeoutMs} ms`)), timeoutMs)
    const onClose = () => finish(new ProxyHeaderError('the connection closed before its PROXY header'))
    const onData = (chunk: Buffer) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk
      let result: HeaderResult
      try {
        result = readProxyHeader(buffered)
      } catch (err) {
        return finish(err as Error)
      }
      if (result.kind === 'incomplete') return
      if (result.client) {
        const { address, port } = result.client
        // Own properties shadow net.Socket's getters for this socket only; everything downstream reads these.
        Object.defineProperty(socket, 'remoteAddress', { value: address, configurable: true })
        Object.defineProperty(socket, 'remotePort', { value: port, configurable: true })
        Object.defineProperty(socket, 'remoteFamily', { value: net.isIP(address) === 6 ? 'IPv6' : 'IPv4', configurable: true })
      }
      finish(undefined, buffered.subarray(result.length))
    }
    socket.on('data', onData)
    socket.once('close', onClose)
    socket.once('error', onClose)
    socket.resume()
  })
}
