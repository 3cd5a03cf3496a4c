import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { loadConfig } from '../../server/config/load-config.js'
import { createLogger } from '../../server/logger.js'
import { startServer } from '../../server/main.js'
import { freePort } from '../lib/ports.js'
import { pgliteSeed } from '../lib/database-templates.js'
import { reservePortBlock } from '../lib/port-blocks.js'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

/** Holds a port on 127.0.0.1 so the gateway's listener for it fails. */
async function occupy(t: Teardown, port: number): Promise<void> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
}

/** True when nothing listens on the port any more: binding it ourselves succeeds. */
function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer()
    probe.once('error', () => resolve(false))
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
  })
}

async function failedStart(t: Teardown & { fail(message: string): void }, env: Record<string, string>) {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'edgetainer-start-failure-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const config = loadConfig({
    env: {
      EDGETAINER_DATA_DIR: dataDir,
      EDGETAINER_BIND_ADDRESS: '127.0.0.1',
      EDGETAINER_SSH_PORT_RANGE: reservePortBlock(t, 20000, 100),
      EDGETAINER_TCP_PORT_RANGE: reservePortBlock(t, 30000, 27),
      EDGETAINER_ADMIN_PASSWORD: 'admin-password-for-tests',
      EDGETAINER_LOG_LEVEL: 'silent',
      ...env,
    },
  })
  // From a migrated PGlite: the listeners are what is tested, and initdb costs seconds of CPU.
  return startServer(config, createLogger(config.logLevel), { pgliteDir: 'memory://', pgliteSeed: await pgliteSeed() }).then(
    () => t.fail('the gateway started although a port was taken'),
    (err: Error) => err,
  )
}

t.test('a taken SSH port fails the start and leaves the HTTP listener unbound', async (t) => {
  const [httpPort, sshPort] = [await freePort(), await freePort()]
  await occupy(t, sshPort)
  const err = await failedStart(t, { EDGETAINER_HTTP_PORT: String(httpPort), EDGETAINER_SSH_PORT: String(sshPort) })
  t.match(String(err), /cannot listen for SSH on 127\.0\.0\.1:\d+: the port is in use/, 'the error names the listener and the port')
  t.ok(await isFree(httpPort), 'the HTTP port is free again')
})

t.test('a taken HTTPS port fails the start after HTTP, SSH and TCP services are up, and unbinds them all', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-start-failure-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const cert = path.join(dir, 'gateway.crt')
  const key = path.join(dir, 'gateway.key')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' })
  const [httpPort, sshPort, httpsPort] = [await freePort(), await freePort(), await freePort()]
  await occupy(t, httpsPort)
  const err = await failedStart(t, {
    EDGETAINER_HTTP_PORT: String(httpPort),
    EDGETAINER_SSH_PORT: String(sshPort),
    EDGETAINER_HTTPS_PORT: String(httpsPort),
    EDGETAINER_TLS_CERT: cert,
    EDGETAINER_TLS_KEY: key,
  })
  t.match(String(err), /HTTPS/, 'the error names the HTTPS listener')
  t.ok(await isFree(httpPort), 'the HTTP port is free again')
  t.ok(await isFree(sshPort), 'the SSH port is free again')
})
