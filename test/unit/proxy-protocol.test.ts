import { mkdtempSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import fc from 'fast-check'
import proxyProtocol from 'proxy-protocol-js'
import t from 'tap'
import { loadConfig } from '../../server/config/load-config.js'
import { ProxyHeaderError, proxyPeers, readProxyHeader } from '../../server/net/proxy-protocol.js'

const v2Header = (client: { v6: boolean; bytes: number[]; port: number }, command = proxyProtocol.Command.PROXY, tlvs = Buffer.alloc(0)) => {
  const address = client.v6
    ? new proxyProtocol.IPv6ProxyAddress(proxyProtocol.IPv6Address.createFrom(client.bytes), client.port, proxyProtocol.IPv6Address.createFrom(new Array(16).fill(0)), 2222)
    : new proxyProtocol.IPv4ProxyAddress(proxyProtocol.IPv4Address.createFrom(client.bytes), client.port, proxyProtocol.IPv4Address.createFrom([10, 0, 0, 1]), 2222)
  const built = Buffer.from(new proxyProtocol.V2ProxyProtocol(command, proxyProtocol.TransportProtocol.STREAM, address).build())
  if (!tlvs.length) return built
  // TLVs follow the addresses and count in the length field (HAProxy sends some with send-proxy-v2-ssl and unique-id).
  const withTlvs = Buffer.concat([built, tlvs])
  withTlvs.writeUInt16BE(withTlvs.length - 16, 14)
  return withTlvs
}

t.test('v1 lines: TCP4, TCP6 and UNKNOWN', async (t) => {
  const line = 'PROXY TCP4 192.0.2.7 10.0.0.1 40000 2222\r\n'
  t.same(readProxyHeader(Buffer.from(`${line}SSH-2.0-client\r\n`)), { kind: 'header', client: { address: '192.0.2.7', port: 40000 }, length: line.length })
  const v6 = 'PROXY TCP6 2001:db8::5 2001:db8::1 5 443\r\n'
  t.same(readProxyHeader(Buffer.from(v6)), { kind: 'header', client: { address: '2001:db8::5', port: 5 }, length: v6.length })
  t.same(readProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { kind: 'header', client: undefined, length: 15 }, 'UNKNOWN keeps the balancer address')
  t.same(readProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n')).kind, 'header')
  for (let cut = 0; cut < line.length; cut++) t.same(readProxyHeader(Buffer.from(line.slice(0, cut))), { kind: 'incomplete' }, `cut at ${cut}`)
  const refuses = (text: string, message: RegExp) => t.throws(() => readProxyHeader(Buffer.from(text)), { name: 'ProxyHeaderError', message }, JSON.stringify(text))
  refuses('PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\n', /"999\.0\.0\.1", which is not an IP address/)
  refuses('PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n', /says TCP4 but names 2001:db8::1/)
  refuses('PROXY TCP4 192.0.2.1 10.0.0.1 70000 2\r\n', /port 70000/)
  refuses('PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n', /is not "PROXY TCP4\|TCP6/)
  refuses(`PROXY ${'x'.repeat(120)}`, /no CRLF within 107 bytes/)
  refuses('SSH-2.0-OpenSSH_9.2\r\n', /does not start with a PROXY header/)
  refuses('\x16\x03\x01\x02\x00', /does not start with a PROXY header/)
})

t.test('v2 headers: IPv4, IPv6, LOCAL, TLVs, and every cut', async (t) => {
  const v4 = v2Header({ v6: false, bytes: [198, 51, 100, 9], port: 51000 })
  t.same(readProxyHeader(Buffer.concat([v4, Buffer.from('\x16\x03\x01')])), { kind: 'header', client: { address: '198.51.100.9', port: 51000 }, length: 28 })
  const v6 = v2Header({ v6: true, bytes: [0x20, 1, 0x0d, 0xb8, ...new Array(11).fill(0), 7], port: 1 })
  t.same(readProxyHeader(v6), { kind: 'header', client: { address: '2001:db8::7', port: 1 }, length: 52 })
  const local = v2Header({ v6: false, bytes: [0, 0, 0, 0], port: 0 }, proxyProtocol.Command.LOCAL)
  t.same(readProxyHeader(local), { kind: 'header', client: undefined, length: 28 }, "LOCAL (the balancer's own check) keeps its address")
  const tlv = Buffer.from([0x05, 0x00, 0x03, 0x61, 0x62, 0x63])
  const withTlv = v2Header({ v6: false, bytes: [203, 0, 113, 1], port: 9 }, proxyProtocol.Command.PROXY, tlv)
  t.same(readProxyHeader(Buffer.concat([withTlv, Buffer.from('SSH-2.0-x\r\n')])), { kind: 'header', client: { address: '203.0.113.1', port: 9 }, length: 28 + tlv.length }, 'TLVs are skipped')
  for (let cut = 0; cut < withTlv.length; cut++) t.same(readProxyHeader(withTlv.subarray(0, cut)), { kind: 'incomplete' }, `cut at ${cut}`)
  const huge = Buffer.from(v4)
  huge.writeUInt16BE(60_000, 14)
  t.throws(() => readProxyHeader(huge), { name: 'ProxyHeaderError', message: /claims 60016 bytes/ })
  const badVersion = Buffer.from(v4)
  badVersion[12] = 0x31
  t.throws(() => readProxyHeader(badVersion), { name: 'ProxyHeaderError', message: /v2 header is malformed/ })
})

t.test('fuzz: any bytes are incomplete, a header with a real address, or a ProxyHeaderError', async (t) => {
  const signature = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'binary')
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([signature, b])),
        fc.string({ maxLength: 140 }).map((s) => Buffer.from(`PROXY ${s}`)),
      ),
      (bytes) => {
        let result
        try {
          result = readProxyHeader(bytes)
        } catch (err) {
          return err instanceof ProxyHeaderError && err.message.length > 0
        }
        if (result.kind === 'incomplete') return true
        return result.length <= bytes.length && (result.client === undefined || (net.isIP(result.client.address) !== 0 && result.client.port >= 0 && result.client.port <= 65535))
      },
    ),
    { numRuns: 2000 },
  )
  t.pass('2000 inputs')
})

