import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { pickRenewalTime } from '../../server/tls/ari-renewal.js'
import { ariCertificateId, ariIdFromParts, coversAll, hostMatches, readCertificate, renewalTime } from '../../server/tls/certificate-info.js'
import { parseClientHello } from '../../server/tls/client-hello.js'

t.test('ARI certificate identifier', async (t) => {
  // The example of RFC 9773 §4.1.
  const keyIdentifier = Buffer.from('69885B6B87464041E1B37B847BA0AE2CDE01C8D4', 'hex')
  t.equal(ariIdFromParts(keyIdentifier, Buffer.from('0087654321', 'hex')), 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE')

  // A real certificate, compared with what openssl reads from it.
  const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-ari-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=a.example', '-keyout', 'k.pem', '-out', 'c.pem', '-addext', 'subjectAltName=DNS:a.example,DNS:*.b.example'], { cwd: dir, stdio: 'ignore' })
  const pem = readFileSync(path.join(dir, 'c.pem'), 'utf8')
  const described = execFileSync('openssl', ['x509', '-in', 'c.pem', '-noout', '-serial', '-ext', 'authorityKeyIdentifier'], { cwd: dir, encoding: 'utf8' })
  const serialHex = /serial=([0-9A-F]+)/.exec(described)![1]!
  const akiHex = /\n\s+((?:[0-9A-F]{2}:)+[0-9A-F]{2})/.exec(described)![1]!.replace(/:/g, '')
  // DER integers carry a leading zero byte when the high bit is set.
  const serialDer = Buffer.from((parseInt(serialHex.slice(0, 2), 16) & 0x80 ? '00' : '') + serialHex, 'hex')
  t.equal(ariCertificateId(pem), ariIdFromParts(Buffer.from(akiHex, 'hex'), serialDer))

  const info = readCertificate(pem)
  t.same(info.hosts, ['a.example', '*.b.example'])
  t.equal(info.serial.replace(/^(00)+/, ''), serialHex.toLowerCase().replace(/^(00)+/, ''))
})

t.test('renewal timing', async (t) => {
  const notBefore = new Date('2030-01-01T00:00:00Z')
  const notAfter = new Date('2030-04-01T00:00:00Z') // 90 days
  t.equal(renewalTime({ notBefore, notAfter }).toISOString(), '2030-03-02T00:00:00.000Z', 'two-thirds into the lifetime')
  const now = Date.parse('2030-02-01T00:00:00Z')
  const window = { start: new Date('2030-02-10T00:00:00Z'), end: new Date('2030-02-12T00:00:00Z') }
  t.equal(pickRenewalTime(window, now, () => 0).toISOString(), '2030-02-10T00:00:00.000Z')
  t.equal(pickRenewalTime(window, now, () => 0.5).toISOString(), '2030-02-11T00:00:00.000Z')
  t.equal(pickRenewalTime({ start: new Date(now - 5000), end: new Date(now - 1000) }, now, () => 0.5).getTime(), now, 'a window in the past means now')
})

t.test('host matching', async (t) => {
  t.ok(hostMatches('*.fleet.test', 'dev.fleet.test'))
  t.notOk(hostMatches('*.fleet.test', 'fleet.test'))
  t.notOk(hostMatches('*.fleet.test', 'web.dev.fleet.test'), 'a wildcard covers one label only')
  t.ok(coversAll(['dev.fleet.test', 'web.dev.fleet.test'], ['web.dev.fleet.test']))
  t.notOk(coversAll(['dev.fleet.test'], ['dev.fleet.test', 'api.dev.fleet.test']), 'a new service needs a new certificate')
})

t.test('ClientHello parsing', async (t) => {
  t.equal(parseClientHello(Buffer.from([0x16, 0x03])), 'incomplete')
  t.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')), 'other', 'plain HTTP on the TLS port')
  // A hand-built ClientHello: SNI dev.fleet.test, ALPN acme-tls/1 and http/1.1.
  const name = Buffer.from('dev.fleet.test')
  const sni = Buffer.concat([Buffer.from([0x00, 0x00]), u16(name.length + 5), u16(name.length + 3), Buffer.from([0x00]), u16(name.length), name])
  const protocols = Buffer.concat(['acme-tls/1', 'http/1.1'].map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p)])))
  const alpn = Buffer.concat([Buffer.from([0x00, 0x10]), u16(protocols.length + 2), u16(protocols.length), protocols])
  const extensions = Buffer.concat([sni, alpn])
  const body = Buffer.concat([Buffer.from([0x03, 0x03]), Buffer.alloc(32), Buffer.from([0x00]), u16(2), Buffer.from([0x13, 0x01]), Buffer.from([0x01, 0x00]), u16(extensions.length), extensions])
  const handshake = Buffer.concat([Buffer.from([0x01, 0x00]), u16(body.length), body])
  const record = Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), u16(handshake.length), handshake])
  t.same(parseClientHello(record), { servername: 'dev.fleet.test', alpn: ['acme-tls/1', 'http/1.1'] })
  t.equal(parseClientHello(record.subarray(0, record.length - 1)), 'incomplete', 'a hello cut in two waits for the rest')
})

function u16(n: number): Buffer {
  const b = Buffer.alloc(2)
  b.writeUInt16BE(n)
  return b
}
