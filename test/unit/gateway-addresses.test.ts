import t from 'tap'
import { createGatewayAddresses } from '../../server/http/gateway-addresses.js'
import { gatewayEndpoints } from '../../server/provision/gateway-endpoints.js'

function addresses(publicUrl: string, ports: { http: number; https?: number }) {
  return createGatewayAddresses({
    baseDomain: 'fleet.example.com',
    consoleHost: 'console.fleet.example.com',
    publicUrl,
    ports: { http: () => ports.http, https: () => ports.https },
    isDeviceHost: (host) => host.endsWith('.fleet.example.com') && host !== 'console.fleet.example.com',
  })
}

t.test('the derived default: links carry the listener port that was bound', async (t) => {
  const a = addresses('http://console.fleet.example.com:0', { http: 8123 })
  t.equal(a.consoleOrigin(), 'http://console.fleet.example.com:8123')
  t.equal(a.serviceUrl('pump-1', { name: 'web', url_path: null }), 'http://web.pump-1.fleet.example.com:8123/')
  t.equal(a.serviceUrl('pump-1', { name: 'web', url_path: '/app' }), 'http://pump-1.fleet.example.com:8123/app')
  t.same([...a.consoleOrigins()], ['http://console.fleet.example.com:8123'])
  t.equal(gatewayEndpoints({ publicUrl: 'http://console.fleet.example.com:0', sshPort: 2222 }, { httpPort: 8123, sshPort: 2299 }).url, 'http://console.fleet.example.com:8123', 'devices are sent to the same place')
})

t.test('the derived default once TLS is on: links use the HTTPS listener, never a downgrade', async (t) => {
  const a = addresses('http://console.fleet.example.com:8080', { http: 8080, https: 8443 })
  t.equal(a.consoleOrigin(), 'https://console.fleet.example.com:8443')
  t.equal(a.origin('pump-1.fleet.example.com'), 'https://pump-1.fleet.example.com:8443')
  t.notOk(a.consoleOrigins().has('http://console.fleet.example.com:8080'), 'the plain-HTTP origin may not write with the cookie')
})

t.test('a public URL behind a reverse proxy: links, redirects and origins use its scheme and port', async (t) => {
  const a = addresses('https://console.fleet.example.com', { http: 8080 })
  t.equal(a.consoleOrigin(), 'https://console.fleet.example.com')
  t.equal(a.serviceUrl('pump-1', { name: 'web', url_path: null }), 'https://web.pump-1.fleet.example.com/', 'the public port, not the one the gateway binds')
  t.ok(a.consoleOrigins().has('https://console.fleet.example.com'), 'the public console origin')
  t.ok(a.consoleOrigins().has('http://console.fleet.example.com:8080'), 'and the listener itself, for an admin on the gateway network')
  t.ok(a.isDeviceOrigin(new URL('https://pump-1.fleet.example.com/x')), 'a device page at the public origin is recognised')
  t.ok(a.isDeviceOrigin(new URL('http://web.pump-1.fleet.example.com:8080/')), 'and at the listener')
  t.notOk(a.isDeviceOrigin(new URL('https://console.fleet.example.com/')), 'the console is not a device host')
  t.notOk(a.isDeviceOrigin(new URL('https://pump-1.fleet.example.com:9999/')), 'nor is a device host on a port the gateway does not serve')
})

t.test('a public URL that names a device host is never a console origin', async (t) => {
  const a = addresses('https://pump-1.fleet.example.com', { http: 8080 })
  t.notOk(a.consoleOrigins().has('https://pump-1.fleet.example.com'))
})
