import t from 'tap'
import path from 'node:path'
import { screenshots, startConsoleSuite, waitInPage } from '../lib/console-browser.js'
import { driveAgents, startSimulatedAgent, type Outcome, type SimulatedAgent } from '../lib/simulated-agent.js'

/**
 * The rollout console in a real browser against a real gateway and four
 * simulated agents (the real agent protocol over real SSH tunnels, no
 * docker): the wizard with its selector preview creates a canary rollout,
 * the progress view follows the agents' phases without a reload, a crashing
 * device pauses the rollout and turns "needs attention" red on the dashboard
 * and its device page, and retrying it completes the rollout. The engine
 * ticks every 100 ms and the soak is 3 s, so each phase is on screen long
 * enough for the page's poll to show it.
 */
t.test('rollouts in the console: wizard, live progress, needs attention, history', async (t) => {
  const suite = await startConsoleSuite(t, { start: { agentHeartbeatSeconds: 1, rolloutTickMs: 100, agentRateLimit: { points: 100_000 } } })
  if (!suite) return
  const { gw, base, page, shot, pageProblems } = suite
  const { http, adminToken: token } = gw
  const as = { token }

  const fleet = (await http.post('/api/fleets', { name: 'shops' }, as)).body
  const north = (await http.post('/api/provision/tokens', { fleet_id: fleet.id, max_uses: 3, labels: { site: 'north' } }, as)).body
  const south = (await http.post('/api/provision/tokens', { fleet_id: fleet.id, max_uses: 1, labels: { site: 'south' } }, as)).body
  const fate = new Map<string, Outcome>()
  const agents: SimulatedAgent[] = await Promise.all(
    [north, north, north, south].map((tok) =>
      startSimulatedAgent({ http, token: tok.token, sshPort: gw.server.sshPort, hostPublicKey: gw.server.hostPublicKey, outcome: (_v, d) => fate.get(d) ?? 'ok' }),
    ),
  )
  t.teardown(() => agents.forEach((a) => a.disconnect()))
  const northIds = agents.slice(0, 3).map((a) => a.device_id).sort()
  const southId = agents[3]!.device_id
  // Waves take devices in device_id order: the first north device is the canary; the last one crashes.
  const [canary, , crasher] = northIds as [string, string, string]
  fate.set(crasher, 'crash')
  const crasherUuid = agents.find((a) => a.device_id === crasher)!.id

  const sw = (await http.post('/api/software', { name: 'app', docker_compose_yaml: 'services:\n  web:\n    image: app:1\n', version: 'v1' }, as)).body
  t.equal((await http.put(`/api/software/${sw.id}`, { docker_compose_yaml: 'services:\n  web:\n    image: app:2\n', version: 'v2' }, as)).status, 200)
  let rolloutId = ''
  let driver: { stop(): Promise<void> } | undefined
  t.teardown(() => driver?.stop())

  await t.test('the wizard, from the version row: a selector preview of the matching devices, then a canary rollout', async (t) => {
    await page.goto(`${base}/software/${sw.id}/versions`)
    await page.click('[data-rollout-version=v2]')
    await page.waitForSelector('[data-testid=rollout-wizard]')
    t.equal(await page.inputValue('#f-version'), 'v2', 'the version row chose the version')
    t.equal(await page.inputValue('#f-software_id'), sw.id, 'and the software')
    await page.selectOption('#f-fleet_id', fleet.id)
    await page.waitForSelector('[data-testid=selector-preview][data-matched="4"]')
    t.pass('with no selector, every device of the fleet matches')

    await page.fill('#f-selector', 'site in north')
    const selectorError = page.locator('.field[data-field=selector] .field-error')
    await selectorError.waitFor()
    t.match(await selectorError.innerText(), /expected "\(" after in/, 'a malformed selector is explained next to the box')

    await page.fill('#f-selector', 'site=north')
    await page.waitForSelector('[data-testid=selector-preview][data-matched="3"]')
    const previewed = await page.locator('[data-preview-device]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-preview-device')))
    t.same(previewed.sort(), northIds, 'the preview lists exactly the north devices')
    t.notOk(previewed.includes(southId), 'not the south one')
    t.equal(await page.inputValue('#f-canary_percent'), '10', 'the documented defaults are prefilled')
    t.equal(await page.inputValue('#f-error_threshold_percent'), '20')
    t.equal(await page.inputValue('#f-soak_seconds'), '60')
    t.equal(await page.inputValue('#f-failure_action'), 'pause')
    t.match(await page.locator('[data-testid=wave-plan]').innerText(), /2 waves: 1, 2 devices/, 'the wave plan: a canary of one, then the rest')
    await page.fill('#f-soak_seconds', '3')
    await page.screenshot({ path: path.join(screenshots, 'rollout-wizard.png'), fullPage: true })

    await page.click('[data-testid=create-start]')
    await page.waitForURL(/\/rollouts\/[0-9a-f-]{36}$/)
    rolloutId = page.url().split('/').pop()!
    const created = (await http.get(`/api/rollouts/${rolloutId}`, as)).body
    t.match(created, { strategy: 'canary', selector: 'site=north', version: 'v2', status: 'running' }, 'the wizard created a running canary rollout')
    t.same(created.waves.map((w: { size: number }) => w.size), [1, 2])
    t.equal(created.settings.soak_seconds, 3)
  })

  await t.test('the progress view follows the agents live, and a crash pauses the rollout', async (t) => {
    await page.evaluate(() => ((window as unknown as { marker: string }).marker = 'same page'))
    const row = (device: string) => page.locator(`[data-testid=rollout-devices] tr[data-device="${device}"]`)
    await page.waitForSelector(`[data-testid=rollout-devices] tr[data-device="${canary}"][data-state=pending]`)
    t.match(await row(canary).innerText(), /sent to the device; waiting for it to start/, 'the canary waits for its agent, in words')
    t.equal(await page.locator('[data-wave="1"]').getAttribute('data-wave-status'), 'waiting', 'the second wave waits')
    await shot('rollout-progress-pending')

    // One round of the agents: the canary installs v2 and reports running; its soak starts.
    await Promise.all(agents.map((a) => a.step()))
    await page.waitForSelector(`[data-testid=rollout-devices] tr[data-device="${canary}"][data-state=verifying]`)
    t.pass('the canary shows verifying while it soaks')
    await shot('rollout-progress-verifying')

    driver = driveAgents(() => agents)
    await page.waitForSelector(`[data-testid=rollout-devices] tr[data-device="${canary}"][data-state=succeeded]`)
    await page.waitForSelector('[data-testid=rollout-page][data-rollout-status=paused]', { timeout: 25_000 })
    t.match(await row(crasher).innerText(), /failed[\s\S]*container web exited with code 1/, "the crashed device's reason, in words")
    t.match(await page.locator('[data-testid=rollout-reason]').innerText(), /1 of 3 devices failed \(33% > the 20% threshold\): paused automatically/)
    const ops = await page.locator('[data-testid=rollout-controls] button').evaluateAll((b) => b.map((x) => x.getAttribute('data-op')))
    t.same(ops, ['resume', 'retry', 'cancel', 'rollback'], 'a paused rollout offers resume, retry, cancel and roll back; not start or pause')
    t.equal(await page.evaluate(() => (window as unknown as { marker?: string }).marker), 'same page', 'no reload happened')
    await shot('rollout-progress-paused')
  })

  await t.test('the failed device turns "needs attention" red and shows its reason on its page', async (t) => {
    await page.click('[data-nav=Dashboard]')
    const stat = page.locator('[data-stat="Needs attention"]')
    await waitInPage('needs attention to count the failed device', async () => (await stat.locator('.stat-value').innerText()) === '1')
    t.match(await stat.getAttribute('class'), /tone-red/, 'the dashboard tile is red')
    t.equal((await http.get(`/api/fleets/${fleet.id}`, as)).body.attention_count, 1, 'its fleet counts it too')
    await shot('rollout-dashboard-attention')

    await page.goto(`${base}/devices/${crasherUuid}`)
    const alert = page.locator('[data-testid=device-attention]')
    await alert.waitFor()
    t.match(await alert.innerText(), /the rollout of app v2 failed here: container web exited with code 1/, 'the device page says why')
    await shot('rollout-device-attention')
  })

  await t.test('retry the failed device from the progress view; history on the fleet and software pages', async (t) => {
    fate.set(crasher, 'ok')
    await page.goto(`${base}/rollouts/${rolloutId}`)
    await page.click('[data-testid=rollout-controls] button[data-op=retry]')
    await page.waitForSelector('.toast >> text=Failed devices are being retried')
    await page.waitForSelector('[data-testid=rollout-page][data-rollout-status=completed]', { timeout: 25_000 })
    t.match(await page.locator('[data-testid=rollout-progress]').innerText(), /3 of 3 succeeded/)
    t.equal((await http.get('/api/devices?attention=1', as)).body.total, 0, 'the retried device no longer needs attention')
    t.same(await page.locator('[data-testid=rollout-controls] button').evaluateAll((b) => b.map((x) => x.getAttribute('data-op'))), ['rollback'], 'a completed rollout can only be rolled back')
    await shot('rollout-progress-completed')

    await page.goto(`${base}/fleets/${fleet.id}/rollouts`)
    const historyRow = page.locator(`[data-testid=rollout-history] tr[data-rollout="${rolloutId}"]`)
    await historyRow.waitFor()
    t.match(await historyRow.innerText(), /app v2[\s\S]*completed[\s\S]*3 of 3 succeeded/, 'the fleet page lists the rollout with its state and progress')
    await shot('rollout-fleet-history')
    await page.goto(`${base}/software/${sw.id}/rollouts`)
    await historyRow.waitFor()
    t.match(await historyRow.innerText(), /Version v2[\s\S]*shops[\s\S]*completed/, 'so does the software page')
    await historyRow.locator('a.strong').click()
    await page.waitForURL(new RegExp(`/rollouts/${rolloutId}$`))

    await page.goto(`${base}/activity?type=rollout`)
    await page.waitForSelector('table >> text=retried the failed devices of the rollout')
    t.match(await page.locator('table').innerText(), new RegExp(`created the rollout ${rolloutId.slice(0, 8)} of version v2 \\(canary\\)`), 'audit rows read as sentences')
  })

  t.same(pageProblems, [], 'no script errors in the admin session')
})
