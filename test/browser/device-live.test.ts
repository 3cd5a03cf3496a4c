import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { Page } from 'playwright-core'
import { projectName } from '../../agent/deploy/stack-store.js'
import { createDeviceMetricsStore } from '../../server/telemetry/device-metrics-store.js'
import { createOutboxIngest } from '../../server/telemetry/outbox-ingest.js'
import { launchChromium } from '../lib/chromium.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { runningContainer } from '../lib/docker-state.js'
import { freePort, startTestSshd } from '../lib/openssh.js'
import { registrationToken, startTestAgent, waitOnline } from '../lib/test-agent.js'
import { ADMIN_PASSWORD, startTestGateway } from '../lib/test-gateway.js'
import { waitFor } from '../lib/wait.js'
import { repoRoot } from '../lib/repo-root.js'

const root = repoRoot
const consoleIndex = path.join(root, 'dist/web/index.html')
const screenshots = path.join(root, 'test-artifacts/screenshots')
const TIMEOUT = 20_000

function newestMtime(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs)
  }
  return newest
}

async function screenText(page: Page): Promise<string> {
  return (await page.locator('.xterm-rows').innerText()).replace(/\u00a0/g, ' ')
}

/** One service that says a line at start and serves a marker; SIGKILL stops it at once. */
function stack(port: number): string {
  const command = `mkdir -p /www && echo browser-v1 > /www/version.txt && echo browsvc up && exec httpd -f -p ${port} -h /www`
  return `services:
  browsvc:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sh", "-c", ${JSON.stringify(command)}]
`
}

