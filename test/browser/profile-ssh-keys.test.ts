import { existsSync, mkdirSync, statSync, readdirSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { startTestGateway } from '../lib/test-gateway.js'
import { launchChromium } from '../lib/chromium.js'
import { newKeyPair } from '../lib/keys.js'
import { repoRoot } from '../lib/repo-root.js'

// The profile page in a real browser: an operator adds an SSH key, sees the fingerprint ssh-keygen would print, and deletes it.
const root = repoRoot
const consoleIndex = path.join(root, 'dist/web/index.html')
const screenshots = path.join(root, 'test-artifacts/screenshots')

function newestMtime(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs)
  }
  return newest
}

t.test('the profile page manages the signed-in user’s SSH keys', async (t) => {
  if (!existsSync(consoleIndex) || newestMtime(path.join(root, 'web')) > statSync(consoleIndex).mtimeMs) {
    t.fail('dist/web is missing or older than web/: run `npx vite build --config web/vite.config.ts` before this test')
    return
  }
  mkdirSync(screenshots, { recursive: true })
  const gw = await startTestGateway(t, 'postgres')
  const password = 'olga-password-123'
  t.equal((await gw.http.post('/api/users', { username: 'olga', password, role: 'operator' }, { token: gw.adminToken })).status, 201)
  const base = `http://localhost:${gw.server.httpPort}`
  const browser = await launchChromium(t)
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  context.setDefaultTimeout(15_000)
  const page = await context.newPage()
  const problems: string[] = []
  page.on('pageerror', (err) => problems.push(err.message))

  await page.goto(`${base}/`)
  await page.waitForURL(/\/login$/)
  await page.fill('#f-username', 'olga')
  await page.fill('#f-password', password)
  await page.click('button[type=submit]')
  await page.waitForSelector('[data-testid=current-user]')
  await page.click('a.user-meta')
  await page.waitForURL(/\/profile$/)
  await page.getByText('No SSH keys').waitFor()
  t.match(await page.locator('main').innerText(), /ssh -J u:olga@localhost/, 'the page shows the u:<username> login')

  await page.getByRole('button', { name: 'Add key' }).click()
  await page.fill('#f-public_key', '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----')
  await page.locator('form button[type=submit]').click()
  await page.getByText(/this is a private key/i).waitFor()
  t.pass('a private key is refused with a clear message in the form')

  const key = newKeyPair('olga@laptop')
  await page.fill('#f-public_key', key.publicKey)
  await page.locator('form button[type=submit]').click()
  const table = page.locator('[data-testid=ssh-keys-table]')
  await table.waitFor()
  const listed = (await gw.http.get('/api/users/me/ssh-keys', { token: (await gw.http.post('/api/auth/login', { username: 'olga', password })).body.token })).body.items
  t.equal(listed.length, 1)
  t.match(await table.innerText(), listed[0].fingerprint, 'the fingerprint is shown')
  t.match(await table.innerText(), /olga@laptop/, 'named after the key comment')
  await page.screenshot({ path: path.join(screenshots, 'profile-ssh-keys.png'), fullPage: true })

  await table.getByRole('button', { name: 'Delete' }).click()
  await page.locator('.modal-backdrop').getByRole('button', { name: 'Delete' }).click()
  await page.getByText('No SSH keys').waitFor()
  t.pass('deleted')
  t.same(problems, [], 'no script errors')
})
