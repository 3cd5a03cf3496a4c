import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import type { Page } from 'playwright-core'
import { launchChromium } from '../lib/chromium.js'
import { createRepoRoot, createTestRepo } from '../lib/git-repo.js'
import { startGitHttpServer } from '../lib/git-http-server.js'
import { ADMIN_PASSWORD, startTestGateway } from '../lib/test-gateway.js'
import { repoRoot } from '../lib/repo-root.js'

const root = repoRoot
const consoleIndex = path.join(root, 'dist/web/index.html')
const screenshots = path.join(root, 'test-artifacts/screenshots')
const TIMEOUT = 15_000
const TOKEN = 'browser-git-token-77'
const compose = (image: string) => `services:\n  web:\n    image: ${image}\n`

t.test('git software in the console: create it, see its sync status, versions link to their commits', async (t) => {
  if (!existsSync(consoleIndex)) {
    t.fail('the console is not built: run `npx vite build --config web/vite.config.ts` first')
    return
  }
  mkdirSync(screenshots, { recursive: true })
  const repos = createRepoRoot(t)
  const repo = createTestRepo(repos, 'console-stack')
  const first = repo.push({ 'compose.yaml': compose('nginx:1.27') }, 'Initial stack')
  const git = await startGitHttpServer(t, { root: repos, token: TOKEN })
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_GIT_ALLOW_INSECURE_TRANSPORTS: 'true', EDGETAINER_GIT_MIN_POLL_SECONDS: '1', EDGETAINER_GIT_POLL_CHECK_SECONDS: '0.2' } })
  const base = `http://localhost:${gw.server.httpPort}`
  const browser = await launchChromium(t)
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } })
  context.setDefaultTimeout(TIMEOUT)
  const page: Page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(err.message))
  const shot = (name: string) => page.screenshot({ path: path.join(screenshots, `${name}.png`), fullPage: true })

  await page.goto(`${base}/`)
  await page.waitForURL(/\/login$/)
  await page.fill('#f-username', 'admin')
  await page.fill('#f-password', ADMIN_PASSWORD)
  await page.click('button[type=submit]')
  await page.waitForSelector('[data-testid=current-user]')

  await page.click('[data-nav=Software]')
  await page.click('.page-actions >> text=New software')
  await page.fill('#f-name', 'from-git')
  await page.click('.segmented >> text=Git repository')
  await page.fill('#f-repo_url', `${git.url}/console-stack.git`)
  await page.fill('#f-git_ref', 'main')
  await page.fill('#f-git_token', TOKEN)
  await page.fill('#f-poll_interval_seconds', '60')
  await shot('git-software-form')
  await page.click('.modal button[type=submit]')
  await page.waitForSelector('h1:has-text("from-git")')

  // The new source is due at once: the poller imports it; the page shows it after "Sync now" reloads it.
  const second = repo.push({ 'compose.yaml': compose('nginx:1.28') }, 'Bump nginx to 1.28')
  await page.click('button:has-text("Sync now")')
  const status = page.locator('[data-testid=git-sync-status]')
  await page.waitForSelector('[data-testid=git-sync-status] >> text=ok')
  t.match(await status.innerText(), /ok/, 'the sync status is ok')
  t.notMatch(await page.locator('[data-testid=git-last-sync]').innerText(), /never/, 'the last sync is shown')
  t.match(await page.locator('[data-testid=git-next-poll]').innerText(), /\d/, 'the next poll is a date')
  t.match(await page.locator('[data-testid=git-webhook]').innerText(), new RegExp(`/api/webhooks/git/`), 'the webhook URL is shown')
  await page.click('button:has-text("Generate webhook secret")')
  await page.waitForSelector('[data-testid=git-webhook-secret]')
  t.ok((await page.locator('[data-testid=git-webhook-secret]').innerText()).length >= 16, 'a new secret is shown once')
  await page.waitForSelector('pre.code >> text=nginx:1.28')
  await shot('git-software-status')

  await page.click('.tabs >> text=Versions')
  const links = page.locator('[data-testid=version-commit] a')
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=version-commit] a').length >= 1)
  const hrefs = await links.evaluateAll((as) => as.map((a) => (a as HTMLAnchorElement).href))
  t.ok(hrefs.includes(`${git.url}/console-stack/commit/${second}`), 'the newest version links to its commit')
  const texts = await page.locator('[data-testid=version-commit]').allInnerTexts()
  t.match(texts.join('\n'), /Bump nginx to 1\.28/, 'with its message')
  if (hrefs.length > 1) t.ok(hrefs.includes(`${git.url}/console-stack/commit/${first}`), 'and the first one to its own')
  await shot('git-software-versions')

  // A failing sync shows its error on the page.
  repo.push({ 'compose.yaml': null, 'README.md': 'gone\n' }, 'Remove the compose file')
  await page.click('.tabs >> text=Compose')
  await page.click('button:has-text("Sync now")')
  await page.waitForSelector('[data-testid=git-last-error]')
  t.match(await page.locator('[data-testid=git-last-error]').innerText(), /no compose file in commit/, 'the last error is shown')
  await shot('git-software-error')
  t.same(problems, [], 'no script errors')
})
