import { chromium, type Browser } from 'playwright-core'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

/**
 * Debian's headless Chromium, connected through playwright-core. launchServer, not launch: its
 * handle can kill the process. Chromium now and then never answers Browser.close on a loaded
 * machine (a known Chromium/Playwright hang), and a test must not wait on it until tap's timeout.
 */
export async function launchChromium(t: Teardown): Promise<Browser> {
  const browserServer = await chromium.launchServer({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  t.teardown(async () => {
    const closed = await Promise.race([browserServer.close().then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 10_000))])
    if (!closed) await browserServer.kill()
  })
  return chromium.connect(browserServer.wsEndpoint())
}
