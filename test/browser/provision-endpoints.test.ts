import { existsSync, mkdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { parse as parseYaml } from 'yaml'
import type { IgnitionConfig } from '../../ignition/render-ignition.js'
import { ensureAgentBuilt } from '../lib/agent-build.js'
import { launchChromium } from '../lib/chromium.js'
import { filesOf } from '../lib/ignition-config.js'
import { ADMIN_PASSWORD, startTestGateway } from '../lib/test-gateway.js'
import { repoRoot } from '../lib/repo-root.js'

const root = repoRoot
const screenshots = path.join(root, 'test-artifacts/screenshots')

/**
 * The console shows where a device file sends devices before it is
 * downloaded, and warns inline when that is a loopback address: the default
 * setup (public URL on localhost), which used to hand out such files silently.
 */
t.test('the console shows the endpoints a device file will use, and warns about loopback', async (t) => {
  if (!existsSync(path.join(root, 'dist/web/index.html'))) {
    t.fail('the console is not built: run `npx vite build --config web/vite.config.ts`, then this test')
    return
  }
  mkdirSync(screenshots, { recursive: true })
  const agent = await ensureAgentBuilt()
  const gw = await startTestGateway(t, 'postgres', { start: { agentDir: agent.dir } })
  const base = `http://localhost:${gw.server.httpPort}`
  const fleet = (await gw.http.post('/api/fleets', { name: 'bench' }, { token: gw.adminToken })).body

  const browser = await launchChromium(t)
  const context = await browser.newContext({ acceptDownloads: true })
  context.setDefaultTimeout(15_000)
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(err.message))
  await page.goto(`${base}/login`)
  await page.fill('#f-username', 'admin')
  await page.fill('#f-password', ADMIN_PASSWORD)
  await page.click('button[type=submit]')
  await page.waitForSelector('[data-testid=current-user]')

  await page.goto(`${base}/provisioning`)
  const summary = page.locator('.page [data-testid=provisioning-endpoints]').first()
  await summary.waitFor()
  t.equal(await summary.locator('[data-testid=endpoint-server-url]').innerText(), base, 'the page shows the server URL devices get')
  t.equal(await summary.locator('[data-testid=endpoint-ssh]').innerText(), `localhost:${gw.server.sshPort}`, 'and the SSH endpoint')
  t.match(await summary.locator('[data-testid=loopback-warning]').innerText(), /could not reach this gateway[\s\S]*loopback[\s\S]*Set public_url \(EDGETAINER_PUBLIC_URL\)/, 'with the loopback warning, naming the setting')

  await page.click('.page-actions >> text=New registration token')
  await page.selectOption('#f-fleet_id', { label: fleet.name })
  await page.fill('#f-name', 'Bench')
  await page.click('.modal button[type=submit]')
  const modal = page.locator('[data-testid=token-result]')
  await modal.waitFor()
  const endpoints = modal.locator('[data-testid=provisioning-endpoints]')
  await endpoints.waitFor()
  t.equal(await endpoints.locator('[data-testid=endpoint-server-url]').innerText(), base, 'the modal shows them before the download')
  t.equal(await endpoints.locator('[data-testid=endpoint-ssh]').innerText(), `localhost:${gw.server.sshPort}`)
  t.match(await endpoints.locator('[data-testid=endpoint-agent]').innerText(), /MB · sha512 [0-9a-f]{16}…/, 'and the agent it pins')
  t.equal(await endpoints.getAttribute('data-loopback'), 'true')
  await endpoints.locator('[data-testid=loopback-warning]').waitFor()
  await page.screenshot({ path: path.join(screenshots, 'provisioning-loopback-warning.png') })

  await page.click('.modal a:has-text("Download device.ign")')
  const refusal = page.locator('[data-testid=download-error] .form-error')
  await refusal.waitFor()
  t.match(await refusal.innerText(), /refusing to render this config[\s\S]*public_url/, 'without the override the download is refused, and says why')

  await page.check('[data-testid=allow-loopback]')
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('.modal a:has-text("Download device.ign")')])
  const dir = mkdtempSync(path.join(tmpdir(), 'et-download-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const saved = path.join(dir, download.suggestedFilename())
  await download.saveAs(saved)
  const config = JSON.parse(readFileSync(saved, 'utf8')) as IgnitionConfig
  const agentYaml = parseYaml(filesOf(config).get('/etc/edgetainer/agent.yaml')!.text!)
  t.match(agentYaml, { server_url: base, ssh_host: 'localhost', ssh_port: gw.server.sshPort }, 'with the override, the file holds exactly the endpoints shown')
  t.same(problems, [], 'no script errors')
})
