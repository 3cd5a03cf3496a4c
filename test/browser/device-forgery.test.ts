import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { existsSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { Browser, Page } from 'playwright-core'
import { ADMIN_PASSWORD, startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair } from '../lib/keys.js'
import { connectSsh2Device } from '../lib/ssh2-device.js'
import { waitFor } from '../lib/openssh.js'
import { launchChromium } from '../lib/chromium.js'
import { repoRoot } from '../lib/repo-root.js'

const root = repoRoot
const TIMEOUT = 15_000
const COMPOSE = 'services:\n  web:\n    image: nginx:1.29\n'

/** A device's web app gone bad: any HTML page at all, served through the tunnel from a device host. */
async function startHostileApp(t: { teardown(fn: () => Promise<void> | void): void }): Promise<number> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><html><head><title>pump-7 panel</title></head><body><h1>pump-7 panel</h1></body></html>')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  t.teardown(() => server.closeAllConnections())
  return (server.address() as AddressInfo).port
}

t.test('a page on a device host cannot act as the signed-in admin (real Chromium, real tunnel)', async (t) => {
  const started = Date.now()
  const phase = (name: string) => t.comment(`${name} at ${Date.now() - started} ms`)
  if (!existsSync(path.join(root, 'dist/web/index.html'))) {
    t.fail('the console is not built: run `npx vite build --config web/vite.config.ts`, then this test')
    return
  }
  // The console on the base domain itself and device hosts below it: same site for the browser,
  // so SameSite=Lax alone would let the cookie through. The gateway's own rules must hold.
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_BASE_DOMAIN: 'gw.localhost' } })
  phase('gateway started')
  const port = gw.server.httpPort
  const consoleOrigin = `http://gw.localhost:${port}`
  const bearer = { token: gw.adminToken }

  // A device online through a real SSH tunnel, forwarding a public web service that serves the hostile page.
  const key = newKeyPair()
  const device = (await gw.http.post('/api/devices', { name: 'Pump 7', device_id: 'pump-7', public_key: key.publicKey }, bearer)).body
  const appPort = await startHostileApp(t)
  await gw.http.post(`/api/devices/${device.id}/exposed-services`, { name: 'web', container_name: 'web', internal_port: 80, auth_required: false }, bearer)
  const dev = await connectSsh2Device(t, { port: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, deviceId: 'pump-7', key })
  await dev.forward('web', 80, appPort)
  await waitFor('device online', async () => (await gw.http.get('/api/devices/pump-7/status', bearer)).body.online)
  const software = (await gw.http.post('/api/software', { name: 'telemetry', docker_compose_yaml: COMPOSE }, bearer)).body

  phase('gateway and device ready')
  const browser: Browser = await launchChromium(t)
  const admin = await browser.newContext()
  admin.setDefaultTimeout(TIMEOUT)
  // tsx keeps function names with an `__name` helper that evaluated code carries into the page.
  await admin.addInitScript('globalThis.__name = (fn) => fn')

  // The admin signs in to the console through its login form.
  const consolePage = await admin.newPage()
  await consolePage.goto(`${consoleOrigin}/login`)
  await consolePage.fill('#f-username', 'admin')
  await consolePage.fill('#f-password', ADMIN_PASSWORD)
  await consolePage.click('button[type=submit]')
  await consolePage.waitForSelector('[data-testid=current-user]')
  const cookies = (await admin.cookies()).filter((c) => c.name === 'edgetainer_session')
  t.equal(cookies.length, 1, 'signed in: the browser holds one console cookie')
  t.same(
    cookies.map((c) => ({ domain: c.domain, httpOnly: c.httpOnly, sameSite: c.sameSite })),
    [{ domain: 'gw.localhost', httpOnly: true, sameSite: 'Lax' }],
    'host-only (the console host alone, no .gw.localhost), HttpOnly, SameSite=Lax',
  )

  // Controls: the same requests from the console's own origin work, so what fails below fails because of where it comes from.
  const control = await consolePage.evaluate(
    async ({ softwareId, compose }) => {
      const fleet = await fetch('/api/fleets', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'from-the-console' }) })
      const me = await fetch('/api/auth/me')
      const csrf = me.headers.get('x-csrf-token') ?? ''
      const form = new FormData()
      form.set('software_id', softwareId)
      form.set('file', new File([compose.replace('1.29', '1.30')], 'compose.yml'))
      const upload = await fetch('/api/software/upload', { method: 'POST', body: form, headers: { 'x-csrf-token': csrf } })
      return { fleet: fleet.status, upload: upload.status, csrf: csrf.length > 0 }
    },
    { softwareId: software.id, compose: COMPOSE },
  )
  t.same(control, { fleet: 201, upload: 201, csrf: true }, 'from the console origin: a JSON write, and a multipart upload with the CSRF token')

  async function snapshot() {
    const [tokens, fleets, versions, audit] = await Promise.all([
      gw.http.get('/api/tokens', bearer),
      gw.http.get('/api/fleets?limit=500', bearer),
      gw.http.get(`/api/software/${software.id}/versions`, bearer),
      gw.http.get('/api/audit?limit=500', bearer),
    ])
    return {
      tokens: tokens.body.items.map((x: { id: string }) => x.id).sort(),
      fleets: fleets.body.items.map((x: { name: string }) => x.name).sort(),
      versions: versions.body.items.map((x: { version: number | string }) => x.version),
      current: versions.body.current_version,
      auditTotal: audit.body.total,
      auditIds: audit.body.items.map((x: { id: string | number }) => x.id),
    }
  }
  phase('signed in, controls done')
  const before = await snapshot()
  t.ok(before.fleets.includes('from-the-console') && before.versions.length === 2, 'the controls changed what they should')

  // The hostile page, opened by the signed-in admin in the same browser.
  const hostile: Page = await admin.newPage()
  const served = await hostile.goto(`http://web.pump-7.gw.localhost:${port}/`)
  t.equal(served?.status(), 200, 'the device page is served through the tunnel')
  t.match(await hostile.title(), /pump-7 panel/)

  const fetches = await hostile.evaluate(
    async ({ consoleOrigin, softwareId, compose }) => {
      const targets = [
        { name: 'token', method: 'POST', url: `${consoleOrigin}/api/tokens`, json: { description: 'stolen' } },
        { name: 'fleet', method: 'POST', url: `${consoleOrigin}/api/fleets`, json: { name: 'planted-fleet' } },
        { name: 'version (upload)', method: 'POST', url: `${consoleOrigin}/api/software/upload`, json: { software_id: softwareId } },
        { name: 'version (update)', method: 'PUT', url: `${consoleOrigin}/api/software/${softwareId}`, json: { docker_compose_yaml: compose.replace('1.29', '6.66') } },
      ]
      const multipart = () => {
        const form = new FormData()
        form.set('software_id', softwareId)
        form.set('name', 'planted-software')
        form.set('description', 'planted')
        form.set('file', new File([compose.replace('1.29', '6.66')], 'compose.yml'))
        return form
      }
      const results: { target: string; variant: string; outcome: string }[] = []
      for (const target of targets) {
        const body = JSON.stringify(target.json)
        const variants: [string, RequestInit][] = [
          ['JSON, CORS', { method: target.method, credentials: 'include', headers: { 'content-type': 'application/json' }, body }],
          ['JSON, no-cors', { method: target.method, credentials: 'include', mode: 'no-cors', headers: { 'content-type': 'application/json' }, body }],
          ['text/plain, CORS', { method: target.method, credentials: 'include', headers: { 'content-type': 'text/plain' }, body }],
          ['text/plain, no-cors', { method: target.method, credentials: 'include', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body }],
          ['multipart, CORS', { method: target.method, credentials: 'include', body: multipart() }],
          ['multipart, no-cors', { method: target.method, credentials: 'include', mode: 'no-cors', body: multipart() }],
        ]
        for (const [variant, init] of variants) {
          let outcome: string
          try {
            const res = await fetch(target.url, init)
            outcome = res.type === 'opaque' ? 'opaque' : `status ${res.status}`
          } catch (err) {
            outcome = `blocked (${(err as Error).name})`
          }
          results.push({ target: target.name, variant, outcome })
        }
      }
      return results
    },
    { consoleOrigin, softwareId: software.id, compose: COMPOSE },
  )
  t.equal(fetches.length, 24, 'fetch: JSON, text/plain and multipart, with and without CORS, against four writes')
  for (const f of fetches) t.notMatch(f.outcome, /^status 2/, `fetch ${f.variant} → ${f.target}: ${f.outcome}`)

  phase('fetches done')
  // Cross-origin HTML forms: text/plain smuggling JSON, urlencoded, and multipart with a file, into a frame.
  const forms = await hostile.evaluate(
    async ({ consoleOrigin, softwareId, compose }) => {
      function post(action: string, enctype: string, fields: Record<string, string>, file?: File): Promise<string> {
        return new Promise((resolve) => {
          const name = `sink-${Math.random().toString(36).slice(2)}`
          const frame = document.createElement('iframe')
          frame.name = name
          document.body.append(frame)
          const form = document.createElement('form')
          form.method = 'POST'
          form.action = action
          form.enctype = enctype
          form.target = name
          for (const [key, value] of Object.entries(fields)) {
            const input = document.createElement('input')
            input.name = key
            input.value = value
            form.append(input)
          }
          if (file) {
            const input = document.createElement('input')
            input.type = 'file'
            input.name = 'file'
            const files = new DataTransfer()
            files.items.add(file)
            input.files = files.files
            form.append(input)
          }
          document.body.append(form)
          const timer = setTimeout(() => resolve('no load event'), 5000)
          frame.addEventListener('load', () => {
            clearTimeout(timer)
            resolve('frame loaded')
          })
          form.submit()
        })
      }
      return Promise.all([
        post(`${consoleOrigin}/api/tokens`, 'text/plain', { '{"description":"stolen","pad":"': '"}' }),
        post(`${consoleOrigin}/api/fleets`, 'text/plain', { '{"name":"planted-form-fleet","pad":"': '"}' }),
        post(`${consoleOrigin}/api/fleets`, 'application/x-www-form-urlencoded', { name: 'planted-urlencoded-fleet' }),
        post(`${consoleOrigin}/api/software/upload`, 'multipart/form-data', { software_id: softwareId }, new File([compose.replace('1.29', '6.66')], 'compose.yml')),
      ])
    },
    { consoleOrigin, softwareId: software.id, compose: COMPOSE },
  )
  t.equal(forms.length, 4, 'four form posts were submitted')
  t.comment(`form posts: ${forms.join(', ')}`)

  phase('forms done')
  // The terminal: by uuid and by device id, from the device page.
  const sockets = await hostile.evaluate(
    async ({ wsOrigin, ids }) =>
      Promise.all(
        ids.map(
          (id) =>
            new Promise<string>((resolve) => {
              const ws = new WebSocket(`${wsOrigin}/api/devices/${id}/terminal?cols=80&rows=24`)
              ws.binaryType = 'arraybuffer'
              const timer = setTimeout(() => resolve('still pending'), 5000)
              ws.onopen = () => {
                clearTimeout(timer)
                ws.close()
                resolve('opened')
              }
              ws.onclose = (e) => {
                clearTimeout(timer)
                resolve(`closed ${e.code}`)
              }
            }),
        ),
      ),
    { wsOrigin: `ws://gw.localhost:${port}`, ids: [device.id, 'pump-7'] },
  )
  for (const outcome of sockets) t.notSame(outcome, 'opened', `terminal WebSocket from the device page: ${outcome}`)

  phase('sockets done')
  // Nothing changed: same tokens, fleets, software versions, and not one new audit row.
  const after = await snapshot()
  t.same(after.tokens, before.tokens, 'no API token was created')
  t.same(after.fleets, before.fleets, 'no fleet was created')
  t.same(after.versions, before.versions, 'no software version was added')
  t.equal(after.current, before.current, 'the current version is unchanged')
  t.equal(after.auditTotal, before.auditTotal, 'the audit log has no new rows')
  t.same(after.auditIds, before.auditIds)
  t.equal((await gw.http.get('/api/software', bearer)).body.items.length, 1, 'no software was planted')

  // And the console still works for the admin afterwards (nothing was locked or revoked by the attempts).
  const still = await consolePage.evaluate(async () => (await fetch('/api/auth/me')).status)
  t.equal(still, 200, 'the admin is still signed in')
  t.comment(`ran ${fetches.length} fetches, ${forms.length} form posts, ${sockets.length} WebSockets from the device page`)
})