t.test('fuzz: headers built for any address read back as that address, whole or with bytes after', async (t) => {
  fc.assert(
    fc.property(fc.boolean(), fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 65535 }), fc.uint8Array({ maxLength: 20 }), (v6, raw, port, after) => {
      const bytes = v6 ? raw : raw.slice(0, 4)
      const header = v2Header({ v6, bytes, port })
      const result = readProxyHeader(Buffer.concat([header, Buffer.from(after)]))
      if (result.kind !== 'header' || !result.client) return false
      const expected = v6 ? new net.SocketAddress({ address: Buffer.from(bytes).toString('hex').match(/.{4}/g)!.join(':'), family: 'ipv6' }).address : bytes.join('.')
      const v1 = readProxyHeader(Buffer.from(`PROXY ${v6 ? 'TCP6' : 'TCP4'} ${expected} ${v6 ? '::1' : '127.0.0.1'} ${port} 22\r\n`))
      return result.client.address === expected && result.client.port === port && result.length === header.length && v1.kind === 'header' && v1.client?.address === expected
    }),
    { numRuns: 500 },
  )
  t.pass('500 addresses')
})

t.test('proxy_protocol_from: addresses and ranges, IPv4-mapped peers included', async (t) => {
  const from = proxyPeers(['172.28.0.10', '10.0.0.0/8', 'fd00::/8'])
  t.ok(from('172.28.0.10'))
  t.ok(from('::ffff:172.28.0.10'), 'an IPv4-mapped peer on a dual-stack listener')
  t.ok(from('10.200.1.1'))
  t.ok(from('fd12::1'))
  t.notOk(from('172.28.0.11'))
  t.notOk(from('192.0.2.1'))
  t.notOk(from(undefined), 'a socket already gone')
  t.notOk(proxyPeers([])('127.0.0.1'), 'empty: nobody')

  const dir = mkdtempSync(path.join(tmpdir(), 'et-ppf-'))
  const yaml = (text: string) => {
    const file = path.join(dir, 'config.yaml')
    writeFileSync(file, text)
    return loadConfig({ file, env: {} }).proxyProtocolFrom
  }
  t.same(loadConfig({ env: {} }).proxyProtocolFrom, [], 'off by default')
  t.same(loadConfig({ env: { EDGETAINER_PROXY_PROTOCOL_FROM: '172.28.0.10, 10.0.0.0/8' } }).proxyProtocolFrom, ['172.28.0.10', '10.0.0.0/8'])
  t.same(yaml('proxy_protocol_from: [fd00::/8, 192.0.2.1]\n'), ['fd00::/8', '192.0.2.1'])
  t.throws(() => loadConfig({ env: { EDGETAINER_PROXY_PROTOCOL_FROM: 'haproxy' } }), { name: 'ConfigError', message: /EDGETAINER_PROXY_PROTOCOL_FROM \(proxy_protocol_from\): "haproxy" is not an IP address or a CIDR range/ })
  t.throws(() => yaml('proxy_protocol_from: loopback\n'), { name: 'ConfigError', message: /"loopback" is not an IP address/ }, 'named ranges are for trust_proxy only')
  t.throws(() => yaml('proxy_protocol_from: {a: 1}\n'), { name: 'ConfigError', message: /proxy_protocol_from/ })
})
