import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { launchChromium } from '../lib/chromium.js'
import { connectAgentApiDevice } from '../lib/agent-api-device.js'
import { buildAgentScript, publishBuild } from '../lib/agent-bundles.js'
import { registrationToken } from '../lib/test-agent.js'
import { ADMIN_PASSWORD, startTestGateway } from '../lib/test-gateway.js'
import { repoRoot } from '../lib/repo-root.js'

const root = repoRoot
const consoleIndex = path.join(root, 'dist/web/index.html')
const work = mkdtempSync(path.join(tmpdir(), 'et-agent-console-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

const heartbeat = (version: string) => ({
  agent_version: version,
  agent_arch: 'x64',
  at: new Date().toISOString(),
  metrics: { cpu_percent: null, memory_used_bytes: null, memory_total_bytes: null, disk_used_bytes: null, disk_total_bytes: null, uptime_seconds: null, load_1: null, net_rx_bytes: null, net_tx_bytes: null },
  containers: [],
  software: [],
  outbox: { pending: 0, dropped_log_lines: 0 },
})

/** The console's agent views in Chromium: versions per fleet, the device's agent with its warning, and "Update agent". */
t.test('agent versions in the console, and Update agent', async (t) => {
  if (!existsSync(consoleIndex) || statSync(path.join(root, 'web/src/pages/agent-version.tsx')).mtimeMs > statSync(consoleIndex).mtimeMs) {
    t.fail('dist/web is missing or older than web/: run `npx vite build --config web/vite.config.ts` before this test')
    return
  }
  const agentDir = path.join(work, 'agent-dir')
  mkdirSync(agentDir)
  publishBuild(agentDir, await buildAgentScript(path.join(work, 'agent'), '2.0.0'))
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_MIN_AGENT_VERSION: '0.5.0' }, start: { agentDir } })
  const { http, adminToken: token } = gw
  const fleet = (await http.post('/api/fleets', { name: 'pumps' }, { token })).body
  const address = { http, adminToken: token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey }
  const old = await connectAgentApiDevice(t, { http, token: await registrationToken(address, fleet.id), sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey })
  const current = await connectAgentApiDevice(t, { http, token: await registrationToken(address, fleet.id), sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey })
  t.equal((await old.json('POST', '/api/agent/heartbeat', heartbeat('0.1.0'))).status, 200)
  t.equal((await current.json('POST', '/api/agent/heartbeat', heartbeat('2.0.0'))).status, 200)

  const browser = await launchChromium(t)
  const page = await (await browser.newContext()).newPage()
  page.setDefaultTimeout(15_000)
  const base = `http://localhost:${gw.server.httpPort}`
  await page.goto(`${base}/`)
  await page.waitForURL(/\/login$/)
  await page.fill('#f-username', 'admin')
  await page.fill('#f-password', ADMIN_PASSWORD)
  await page.click('button[type=submit]')
  await page.waitForSelector('[data-testid=current-user]')

  await page.goto(`${base}/fleets/${fleet.id}`)
  const table = page.locator('table.agent-versions')
  await table.waitFor()
  const rows = (await table.locator('tbody tr').allInnerTexts()).map((r) => r.replace(/\s+/g, ' ').trim())
  t.same(rows, ['2.0.0 1', '0.1.0 — older than the gateway supports (0.5.0) 1'], 'devices per version, the old one marked')
  await page.selectOption('.agent-update select', '2.0.0')
  await page.click('.agent-update button:has-text("Update agent")')
  await page.waitForSelector('text=Target: 2.0.0')
  t.equal((await http.get(`/api/fleets/${fleet.id}/agent`, { token })).body.target, '2.0.0', 'Update agent set the fleet target')

  await page.goto(`${base}/devices/${old.registration.id}`)
  const warning = page.locator('.agent-outdated')
  await warning.waitFor()
  t.match(await warning.innerText(), /runs agent 0\.1\.0, older than this gateway supports \(0\.5\.0 or newer\)/, 'the device warns that its agent is too old')
  t.match(await page.locator('dd:has-text("(fleet\'s)")').innerText(), /2\.0\.0/, "its target is the fleet's")
  await page.selectOption('.agent-update select', '2.0.0')
  await page.click('.agent-update button:has-text("Update agent")')
  await page.waitForSelector('dd:has-text("(this device)")')
  t.match((await http.get(`/api/devices/${old.registration.id}/agent`, { token })).body, { target: '2.0.0', target_from: 'device', outdated: true })
  await page.goto(`${base}/devices/${current.registration.id}`)
  await page.locator('dd:has-text("2.0.0 (x64)")').waitFor()
  t.equal(await page.locator('.agent-outdated').count(), 0, 'no warning on a current agent')
})
