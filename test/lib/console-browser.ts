import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import type { StartOptions } from '../../server/main.js'
import { launchChromium } from './chromium.js'
import { ADMIN_PASSWORD, startTestGateway, type TestGateway } from './test-gateway.js'
import { waitFor } from './wait.js'
import { repoRoot } from './repo-root.js'

/**
 * What every console browser suite starts with: a gateway on PGlite, the
 * built console, Debian's Chromium, and an admin signed in through the form.
 * Each page's suite is its own file with its own gateway and browser, so one
 * failure does not cascade into the next page's.
 */
const root = repoRoot
const consoleIndex = path.join(root, 'dist/web/index.html')
export const screenshots = path.join(root, 'test-artifacts/screenshots')
export const TIMEOUT = 15_000

interface Tap {
  fail(message: string): void
  teardown(fn: () => Promise<void> | void): void
}

export interface ConsoleSuite {
  gw: TestGateway
  /** localhost, not 127.0.0.1: the console host is `localhost`, and cookie-authenticated writes must come from it. */
  base: string
  browser: Browser
  admin: BrowserContext
  /** The admin's page, signed in. */
  page: Page
  shot(name: string, p?: Page): Promise<Buffer>
  /** Script errors and CSP refusals seen in any admin page (a 401 or 409 logged by the browser is expected). */
  pageProblems: string[]
}

/** Newest modification time under a directory, to tell a stale console build from a fresh one. */
function newestMtime(dir: string): number {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs)
  }
  return newest
}

/** Fails the test (and returns false) when dist/web is missing or older than web/. */
export function consoleIsBuilt(t: Tap): boolean {
  if (!existsSync(consoleIndex)) {
    t.fail(`the console is not built (${path.relative(root, consoleIndex)} is missing): run \`make build\`, or \`npx vite build --config web/vite.config.ts\`, then this test`)
    return false
  }
  if (newestMtime(path.join(root, 'web')) > statSync(consoleIndex).mtimeMs) {
    t.fail('dist/web is older than web/: rebuild the console (`make build` or `npx vite build --config web/vite.config.ts`) before this test')
    return false
  }
  return true
}

export async function signIn(page: Page, baseUrl: string, username: string, password: string) {
  await page.goto(`${baseUrl}/`)
  await page.waitForURL(/\/login$/)
  await page.fill('#f-username', username)
  await page.fill('#f-password', password)
  await page.click('button[type=submit]')
  await page.waitForSelector('[data-testid=current-user]')
}

/** A short-interval wait for things drawn in the browser. */
export function waitInPage(what: string, check: () => Promise<boolean> | boolean, timeoutMs = TIMEOUT): Promise<true> {
  return waitFor(what, async () => (await check()) || undefined, timeoutMs, 20)
}

/** The xterm screen as text (the DOM renderer draws each row as a div). */
export async function screenText(page: Page): Promise<string> {
  return (await page.locator('.xterm-rows').innerText()).replace(/\u00a0/g, ' ')
}

/** Starts the suite; undefined (after failing `t`) when the console is not built. */
export async function startConsoleSuite(
  t: Tap,
  options: { env?: Record<string, string>; start?: StartOptions; signedIn?: boolean } = {},
): Promise<ConsoleSuite | undefined> {
  if (!consoleIsBuilt(t)) return undefined
  mkdirSync(screenshots, { recursive: true })
  // The terminal logs in to the test sshd, which runs as root here (a Flatcar device's user is `core`).
  // On the embedded database, as `make run` starts it: the console suites are what a new user sees.
  const gw = await startTestGateway(t, 'pglite', { env: { EDGETAINER_TERMINAL_USER: 'root', ...options.env }, start: options.start })
  const base = `http://localhost:${gw.server.httpPort}`
  const browser = await launchChromium(t)
  const admin = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  admin.setDefaultTimeout(TIMEOUT)
  const pageProblems: string[] = []
  admin.on('page', (p) => {
    p.on('pageerror', (err) => pageProblems.push(`${p.url()}: ${err.message}`))
    p.on('console', (m) => m.type() === 'error' && !/Failed to load resource/.test(m.text()) && pageProblems.push(`${p.url()}: ${m.text()}`))
  })
  const page = await admin.newPage()
  if (options.signedIn !== false) await signIn(page, base, 'admin', ADMIN_PASSWORD)
  return { gw, base, browser, admin, page, pageProblems, shot: (name, p = page) => p.screenshot({ path: path.join(screenshots, `${name}.png`) }) }
}

/** The fleet and devices most pages are shown with, made through the API: `north-plant` with pump-7, and valve-3 alone. */
export async function seedFleetAndDevices(gw: TestGateway): Promise<{ fleetId: string; pumpId: string; valveId: string }> {
  const as = { token: gw.adminToken }
  const fleet = await gw.http.post('/api/fleets', { name: 'north-plant', description: 'Pumping stations north of the river' }, as)
  if (fleet.status !== 201) throw new Error(`seeding the fleet failed: ${fleet.status} ${JSON.stringify(fleet.body)}`)
  const pump = await gw.http.post('/api/devices', { name: 'Pump 7', device_id: 'pump-7', fleet_id: fleet.body.id }, as)
  const valve = await gw.http.post('/api/devices', { name: 'Valve 3', device_id: 'valve-3' }, as)
  if (pump.status !== 201 || valve.status !== 201) throw new Error(`seeding devices failed: ${pump.status} ${valve.status}`)
  return { fleetId: fleet.body.id, pumpId: pump.body.id, valveId: valve.body.id }
}
