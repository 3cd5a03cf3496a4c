import t from 'tap'
import { ADMIN_PASSWORD } from '../lib/test-gateway.js'
import { seedFleetAndDevices, signIn, startConsoleSuite, TIMEOUT } from '../lib/console-browser.js'

t.test("the console shell: headers, sign-in, users and tokens, every page, and what a viewer gets", async (t) => {
  const suite = await startConsoleSuite(t, { signedIn: false })
  if (!suite) return
  const { gw, base, admin, browser, page, shot, pageProblems } = suite
  await seedFleetAndDevices(gw)

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

  t.same(pageProblems, [], 'no script errors or CSP refusals in the admin session')

  await t.test('a viewer does not get the users page', async (t) => {
    await gw.tokenFor('viewer', 'vera')
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } })
    context.setDefaultTimeout(TIMEOUT)
    t.teardown(() => context.close())
    const viewer = await context.newPage()
    await signIn(viewer, base, 'vera', 'vera-password-123')
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
