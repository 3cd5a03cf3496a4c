import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { ADMIN_PASSWORD, startTestGateway } from '../lib/test-gateway.js'
import { newKeyPair, writeKeyPair } from '../lib/keys.js'
import { startOpenSshDevice, startTestSshd } from '../lib/openssh.js'
import { startDeviceApp } from '../lib/device-app.js'
import { ensureAgentBuilt } from '../lib/agent-build.js'
import { filesOf } from '../lib/ignition-config.js'
import { parse as parseYaml } from 'yaml'
import type { IgnitionConfig } from '../../ignition/render-ignition.js'
import { createOutboxIngest } from '../../server/telemetry/outbox-ingest.js'
import { createDeviceMetricsStore } from '../../server/telemetry/device-metrics-store.js'
import type { OutboxEvent } from '../../shared/agent-wire.js'
import { launchChromium } from '../lib/chromium.js'

const root = path.resolve(fileURLToPath(new URL('../..', import.meta.url)))
const consoleIndex = path.join(root, 'dist/web/index.html')
const screenshots = path.join(root, 'test-artifacts/screenshots')
const TIMEOUT = 15_000

/** Newest modification time under a directory, to tell a stale console build from a fresh one. */
function newestMtime(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs)
  }
  return newest
}

async function login(page: Page, baseUrl: string, username: string, password: string) {
  await page.goto(`${baseUrl}/`)
  await page.waitForURL(/\/login$/)
  await page.fill('#f-username', username)
  await page.fill('#f-password', password)
  await page.click('button[type=submit]')
  await page.waitForSelector('[data-testid=current-user]')
}

/** The xterm screen as text (the DOM renderer draws each row as a div). */
async function screenText(page: Page): Promise<string> {
  return (await page.locator('.xterm-rows').innerText()).replace(/\u00a0/g, ' ')
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = TIMEOUT) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