t.test('the device page live: logs, container actions, the container terminal and needs attention', async (t) => {
  if (!existsSync(consoleIndex) || newestMtime(path.join(root, 'web')) > statSync(consoleIndex).mtimeMs) {
    t.fail('dist/web is missing or older than web/: run `npx vite build --config web/vite.config.ts` first')
    return
  }
  mkdirSync(screenshots, { recursive: true })
  ensureTestImage()
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_TERMINAL_USER: 'root' }, start: { agentHeartbeatSeconds: 1, logFollowPollMs: 1000 } })
  const { http, adminToken: token } = gw
  const terminalKey = (await http.get('/api/provision/terminal-key', { token })).body as string
  const sshd = await startTestSshd(t, [terminalKey.trim()])
  const address = { http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }
  const fleet = (await http.post('/api/fleets', { name: 'browser-live' }, { token })).body
  const { agent } = await startTestAgent(t, { gateway: address, token: await registrationToken(address, fleet.id), config: { sshd_address: `127.0.0.1:${sshd.port}` } })
  const deviceUuid = agent.registration.id
  await waitOnline(http, token, agent.registration.device_id)
  const port = await freePort()
  const software = (await http.post('/api/software', { name: 'browserapp', docker_compose_yaml: stack(port) }, { token })).body
  const project = projectName('browserapp', software.id)
  t.equal((await http.post(`/api/software/${software.id}/deploy`, { fleet_id: fleet.id }, { token })).status, 201)
  await waitFor('browsvc running', () => runningContainer(project, 'browsvc'), 60_000)
  // The release is verified for a while after it starts; the pages below expect it settled as running.
  await waitFor('the release verified as running', async () => {
    const items = (await http.get(`/api/deployments?device_id=${agent.registration.device_id}`, { token })).body.items as { devices: { device_id: string; status: string }[] }[]
    return items[0]?.devices.some((d) => d.device_id === agent.registration.device_id && d.status === 'running')
  }, 60_000)

  const browser = await launchChromium(t)
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  context.setDefaultTimeout(TIMEOUT)
  const problems: string[] = []
  context.on('page', (p) => p.on('pageerror', (err) => problems.push(`${p.url()}: ${err.message}`)))
  const page = await context.newPage()
  const base = `http://localhost:${gw.server.httpPort}`
  const shot = (name: string) => page.screenshot({ path: path.join(screenshots, `${name}.png`) })
  await page.goto(`${base}/login`)
  await page.fill('#f-username', 'admin')
  await page.fill('#f-password', ADMIN_PASSWORD)
  await page.click('button[type=submit]')
  await page.waitForSelector('[data-testid=current-user]')

  await t.test('live logs update without a reload', async (t) => {
    await page.goto(`${base}/devices/${deviceUuid}/logs?container=browsvc`)
    const messages = () => page.locator('[data-testid=log-line] .log-message').allInnerTexts()
    await waitFor('the start line', async () => (await messages()).includes('browsvc up'), 30_000)
    await page.waitForSelector('[data-testid=log-live][data-stream=live]')
    const url = page.url()
    execFileSync('docker', ['exec', (await runningContainer(project, 'browsvc'))!.id, 'sh', '-c', 'echo shown-live-7 > /proc/1/fd/1'])
    await waitFor('the new line on screen', async () => (await messages()).at(-1) === 'shown-live-7', 10_000)
    t.equal(page.url(), url, 'the same page, never reloaded')
    t.pass('a line written in the container appeared at the bottom')
    await shot('device-live-logs')
  })

  await t.test('a container is restarted from the device page', async (t) => {
    const before = (await runningContainer(project, 'browsvc'))!
    await page.goto(`${base}/devices/${deviceUuid}`)
    const row = page.locator('[data-testid=container-row][data-service=browsvc]')
    await row.waitFor({ timeout: 30_000 })
    t.match(await page.locator('[data-testid=release-software]').first().innerText(), /browserapp\s+v1[\s\S]*Last deploy: browserapp 1 is running/)
    await row.locator('button[data-action=restart]').click()
    // While it restarts the service has no running container; wait for one that started after the click.
    const after = await waitFor('the container started again', async () => {
      const now = await runningContainer(project, 'browsvc')
      return now && now.startedAt !== before.startedAt ? now : undefined
    }, 30_000)
    t.equal(after.id, before.id, 'the same container, restarted')
    await page.waitForSelector('.toast >> text=browsvc: restarted')
    await shot('device-release-containers')
  })

  await t.test('the container terminal works by service name', async (t) => {
    await page.locator('[data-testid=container-row][data-service=browsvc] a[aria-label="Terminal in browsvc"]').click()
    await page.waitForURL(/\/terminal\?container=browsvc$/)
    await page.waitForSelector('[data-terminal-state=connected]', { timeout: 30_000 })
    await page.click('.xterm')
    await page.keyboard.type('cat /www/version.txt; echo "in-$((6*7))"')
    await page.keyboard.press('Enter')
    await waitFor('output from inside the container', async () => /browser-v1[\s\S]*in-42/.test(await screenText(page)), 20_000)
    t.pass('the shell ran inside browsvc')
    await shot('device-container-terminal')
    await page.keyboard.type('exit')
    await page.keyboard.press('Enter')
  })

  await t.test('a failed device shows needs attention on the dashboard, its fleet and its page', async (t) => {
    // A second device whose deploy failed, stored the way the agent path stores a deploy result.
    const broken = (await http.post('/api/devices', { name: 'Broken pump', device_id: 'broken-pump', fleet_id: fleet.id }, { token })).body
    const ingest = createOutboxIngest({ db: gw.server.database.db })
    await ingest.ingest(broken.id, {
      outbox_id: 'browser-live',
      dropped_log_lines: 0,
      events: [{ seq: 1, at: new Date().toISOString(), kind: 'deploy', software_id: software.id, name: 'browserapp', version: '1', status: 'rolled_back', error: 'container browsvc exited with code 3' }],
    })
    // Its last heartbeat said dockerd did not answer, stored the way the agent path stores a heartbeat.
    const metrics = { cpu_percent: 3, memory_used_bytes: null, memory_total_bytes: null, disk_used_bytes: null, disk_total_bytes: null, uptime_seconds: 60, load_1: null, net_rx_bytes: null, net_tx_bytes: null }
    await createDeviceMetricsStore({ db: gw.server.database.db }).record(broken.id, { recorded_at: new Date(), metrics, containers: [], docker_error: 'cannot reach dockerd at unix:///var/run/docker.sock: ENOENT' })
    await page.goto(`${base}/`)
    const stat = page.locator('[data-stat="Needs attention"]')
    await waitFor('needs attention counted', async () => (await stat.locator('.stat-value').innerText()) === '1')
    t.match(await stat.getAttribute('class'), /tone-red/, 'and red')
    await page.waitForSelector('[data-testid=fleet-attention]')
    await shot('dashboard-needs-attention')
    await stat.click()
    await page.waitForURL(/\/devices\?attention=1$/)
    await page.waitForSelector('[data-device=broken-pump] [data-testid=attention]')
    t.equal(await page.locator('[data-testid=devices-table] tbody tr').count(), 1, 'only the failed device is listed')
    await page.goto(`${base}/devices/${broken.id}`)
    t.match(await page.locator('[data-testid=device-attention]').innerText(), /browserapp 1 was rolled back: container browsvc exited with code 3/)
    t.match(await page.locator('[data-testid=release-result]').innerText(), /Last deploy: browserapp 1 was rolled back/)
    const dockerError = page.locator('[data-testid=release-docker-error]')
    await dockerError.waitFor()
    t.equal(await dockerError.innerText(), 'Docker does not answer on the device, so its containers cannot be seen: cannot reach dockerd at unix:///var/run/docker.sock: ENOENT')
    await shot('device-needs-attention')
    await page.goto(`${base}/software/${software.id}/deploy`)
    await page.waitForSelector('[data-deployed=broken-pump] [data-testid=deployed-offline]')
    t.pass('the offline device reads offline in the deployments view')
  })

  t.same(problems, [], 'no script errors in the console pages')
})
