import t from 'tap'
import { newKeyPair, writeKeyPair } from '../lib/keys.js'
import { startOpenSshDevice, startTestSshd } from '../lib/openssh.js'
import { startDeviceApp } from '../lib/device-app.js'
import { screenText, screenshots, startConsoleSuite, waitInPage } from '../lib/console-browser.js'
import path from 'node:path'

t.test("fleets, devices, a device coming online, its services and its terminal in a real browser", async (t) => {
  const suite = await startConsoleSuite(t)
  if (!suite) return
  const { gw, base, admin, browser, page, shot, pageProblems } = suite
  // The device's sshd and tunnel must outlive the subtest that starts them.
  const suiteT = t
  let pumpId = ''

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
    await waitInPage('the search to narrow the list', async () => (await page.locator('tr[data-device]').count()) === 1)
    t.equal(await page.locator('tr[data-device]').getAttribute('data-device'), 'valve-3', 'search finds by name')
    await page.fill('input[type=search]', '')
    await waitInPage('the full list', async () => (await page.locator('tr[data-device]').count()) === 2)

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
    const sshd = await startTestSshd(suiteT, [terminalKey])
    const app = await startDeviceApp(suiteT, 'pump-7 web')
    const key = newKeyPair('pump-7')
    // The key change makes the page fetch its list again. That fetch is held here, read but not delivered,
    // until the device is online: an answer read before the connect must not put the badge back to offline.
    let release = () => {}
    const released = new Promise<void>((resolve) => (release = resolve))
    let held = () => {}
    const holding = new Promise<void>((resolve) => (held = resolve))
    let delivered = () => {}
    const staleDelivered = new Promise<void>((resolve) => (delivered = resolve))
    const isList = (url: URL) => url.pathname === '/api/devices'
    await page.route(
      isList,
      async (route) => {
        const stale = await route.fetch()
        held()
        await released
        await route.fulfill({ response: stale })
        delivered()
      },
      { times: 1 },
    )
    t.equal((await gw.http.put('/api/devices/pump-7', { public_key: key.publicKey }, { token: gw.adminToken })).status, 200)
    await holding
    startOpenSshDevice(suiteT, {
      gatewayPort: gw.server.sshPort,
      gatewayHostKey: gw.server.hostPublicKey,
      deviceId: 'pump-7',
      keyFile: writeKeyPair(key),
      forwards: [`0:localhost:${sshd.port}`, `web:8080:localhost:${app.port}`],
    })
    await page.waitForSelector('tr[data-device=pump-7] .badge.status[data-status=online]')
    t.pass('the badge turned online when the tunnel came up')
    release()
    await staleDelivered
    // Two frames: the answer is parsed and rendered by then.
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))))
    t.equal(await badge.getAttribute('data-status'), 'online', 'a list read before the connect, answered after it, leaves the badge online')

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
    await waitInPage('the service enabled again', async () => !/disabled/.test(await row.innerText()))
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
    await waitInPage('the command output on the xterm screen', async () => sizePattern.test(await screenText(term)))
    const rowsShown = await term.locator('.xterm-rows > div').count()
    const size = sizePattern.exec(await screenText(term))
    t.ok(size, 'stty size printed the PTY size')
    t.equal(Number(size![1]), rowsShown, 'the PTY has as many rows as xterm draws')
    await term.screenshot({ path: path.join(screenshots, 'device-terminal.png') })

    await term.setViewportSize({ width: 1000, height: 640 })
    await waitInPage('xterm to redraw smaller', async () => (await term.locator('.xterm-rows > div').count()) < rowsShown)
    const smallerRows = await term.locator('.xterm-rows > div').count()
    await term.keyboard.type('clear; stty size')
    await term.keyboard.press('Enter')
    await waitInPage('the new size from the device', async () => new RegExp(`^\\s*${smallerRows} \\d+`, 'm').test(await screenText(term)))
    t.pass(`resize reached the device's PTY (${smallerRows} rows)`)

    await term.keyboard.type('exit')
    await term.keyboard.press('Enter')
    await waitInPage('the exit message', async () => /\[session ended: .*exit code 0\)\]/.test(await screenText(term)))
    await term.waitForSelector('[data-terminal-state=closed]')
    t.pass('exiting the shell ends the session with a clear message')
    await term.close()

    // The same tab against the gateway's own bridge: valve-3 has no tunnel, which the bridge says in protocol.
    await page.goto(`${base}/devices/valve-3/terminal`)
    await waitInPage('the offline message from the real bridge', async () => /\[session ended: the device is offline \(exit code 1\)\]/.test(await screenText(page)))
    await page.waitForSelector('[data-terminal-state=closed]')
    t.pass("the gateway's terminal bridge accepts the console's session and URL")
  })

  t.same(pageProblems, [], 'no script errors or CSP refusals in the admin session')
})
