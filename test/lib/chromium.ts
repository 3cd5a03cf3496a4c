import { chromium, type Browser } from 'playwright-core'
import tap from 'tap'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

/** A delay that never keeps the test process alive by itself. */
function unrefDelay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref())
}

/**
 * Debian's headless Chromium, connected through playwright-core. launchServer, not launch: its
 * handle can kill the process. Chromium now and then never answers Browser.close on a loaded
 * machine (a known Chromium/Playwright hang), and a test must not wait on it until tap's timeout:
 * after 10 s the whole process group is killed (Playwright starts Chromium detached, in a group of
 * its own), and nothing of the teardown waits on Chromium after that.
 */
let exitGuarded = false
/**
 * Once every test of the file has ended, the process gets 10 s to exit by itself. Browser files now and
 * then outlived their last test by minutes on the loaded CI machine, with no socket and no child left
 * (a timer of unknown origin), until tap's timeout failed a file whose tests had all passed.
 */
function exitAfterTheLastTest(): void {
  if (exitGuarded) return
  exitGuarded = true
  tap.teardown(() => {
    setTimeout(() => process.exit(process.exitCode ?? 0), 10_000).unref()
  })
}

export async function launchChromium(t: Teardown): Promise<Browser> {
  exitAfterTheLastTest()
  const browserServer = await chromium.launchServer({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  t.teardown(async () => {
    const closed = await Promise.race([browserServer.close().then(() => true, () => false), unrefDelay(10_000, false)])
    if (closed) return
    const pid = browserServer.process().pid
    try {
      if (pid) process.kill(-pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
    await Promise.race([browserServer.kill().catch(() => {}), unrefDelay(5_000, undefined)])
  })
  return chromium.connect(browserServer.wsEndpoint())
}
