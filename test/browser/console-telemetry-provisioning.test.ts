import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import { ensureAgentBuilt } from '../lib/agent-build.js'
import { filesOf } from '../lib/ignition-config.js'
import { seedFleetAndDevices, startConsoleSuite, waitInPage } from '../lib/console-browser.js'
import type { IgnitionConfig } from '../../ignition/render-ignition.js'
import { createOutboxIngest } from '../../server/telemetry/outbox-ingest.js'
import { createDeviceMetricsStore } from '../../server/telemetry/device-metrics-store.js'
import type { OutboxEvent } from '../../shared/agent-wire.js'

t.test("a device's logs and metrics, and provisioning a device, in a real browser", async (t) => {
  // The provisioning config route answers only once the agent executable is built (`make agent`, once across test files).
  const agent = await ensureAgentBuilt()
  const suite = await startConsoleSuite(t, { start: { agentDir: agent.dir } })
  if (!suite) return
  const { gw, base, admin, browser, page, shot, pageProblems } = suite
  const { pumpId } = await seedFleetAndDevices(gw)

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
    await waitInPage('the seeded log lines', async () => (await lines.count()) === shown.length)
    const all = await read()
    t.same(all.messages, shown.map((l) => l.message), 'every line, oldest first, newest last')
    t.same(all.sources, shown.map((l) => l.source), 'each with its container')
    t.same(all.types, shown.map((l) => l.type), 'and its kind (stdout, stderr, state change, agent notice)')
    t.same(await page.locator('#log-container option').evaluateAll((els) => els.map((e) => (e as HTMLOptionElement).value)), ['', 'db', 'web'], 'the filter offers the containers seen')

    // No live event announces new lines (the gateway publishes none for logs): the tab's poll finds it.
    const late = { seq: 8, at: at(0), kind: 'log', container: 'web', stream: 'stdout', line: 'GET /api/pressure 200 3.1ms' } as const
    t.equal((await ingest.ingest(pumpId, { outbox_id: 'browser-test', events: [late], dropped_log_lines: 0 })).stored, 1)
    await waitInPage('the new line without a reload', async () => (await lines.count()) === shown.length + 1, 30_000)
    t.equal(await page.locator('[data-testid=log-line]:last-child .log-message').innerText(), late.line, 'a line shipped later appears at the bottom')
    await shot('device-logs')

    await page.click('[data-testid=time-range] button[title="Last hour"]')
    await page.waitForURL(/since=1h/)
    await waitInPage('the range to drop the 3-hour-old line', async () => (await lines.count()) === shown.length)
    t.notOk((await read()).messages.includes('boot: pump-ui 1.4.0'), 'the last hour leaves out older lines')

    await page.selectOption('#log-container', 'web')
    await page.waitForURL(/container=web/)
    await waitInPage('the container filter to narrow the list', async () => (await lines.count()) === 3)
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
})