t.test('the admin console in a real browser', async (t) => {
  // Resources that must outlive the subtest that starts them (the device's sshd and tunnel) hang off this test.
  const suite = t
  if (!existsSync(consoleIndex)) {
    t.fail(`the console is not built (${path.relative(root, consoleIndex)} is missing): run \`make build\`, or \`npx vite build --config web/vite.config.ts\`, then this test`)
    return
  }
  if (newestMtime(path.join(root, 'web')) > statSync(consoleIndex).mtimeMs) {
    t.fail('dist/web is older than web/: rebuild the console (`make build` or `npx vite build --config web/vite.config.ts`) before this test')
    return
  }
  mkdirSync(screenshots, { recursive: true })

  // The terminal logs in to the test sshd, which runs as root here (a Flatcar device's user is `core`).
  // The provisioning config route answers only once the agent executable is built (`make agent`, once across test files).
  const agent = await ensureAgentBuilt()
  const gw = await startTestGateway(t, 'pglite', { env: { EDGETAINER_TERMINAL_USER: 'root' }, start: { agentDir: agent.dir } })
  // localhost, not 127.0.0.1: the console host is `localhost`, and cookie-authenticated writes must come from it.
  const base = `http://localhost:${gw.server.httpPort}`
  const browser: Browser = await launchChromium(t)
  const admin: BrowserContext = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  admin.setDefaultTimeout(TIMEOUT)
  // Script errors and CSP refusals in any admin page fail the run (a 401 or 409 answer logged by the browser is expected).
  const pageProblems: string[] = []
  admin.on('page', (p) => {
    p.on('pageerror', (err) => pageProblems.push(`${p.url()}: ${err.message}`))
    p.on('console', (m) => m.type() === 'error' && !/Failed to load resource/.test(m.text()) && pageProblems.push(`${p.url()}: ${m.text()}`))
  })
  const page = await admin.newPage()
  const shot = (name: string, p: Page = page) => p.screenshot({ path: path.join(screenshots, `${name}.png`) })

  await t.test('serves the console with its headers, and JSON 404s under /api', async (t) => {
    const index = await fetch(`${base}/devices/some-device`)
    t.equal(index.status, 200, 'a console path gets index.html (SPA fallback)')
    t.match(index.headers.get('cache-control'), /no-cache/)
    t.match(index.headers.get('content-security-policy'), /default-src 'self'/)
    t.match(index.headers.get('content-security-policy'), /connect-src 'self' ws:\/\/localhost:\d+ wss:\/\/localhost:\d+/)
    const asset = (await index.text()).match(/\/assets\/index-[\w-]+\.js/)?.[0]
    t.ok(asset, 'index.html names a hashed script')
    const script = await fetch(`${base}${asset}`)
    t.equal(script.status, 200)
    t.match(script.headers.get('cache-control'), /max-age=31536000, immutable/)
    t.equal((await fetch(`${base}/assets/index-gone.js`)).status, 404, 'a missing hashed asset is a 404, not index.html')
    const api = await fetch(`${base}/api/nothing-here`)
    t.equal(api.status, 404)
    t.same(await api.json(), { error: 'route not found', code: 'ROUTE_NOT_FOUND' })
  })

  await t.test('log in through the form; the session stays in an HttpOnly cookie', async (t) => {
    await page.goto(`${base}/fleets`)
    await page.waitForURL(/\/login\?next=%2Ffleets$/)
    await shot('login')
    await page.fill('#f-username', 'admin')
    await page.fill('#f-password', 'not-the-password')
    await page.click('button[type=submit]')
    const refused = page.locator('.form-error')
    await refused.waitFor()
    t.equal(await refused.innerText(), 'The user name or password is wrong.', 'a refused login says so in a sentence')
    t.equal(await refused.locator('[title=INVALID_CREDENTIALS]').count(), 1, 'the code stays available as a tooltip, not in the text')

    await page.fill('#f-password', ADMIN_PASSWORD)
    await page.click('button[type=submit]')
    await page.waitForURL(/\/fleets$/)
    t.equal(await page.locator('[data-testid=current-user]').innerText(), 'admin', 'signed in and sent back to where we were going')
    const cookie = (await admin.cookies()).find((c) => c.name === 'edgetainer_session')
    t.ok(cookie?.httpOnly, 'the session cookie is HttpOnly')
    const stored = await page.evaluate(() => JSON.stringify({ cookie: document.cookie, local: { ...localStorage }, session: { ...sessionStorage } }))
    t.notMatch(stored, /eyJ/, 'no JWT is readable by scripts')
  })

  await t.test('create a fleet; a duplicate name shows the API error on the field', async (t) => {
    await page.click('[data-nav=Fleets]')
    await page.click('text=New fleet')
    await page.fill('#f-name', 'north-plant')
    await page.fill('#f-description', 'Pumping stations north of the river')
    await page.click('.modal button[type=submit]')
    await page.waitForSelector('h1:has-text("north-plant")')
    t.match(page.url(), /\/fleets\/[0-9a-f-]{36}$/, 'lands on the new fleet')

    await page.click('.crumbs a:has-text("Fleets")')
    await page.waitForSelector('[data-testid=fleets-table] >> text=north-plant')
    await page.click('text=New fleet')
    await page.fill('#f-name', 'north-plant')
    await page.click('.modal button[type=submit]')
    const error = page.locator('.field[data-field=name] .field-error')
    await error.waitFor()
    t.equal(await error.innerText(), 'A fleet named north-plant already exists.', 'the 409 is shown next to the name field')
    await shot('fleet-duplicate-error')
    await page.click('.modal button:has-text("Cancel")')
    await shot('fleets')
  })

  let pumpId = ''
  await t.test('create a device through the form, find it in the list, search', async (t) => {
    await page.click('[data-nav=Devices]')
    await page.click('.page-actions >> text=Add device')
    await page.fill('#f-name', 'Pump 7')
    await page.fill('#f-device_id', 'pump-7')
    await page.selectOption('#f-fleet_id', { label: 'north-plant' })
    await page.click('.modal button[type=submit]')
    const row = page.locator('tr[data-device=pump-7]')
    await row.waitFor()
    t.match(await row.innerText(), /Pump 7[\s\S]*Offline[\s\S]*north-plant/, 'the new device is listed, offline, in its fleet')
    pumpId = (await gw.http.get('/api/devices/pump-7', { token: gw.adminToken })).body.id

    const other = await gw.http.post('/api/devices', { name: 'Valve 3', device_id: 'valve-3' }, { token: gw.adminToken })
    t.equal(other.status, 201)
    await page.reload()
    await page.locator('tr[data-device=valve-3]').waitFor()
    await page.fill('input[type=search]', 'valv')
    await page.waitForURL(/q=valv/)
    await waitFor('the search to narrow the list', async () => (await page.locator('tr[data-device]').count()) === 1)
    t.equal(await page.locator('tr[data-device]').getAttribute('data-device'), 'valve-3', 'search finds by name')
    await page.fill('input[type=search]', '')
    await waitFor('the full list', async () => (await page.locator('tr[data-device]').count()) === 2)

    await page.click('.page-actions >> text=Add device')
    await page.fill('#f-name', 'Another pump')
    await page.fill('#f-device_id', 'pump-7')
    await page.click('.modal button[type=submit]')
    const error = page.locator('.field[data-field=device_id] .field-error')
    await error.waitFor()
    t.equal(await error.innerText(), 'Device pump-7 already exists.', 'a duplicate device id is shown on its field')
    await page.click('.modal button:has-text("Cancel")')
  })

  await t.test('a device comes online as a real OpenSSH client connects, without a reload', async (t) => {
    await page.waitForSelector('[data-live=live]')
    await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'same page'))
    const badge = page.locator('tr[data-device=pump-7] .badge.status')
    t.equal(await badge.getAttribute('data-status'), 'offline')

    // The device: its own sshd (authorising the gateway's terminal key, as Ignition does), a web app, and stock `ssh -R`.
    const terminalKey = String((await gw.http.get('/api/provision/terminal-key', { token: gw.adminToken })).body).trim()
    const sshd = await startTestSshd(suite, [terminalKey])
    const app = await startDeviceApp(suite, 'pump-7 web')
    const key = newKeyPair('pump-7')
    t.equal((await gw.http.put('/api/devices/pump-7', { public_key: key.publicKey }, { token: gw.adminToken })).status, 200)
    startOpenSshDevice(suite, {
      gatewayPort: gw.server.sshPort,
      gatewayHostKey: gw.server.hostPublicKey,
      deviceId: 'pump-7',
      keyFile: writeKeyPair(key),
      forwards: [`0:localhost:${sshd.port}`, `web:8080:localhost:${app.port}`],
    })
    await page.waitForSelector('tr[data-device=pump-7] .badge.status[data-status=online]')
    t.pass('the badge turned online when the tunnel came up')

    t.equal((await gw.http.put('/api/devices/pump-7', { name: 'Pump 7 (north)' }, { token: gw.adminToken })).status, 200)
    await page.waitForSelector('tr[data-device=pump-7] >> text=Pump 7 (north)')
    t.pass('a changed device is refetched')
    t.equal(await page.evaluate(() => (window as unknown as { marker?: string }).marker), 'same page', 'no reload happened')
    await shot('devices')

    await page.click('[data-nav=Dashboard]')
    await page.waitForSelector('[data-stat=Online] .stat-value')
    t.equal(await page.locator('[data-stat=Online] .stat-value').innerText(), '1', 'the dashboard counts the online device')
    await page.waitForSelector('.feed li')
    t.match(await page.locator('.feed').innerText(), /admin\s+added the device/, 'recent activity lists what the admin did')
    await shot('dashboard')
  })

  await t.test('device detail: overview and the services tab', async (t) => {
    await page.goto(`${base}/devices/${pumpId}`)
    await page.waitForSelector('h1:has-text("Pump 7 (north)")')
    t.equal(await page.locator('h1 .badge.status').getAttribute('data-status'), 'online')
    await shot('device-overview')

    await page.click('.tabs >> text=Services')
    await page.click('text=Expose a service')
    await page.fill('#f-name', 'web')
    await page.fill('#f-container_name', 'web')
    await page.fill('#f-internal_port', '8080')
    await page.click('.modal button[type=submit]')
    const row = page.locator('tr[data-service=web]')
    await row.waitFor()
    t.match(await row.locator('a.link-external').getAttribute('href'), /^http:\/\/web\.pump-7\.localhost[:/]/, 'the service shows its URL')
    t.match(await row.innerText(), /web:8080[\s\S]*sign-in/, 'enabled, for signed-in users')
    t.notMatch(await row.innerText(), /not forwarded/, 'the online device forwards it')
    await row.locator('button:has-text("Disable")').click()
    await page.waitForSelector('tr[data-service=web] >> text=disabled')
    await row.locator('button:has-text("Enable")').click()
    await waitFor('the service enabled again', async () => !/disabled/.test(await row.innerText()))
    t.pass('disable and enable round-trip through the API')
    await shot('device-services')

    // Open the URL as the admin would. Chromium resolves *.localhost itself but shares no cookie with it, so the
    // gateway hands the console session over (console → one-time ticket → the service host's own cookie).
    const href = (await row.locator('a.link-external').getAttribute('href'))!
    const served = await admin.newPage()
    const response = await served.goto(href)
    t.equal(response?.status(), 200, `${href} answers`)
    t.match(await served.locator('body').innerText(), /pump-7 web says hello at \//, 'the device service answers through the tunnel')
    t.equal(new URL(served.url()).host, new URL(href).host, 'the browser ends on the service host, signed in')
    await served.close()
  })

  await t.test('software: a compose error on its field, versions with a diff, deploy to a fleet', async (t) => {
    await page.click('[data-nav=Software]')
    await page.click('.page-actions >> text=New software')
    await page.fill('#f-name', 'telemetry')
    await page.fill('#f-docker_compose_yaml', 'services:\n  web:\n    ports: ["8080:80"]\n')
    await page.click('.modal button[type=submit]')
    const error = page.locator('.field[data-field=docker_compose_yaml] .field-error')
    await error.waitFor()
    t.match(await error.innerText(), /services\.web\.image: is required.*line 2/, 'the compose error names the field and line')
    await page.fill('#f-docker_compose_yaml', 'services:\n  web:\n    image: nginx:1.27\n')
    await page.click('.modal button[type=submit]')
    await page.waitForSelector('h1:has-text("telemetry")')

    await page.click('.card-header button:has-text("Edit")')
    await page.fill('textarea[aria-label="Compose YAML"]', 'services:\n  web:\n    image: nginx:1.28\n  agent:\n    image: busybox:1\n')
    await page.click('text=Save as new version')
    await page.waitForSelector('pre.code >> text=nginx:1.28')
    await page.click('.tabs >> text=Versions')
    const diff = page.locator('[data-testid=diff]')
    await diff.waitFor()
    t.match(await diff.innerText(), /-\s+image: nginx:1\.27[\s\S]*\+\s+image: nginx:1\.28/, 'the diff between the two versions')
    await shot('software-versions')

    await page.click('.tabs >> text=Deployments')
    await page.selectOption('#f-target', { label: 'north-plant' })
    await page.click('button[type=submit]:has-text("Deploy")')
    const deployed = page.locator('[data-testid=deployments-table] [data-deployed=pump-7]')
    await deployed.waitFor()
    t.match(await deployed.innerText(), /pending/, "the fleet's device is listed, pending until its agent reports")
    await shot('software-deploy')
  })

  await t.test('environment: fleet variables with a masked secret, a device override, the inherited view', async (t) => {
    await page.click('[data-nav=Fleets]')
    await page.click('[data-testid=fleets-table] >> text=north-plant')
    await page.click('.tabs >> text=Environment')
    await page.click('text=Add container variables')
    await page.fill('#f-container', 'web')
    await page.locator('[aria-label="Variable name"]').nth(0).fill('REGION')
    await page.locator('[aria-label=Value]').nth(0).fill('eu')
    await page.click('text=Add variable')
    await page.locator('[aria-label="Variable name"]').nth(1).fill('DB_PASS')
    await page.locator('[aria-label=Value]').nth(1).fill('s3cret-value')
    await page.locator('[aria-label=Secret]').nth(1).check()
    await page.click('text=Save variables')
    await page.waitForSelector('.container-block >> text=REGION')
    const block = await page.locator('.container-block').innerText()
    t.match(block, /DB_PASS\s+\*{8}\s+secret/, 'the secret is masked')
    t.notMatch(await page.content(), /s3cret-value/, 'its value is nowhere on the page')

    await page.goto(`${base}/devices/${pumpId}/env`)
    await page.waitForSelector('tr.from-fleet >> text=REGION')
    await page.locator('.card:has-text("Device variables") >> text=Add container variables').click()
    await page.fill('#f-container', 'web')
    await page.locator('[aria-label="Variable name"]').nth(0).fill('REGION')
    await page.locator('[aria-label=Value]').nth(0).fill('eu-west')
    await page.click('text=Save variables')
    const region = page.locator('tr.from-device:has-text("REGION")')
    await region.waitFor()
    t.match(await region.innerText(), /REGION\s+eu-west\s+device\s+fleet/i, 'the device value wins and shows what it overrides')
    t.match(await page.locator('tr:has-text("DB_PASS")').first().innerText(), /\*{8}\s+fleet/i, 'the inherited secret stays masked')
    await shot('device-env')
  })

  await t.test('terminal tab: a real shell on the device through the gateway and the tunnel', async (t) => {
    const term = await admin.newPage()
    await term.setViewportSize({ width: 1440, height: 900 })
    await term.goto(`${base}/devices/${pumpId}/terminal`)
    await term.waitForSelector('[data-terminal-state=connected]')
    await term.click('.xterm')
    await term.keyboard.type('echo "answer-$((6*7))"; stty size')
    await term.keyboard.press('Enter')
    // Both outputs, not just the first: `stty size` prints a moment after the echo.
    const sizePattern = /answer-42\s+(\d+) (\d+)/
    await waitFor('the command output on the xterm screen', async () => sizePattern.test(await screenText(term)))
    const rowsShown = await term.locator('.xterm-rows > div').count()
    const size = sizePattern.exec(await screenText(term))
    t.ok(size, 'stty size printed the PTY size')
    t.equal(Number(size![1]), rowsShown, 'the PTY has as many rows as xterm draws')
    await term.screenshot({ path: path.join(screenshots, 'device-terminal.png') })

    await term.setViewportSize({ width: 1000, height: 640 })
    await waitFor('xterm to redraw smaller', async () => (await term.locator('.xterm-rows > div').count()) < rowsShown)
    const smallerRows = await term.locator('.xterm-rows > div').count()
    await term.keyboard.type('clear; stty size')
    await term.keyboard.press('Enter')
    await waitFor('the new size from the device', async () => new RegExp(`^\\s*${smallerRows} \\d+`, 'm').test(await screenText(term)))
    t.pass(`resize reached the device's PTY (${smallerRows} rows)`)

    await term.keyboard.type('exit')
    await term.keyboard.press('Enter')
    await waitFor('the exit message', async () => /\[session ended: .*exit code 0\)\]/.test(await screenText(term)))
    await term.waitForSelector('[data-terminal-state=closed]')
    t.pass('exiting the shell ends the session with a clear message')
    await term.close()

    // The same tab against the gateway's own bridge: valve-3 has no tunnel, which the bridge says in protocol.
    await page.goto(`${base}/devices/valve-3/terminal`)
    await waitFor('the offline message from the real bridge', async () => /\[session ended: the device is offline \(exit code 1\)\]/.test(await screenText(page)))
    await page.waitForSelector('[data-terminal-state=closed]')
    t.pass("the gateway's terminal bridge accepts the console's session and URL")
  })

  await t.test('device logs and metrics history, stored the way the agent path stores them', async (t) => {
    const { db } = gw.server.database
    const ingest = createOutboxIngest({ db })
    const store = createDeviceMetricsStore({ db })
    const now = Date.now()
    const at = (minutesAgo: number) => new Date(now - minutesAgo * 60_000).toISOString()
    const events: OutboxEvent[] = [
      { seq: 1, at: at(180), kind: 'log', container: 'web', stream: 'stdout', line: 'boot: pump-ui 1.4.0' },
      { seq: 2, at: at(9), kind: 'agent', message: 'agent 0.9.2 started, outbox has 0 pending events' },
      { seq: 3, at: at(8), kind: 'container', container: 'edgetainer-telemetry-db-1', service: 'db', state: 'running', health: null, previous: 'created' },
      { seq: 4, at: at(7), kind: 'log', container: 'db', stream: 'stdout', line: 'database system is ready to accept connections' },
      { seq: 5, at: at(6), kind: 'log', container: 'web', stream: 'stdout', line: 'listening on 0.0.0.0:8080' },
      { seq: 6, at: at(5), kind: 'log', container: 'db', stream: 'stderr', line: 'WARNING: checkpoints are occurring too frequently (24 seconds apart)' },
      { seq: 7, at: at(4), kind: 'log', container: 'web', stream: 'stderr', line: 'upstream sensor-bus timed out after 30 s, retrying' },
    ]
    t.equal((await ingest.ingest(pumpId, { outbox_id: 'browser-test', events, dropped_log_lines: 0 })).stored, events.length, 'the log rows are stored')
    // What the console shows for each event: its container (the service for a state change; none for agent notices) and its message.
    const shown = [
      { source: 'web', type: 'stdout', message: 'boot: pump-ui 1.4.0' },
      { source: '', type: 'agent', message: 'agent 0.9.2 started, outbox has 0 pending events' },
      { source: 'db', type: 'container', message: 'edgetainer-telemetry-db-1: created → running' },
      { source: 'db', type: 'stdout', message: 'database system is ready to accept connections' },
      { source: 'web', type: 'stdout', message: 'listening on 0.0.0.0:8080' },
      { source: 'db', type: 'stderr', message: 'WARNING: checkpoints are occurring too frequently (24 seconds apart)' },
      { source: 'web', type: 'stderr', message: 'upstream sensor-bus timed out after 30 s, retrying' },
    ]
    const lines = page.locator('[data-testid=log-line]')
    const read = async () => ({
      messages: await page.locator('[data-testid=log-line] .log-message').allInnerTexts(),
      sources: await lines.evaluateAll((els) => els.map((e) => e.getAttribute('data-source'))),
      types: await lines.evaluateAll((els) => els.map((e) => e.getAttribute('data-type'))),
    })

    await page.goto(`${base}/devices/${pumpId}`)
    await page.click('.tabs >> text=Logs')
    await page.waitForURL(/\/logs$/)
    await waitFor('the seeded log lines', async () => (await lines.count()) === shown.length)
    const all = await read()
    t.same(all.messages, shown.map((l) => l.message), 'every line, oldest first, newest last')
    t.same(all.sources, shown.map((l) => l.source), 'each with its container')
    t.same(all.types, shown.map((l) => l.type), 'and its kind (stdout, stderr, state change, agent notice)')
    t.same(await page.locator('#log-container option').evaluateAll((els) => els.map((e) => (e as HTMLOptionElement).value)), ['', 'db', 'web'], 'the filter offers the containers seen')

    // No live event announces new lines (the gateway publishes none for logs): the tab's poll finds it.
    const late = { seq: 8, at: at(0), kind: 'log', container: 'web', stream: 'stdout', line: 'GET /api/pressure 200 3.1ms' } as const
    t.equal((await ingest.ingest(pumpId, { outbox_id: 'browser-test', events: [late], dropped_log_lines: 0 })).stored, 1)
    await waitFor('the new line without a reload', async () => (await lines.count()) === shown.length + 1, 30_000)
    t.equal(await page.locator('[data-testid=log-line]:last-child .log-message').innerText(), late.line, 'a line shipped later appears at the bottom')
    await shot('device-logs')

    await page.click('[data-testid=time-range] button[title="Last hour"]')
    await page.waitForURL(/since=1h/)
    await waitFor('the range to drop the 3-hour-old line', async () => (await lines.count()) === shown.length)
    t.notOk((await read()).messages.includes('boot: pump-ui 1.4.0'), 'the last hour leaves out older lines')

    await page.selectOption('#log-container', 'web')
    await page.waitForURL(/container=web/)
    await waitFor('the container filter to narrow the list', async () => (await lines.count()) === 3)
    const web = await read()
    t.same(web.messages, ['listening on 0.0.0.0:8080', 'upstream sensor-bus timed out after 30 s, retrying', late.line], "only web's lines of the last hour")
    t.same(web.sources, ['web', 'web', 'web'])

    // Twelve heartbeats five minutes apart, as the heartbeat route records them.
    const GiB = 1024 ** 3
    const cpu = [12, 18, 25, 31, 22, 64, 71, 45, 28, 19, 24, 37]
    const memory = [40, 41, 43, 44, 46, 52, 55, 53, 50, 49, 48, 47] // percent of 4 GiB
    const disk = [61, 61, 61, 62, 62, 62, 62, 63, 63, 63, 63, 63] // percent of 32 GiB
    for (let i = 0; i < cpu.length; i++) {
      await store.record(pumpId, {
        recorded_at: new Date(now - (cpu.length - 1 - i) * 5 * 60_000),
        metrics: {
          cpu_percent: cpu[i]!,
          memory_used_bytes: (memory[i]! / 100) * 4 * GiB,
          memory_total_bytes: 4 * GiB,
          disk_used_bytes: (disk[i]! / 100) * 32 * GiB,
          disk_total_bytes: 32 * GiB,
          uptime_seconds: 3 * 86_400 + 4 * 3600 + i * 300,
          load_1: 0.42,
          net_rx_bytes: 812 * 1024 ** 2,
          net_tx_bytes: 97 * 1024 ** 2,
        },
        containers: [],
      })
    }
    await page.click('.tabs >> text=Metrics')
    await page.waitForURL(/\/metrics$/)
    await page.waitForSelector('[data-chart=cpu] polyline')
    for (const [id, values] of [['cpu', cpu], ['memory', memory], ['disk', disk]] as const) {
      const chart = page.locator(`[data-chart=${id}]`)
      const points = await chart.locator('polyline').evaluateAll((els) => els.reduce((n, e) => n + (e.getAttribute('points') ?? '').trim().split(/\s+/).length, 0))
      t.equal(points, values.length, `the ${id} chart draws one point per sample`)
      t.equal(await chart.locator('[data-latest]').innerText(), `${values[values.length - 1]}%`, `${id}: the latest value`)
      t.equal(await chart.locator('[data-stat=min]').innerText(), `${Math.min(...values)}%`, `${id}: its minimum`)
      t.equal(await chart.locator('[data-stat=max]').innerText(), `${Math.max(...values)}%`, `${id}: its maximum`)
    }
    t.match(await page.locator('[data-testid=metrics-range]').innerText(), /^12 samples · .+ – .+/, 'the samples and the time range they cover')
    t.match(await page.locator('[data-testid=metrics-latest]').innerText(), /uptime\s+3 d 4 h[\s\S]*0\.42[\s\S]*812 MB \/ 97 MB/i, 'the latest uptime, load and traffic')
    await shot('device-metrics')

    // A device that never shipped anything says where logs and metrics come from.
    await page.goto(`${base}/devices/valve-3/logs`)
    t.match(await page.locator('.state-empty', { hasText: 'No logs from this device yet' }).innerText(), /No logs from this device yet[\s\S]*ships its containers' output, the results of deploys/, 'the empty log view explains the source')
    await page.click('.tabs >> text=Metrics')
    t.match(await page.locator('.state-empty', { hasText: 'No metrics yet' }).innerText(), /No metrics yet[\s\S]*every heartbeat/, 'and so does the empty metrics view')
  })

  await t.test('users and API tokens through the forms', async (t) => {
    await page.click('[data-nav=Users]')
    await page.click('.page-actions >> text=New user')
    await page.fill('#f-username', 'olga')
    await page.fill('#f-email', 'olga@example.com')
    await page.fill('#f-password', 'short')
    await page.selectOption('#f-role', 'operator')
    await page.click('.modal button[type=submit]')
    const error = page.locator('.field[data-field=password] .field-error')
    await error.waitFor()
    t.equal(await error.innerText(), 'Must be at least 10 characters.', 'a refused password is explained on its field')
    await page.fill('#f-password', 'olga-password-123')
    await page.click('.modal button[type=submit]')
    const row = page.locator('tr[data-user=olga]')
    await row.waitFor()
    t.match(await row.innerText(), /olga[\s\S]*olga@example\.com[\s\S]*operator[\s\S]*active/i, 'the new operator is listed')
    await shot('users')

    await page.click('[data-nav="API tokens"]')
    await page.click('.page-actions >> text=New token')
    await page.fill('#f-description', 'Prometheus')
    await page.click('.modal button[type=submit]')
    const value = await page.locator('[data-testid=new-token]').innerText()
    t.match(value, /^et_[\w-]{20,}$/, 'the token value is shown once')
    await page.click('text=I have saved it')
    const listed = page.locator('[data-testid=tokens-table] tr:has-text("Prometheus")')
    await listed.waitFor()
    t.notMatch(await page.content(), new RegExp(value), 'and never again')
    const check = await fetch(`${base}/api/auth/me`, { headers: { authorization: `Bearer ${value}` } })
    t.equal(check.status, 200, 'the shown value works as a Bearer token')
    await shot('tokens')
  })

  await t.test('the other pages render for an admin', async (t) => {
    const pages: [string, string, string][] = [
      ['software', '/software', 'h1:has-text("Software")'],
      ['environment', '/env', 'h1:has-text("Environment")'],
      ['activity', '/activity', 'text=created the fleet'],
    ]
    for (const [name, url, selector] of pages) {
      await page.goto(`${base}${url}`)
      await page.waitForSelector(selector)
      await page.waitForSelector('.state-loading', { state: 'detached' })
      t.equal(await page.locator('.state-error').count(), 0, `${url} shows no error`)
      await shot(name)
    }
    const fleet = await gw.http.get('/api/fleets?q=north-plant', { token: gw.adminToken })
    await page.goto(`${base}/fleets/${fleet.body.items[0].id}`)
    await page.waitForSelector('tr[data-device=pump-7]')
    await shot('fleet-detail')
  })

  await t.test('provisioning: create a token and download the device’s Ignition file', async (t) => {
    const fleet = (await gw.http.get('/api/fleets?q=north-plant', { token: gw.adminToken })).body.items[0]
    const other = await gw.http.post('/api/provision/tokens', { fleet_id: fleet.id, name: 'Spare valve', hostname: 'valve-9' }, { token: gw.adminToken })
    t.equal(other.status, 201, 'a second token, made through the API')

    await page.click('[data-nav=Provisioning]')
    await page.waitForSelector(`tr[data-token="${other.body.prefix}"] [data-state=active]`)
    await page.click('.page-actions >> text=New registration token')
    await page.selectOption('#f-fleet_id', { label: 'north-plant' })
    await page.fill('#f-name', 'North batch')
    await page.fill('#f-name_pattern', 'pump-{id}')
    await page.fill('#f-max_uses', '3')
    await page.fill('#f-expires_in', '48')
    await page.click('.modal button:has-text("Static address")')
    await page.fill('[id="f-network.address"]', '10.0.0.5/24')
    await page.fill('[id="f-network.gateway"]', '10.0.0.1')
    await page.fill('[id="f-network.dns"]', '10.0.0.1, 1.1.1.1')
    await page.click('.modal button[type=submit]')
    const error = page.locator('.field[data-field=name_pattern] .field-error')
    await error.waitFor()
    t.equal(await error.innerText(), 'The only placeholders are {n} and {hostname}.', 'a refused pattern is explained on its field')
    await shot('provisioning-new-token')
    await page.fill('#f-name_pattern', 'pump-{n}')
    await page.click('.modal button[type=submit]')

    const value = await page.locator('[data-testid=new-registration-token]').innerText()
    t.match(value, /^etr_[\w-]{40,}$/, 'the token value is shown once')
    t.match(await page.locator('[data-testid=token-result]').innerText(), /shown once[\s\S]*one-time token/i, 'with the warning that it is shown once and is in the file')
    t.equal(await page.locator('[data-testid=install-command]').innerText(), 'flatcar-install -d /dev/sda -i north-batch-device.ign', 'the install command names the file')
    // This gateway is on localhost, a lab setup: the download must allow the loopback address explicitly (refusal: provision-endpoints.test.ts).
    await page.check('[data-testid=allow-loopback]')
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('.modal a:has-text("Download device.ign")')])
    t.equal(download.suggestedFilename(), 'north-batch-device.ign')
    // saveAs, not path(): the browser runs as a server process, so the download is streamed back to us.
    const downloads = mkdtempSync(path.join(tmpdir(), 'et-download-'))
    t.teardown(() => rmSync(downloads, { recursive: true, force: true }))
    const saved = path.join(downloads, download.suggestedFilename())
    await download.saveAs(saved)
    const config = JSON.parse(readFileSync(saved, 'utf8')) as IgnitionConfig
    t.equal(config.ignition.version, '3.3.0', 'an Ignition 3.3.0 config')
    const files = filesOf(config)
    t.equal(parseYaml(files.get('/etc/edgetainer/agent.yaml')!.text!).token, value, "its agent.yaml carries the shown token")
    t.match(files.get('/etc/systemd/network/00-edgetainer-static.network')?.text, /Address=10\.0\.0\.5\/24\nGateway=10\.0\.0\.1\nDNS=10\.0\.0\.1\nDNS=1\.1\.1\.1/, 'and the static network from the form')
    t.equal(await page.locator('[data-testid=download-error] .form-error').count(), 0, 'no download error')
    await shot('provisioning-token')

    await page.click('.modal-footer button:has-text("Done")')
    const row = page.locator(`tr[data-token="${value.slice(0, 10)}"]`)
    await row.waitFor()
    t.match(await row.innerText(), /North batch[\s\S]*north-plant[\s\S]*pump-\{n\}[\s\S]*static 10\.0\.0\.5\/24[\s\S]*0\s*\/\s*3[\s\S]*Active/, 'listed with its fleet, pattern, network and uses')
    t.notMatch(await page.content(), new RegExp(value), 'the value is not shown again')

    await row.locator('button:has-text("Revoke")').click()
    await page.click('.modal button:has-text("Revoke")')
    await row.locator('[data-state=revoked]').waitFor()
    t.equal(await row.locator('button:has-text("Revoke")').count(), 0, 'revoked through the list: the status changes and the action goes')
    t.equal((await fetch(`${base}/api/provision/config/${value}`)).status, 410, 'its config is gone')
    await page.waitForSelector('.toast', { state: 'detached' })
    await shot('provisioning')
  })

  t.same(pageProblems, [], 'no script errors or CSP refusals in the admin session')

  await t.test('a viewer does not get the users page', async (t) => {
    await gw.tokenFor('viewer', 'vera')
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
    context.setDefaultTimeout(TIMEOUT)
    t.teardown(() => context.close())
    const viewer = await context.newPage()
    await login(viewer, base, 'vera', 'vera-password-123')
    t.equal(await viewer.locator('[data-nav=Users]').count(), 0, 'no Users item in the navigation')
    t.equal(await viewer.locator('[data-nav=Devices]').count(), 1)
    await viewer.goto(`${base}/users`)
    await viewer.waitForSelector('[data-testid=forbidden]')
    t.equal(await viewer.locator('[data-testid=users-table]').count(), 0, 'the users page is refused')
    const status = await viewer.evaluate(async () => (await fetch('/api/users')).status)
    t.equal(status, 403, 'and the API refuses it too')
    await shot('viewer-forbidden', viewer)
    await viewer.goto(`${base}/devices`)
    await viewer.waitForSelector('tr[data-device=pump-7]')
    t.equal(await viewer.locator('text=Add device').count(), 0, 'no admin actions for a viewer')

    await viewer.click('button[aria-label="Sign out"]')
    await viewer.waitForURL(/\/login$/)
    const after = await viewer.evaluate(async () => (await fetch('/api/auth/me')).status)
    t.equal(after, 401, 'signing out ends the session')
  })
})
