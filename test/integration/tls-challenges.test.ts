import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { startPebble } from '../lib/pebble.js'
import { waitFor } from '../lib/wait.js'
import { startTestGateway } from '../lib/test-gateway.js'
import { handshake, type Handshake } from '../lib/tls-client.js'

// TLS-ALPN-01, DNS-01 through a hook, renewal at two-thirds of a short lifetime, and retries after failures.
const BASE = 'fleet.test'
const CONSOLE = `console.${BASE}`

t.test('ACME challenges and renewal against Pebble', async (t) => {
  // Short-lived certificates (20 s): renewal at two-thirds comes after about 13 s.
  const pebble = await startPebble(t, { validitySeconds: 20 })
  const root = await pebble.rootPem()
  const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-dns-hook-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))

  // The operator's DNS hook, here publishing TXT records in challtestsrv's DNS, which Pebble queries.
  const hookLog = path.join(dir, 'hook.log')
  const hook = path.join(dir, 'dns-hook.mjs')
  writeFileSync(
    hook,
    `#!/usr/bin/env node
import { appendFileSync } from 'node:fs'
const [action, record, value] = process.argv.slice(2)
appendFileSync(${JSON.stringify(hookLog)}, action + ' ' + record + '\\n')
const res = await fetch(${JSON.stringify(pebble.dnsManagementUrl)} + (action === 'set' ? '/set-txt' : '/clear-txt'), {
  method: 'POST',
  body: JSON.stringify({ host: record + '.', value }),
})
process.exit(res.ok ? 0 : 1)
`,
  )
  chmodSync(hook, 0o755)
  writeFileSync(hookLog, '')

  const gw = await startTestGateway(t, 'postgres', {
    env: {
      EDGETAINER_ACME_DIRECTORY: pebble.directoryUrl,
      EDGETAINER_ACME_CA: pebble.caFile,
      EDGETAINER_ACME_CHALLENGE: 'tls-alpn-01',
      EDGETAINER_ACME_DNS_HOOK: hook,
      EDGETAINER_BASE_DOMAIN: BASE,
      EDGETAINER_CONSOLE_HOST: CONSOLE,
      // Plain HTTP is not where Pebble looks: every name must be proven over TLS-ALPN-01 or DNS-01.
      EDGETAINER_HTTP_PORT: '0',
      EDGETAINER_HTTPS_PORT: String(pebble.tlsPort),
    },
    start: { tls: { acmeBackoff: { minMs: 50, maxMs: 500 }, retry: { baseMs: 300, maxMs: 1000 }, checkIntervalMs: 250, sniWaitMs: 15_000 } },
  })
  const port = gw.server.httpsPort!

  function served(host: string, accept: (h: Handshake) => boolean = () => true): Promise<Handshake> {
    return waitFor(`a certificate for ${host}`, async () => {
      const h = await handshake({ port, servername: host, ca: root })
      return h.authorized && accept(h) ? h : undefined
    }, 30_000)
  }

  async function certificate(name: string) {
    const res = await gw.http.get('/api/certificates', { token: gw.adminToken })
    return (res.body.items as { name: string; status: string; failures: number; last_error: string | null; next_attempt_at: string | null; serial: string }[]).find((c) => c.name === name)
  }

  const consoleCert = await served(CONSOLE, (h) => h.hosts.includes(CONSOLE))
  // Pebble's HTTP-01 port has no listener and the hook never saw the console's name: TLS-ALPN-01 proved it.
  t.notMatch(readFileSync(hookLog, 'utf8'), /console/, 'the console certificate is issued over TLS-ALPN-01')

  const wildcard = await served(`anything.${BASE}`)
  t.same(wildcard.hosts, [`*.${BASE}`], 'the wildcard certificate comes from DNS-01 through the hook')
  t.match(readFileSync(hookLog, 'utf8'), new RegExp(`set _acme-challenge\\.${BASE.replace('.', '\\.')}\\n[\\s\\S]*clear _acme-challenge\\.${BASE.replace('.', '\\.')}`), 'the hook set the TXT record and cleared it')

  const renewed = await served(CONSOLE, (h) => h.serial !== consoleCert.serial)
  t.ok(renewed.certificate.validFrom, 'the console certificate renews by itself two-thirds into its lifetime')
  const lifetime = Date.parse(consoleCert.certificate.validTo) - Date.parse(consoleCert.certificate.validFrom)
  const renewedAfter = Date.parse(renewed.certificate.validFrom) - Date.parse(consoleCert.certificate.validFrom)
  t.ok(renewedAfter >= lifetime * 0.6, `renewed ${renewedAfter} ms into a ${lifetime} ms lifetime, not earlier`)

  t.test('a failing order is retried with backoff, reported, and recovers', async (t) => {
    const device = await gw.http.post('/api/devices', { name: 'pump-9' }, { token: gw.adminToken })
    const host = `${device.body.subdomain}.${BASE}`
    // Pebble's DNS answers SERVFAIL for the device host: validation cannot succeed.
    await pebble.dns('/set-servfail', { host: `${host}.` })
    const created = await gw.http.post(`/api/devices/${device.body.id}/exposed-services`, { name: 'web', container_name: 'web', internal_port: 80 }, { token: gw.adminToken })
    t.equal(created.status, 201)
    const failing = await waitFor('two failed attempts', async () => {
      const c = await certificate(host)
      return c && c.failures >= 2 && c.status !== 'renewing' ? c : undefined
    }, 30_000)
    t.equal(failing.status, 'failed', 'listed as failed')
    t.match(failing.last_error, /\S/, `the CA's reason is kept: ${failing.last_error}`)
    t.ok(failing.next_attempt_at, 'the next attempt is scheduled')
    const metrics = await gw.http.get('/metrics', { token: gw.adminToken })
    t.match(metrics.body, /edgetainer_tls_renewal_failures_total [2-9]|edgetainer_tls_renewal_failures_total \d\d/, 'failures are counted in /metrics')
    t.match(metrics.body, /edgetainer_acme_orders_total\{result="failure"\} [1-9]/)

    await pebble.dns('/clear-servfail', { host: `${host}.` })
    const recovered = await served(`web.${host}`)
    t.same(recovered.hosts.sort(), [host, `web.${host}`].sort(), 'the next retry succeeds once DNS is fixed')
    const listed = await waitFor('the failure count to reset', async () => {
      const c = await certificate(host)
      return c && c.failures === 0 ? c : undefined
    }, 30_000)
    t.equal(listed.last_error, null)
  })

  t.test('a name under the wildcard is served without an order', async (t) => {
    const orders = pebble.orderCount()
    const h = await handshake({ port, servername: `nobody.${BASE}`, ca: root })
    t.ok(h.authorized && h.hosts.includes(`*.${BASE}`), 'served by the wildcard certificate')
    t.equal(pebble.orderCount(), orders, 'the unknown name caused no order')
  })
})
