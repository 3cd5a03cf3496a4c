import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import https from 'node:https'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { acceptsConnections, freePort } from './ports.js'
import { waitFor } from './wait.js'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface Pebble {
  /** ACME directory URL (EDGETAINER_ACME_DIRECTORY). */
  directoryUrl: string
  /** The certificate of Pebble's own HTTPS listener (EDGETAINER_ACME_CA). */
  caFile: string
  /** Where Pebble connects for HTTP-01: the gateway's HTTP port must be this one. */
  httpPort: number
  /** Where Pebble connects for TLS-ALPN-01: the gateway's HTTPS port must be this one. */
  tlsPort: number
  /** pebble-challtestsrv's management API (fake DNS: set-txt, add-a, ...). */
  dnsManagementUrl: string
  /** The root that signs what Pebble issues; a fresh one per Pebble process. */
  rootPem(): Promise<string>
  /** Orders Pebble has accepted so far, read from its own log. */
  orderCount(): number
  /** Pebble's log so far (validation details, for assertions about challenge types). */
  log(): string
  /** POSTs a JSON body to challtestsrv's management API. */
  dns(pathname: string, body: unknown): Promise<void>
}

function waitForLine(child: ChildProcess, output: () => string, pattern: RegExp, what: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`${what} did not start within ${timeoutMs} ms:\n${output()}`)), timeoutMs)
    const check = () => {
      if (pattern.test(output())) finish()
    }
    const onExit = (code: number | null) => finish(new Error(`${what} exited (${code}) before it was ready:\n${output()}`))
    function finish(err?: Error) {
      clearTimeout(timer)
      child.stdout?.off('data', check)
      child.stderr?.off('data', check)
      child.off('exit', onExit)
      if (err) reject(err)
      else resolve()
    }
    child.stdout?.on('data', check)
    child.stderr?.on('data', check)
    child.once('exit', onExit)
    check()
  })
}

function startProcess(t: Teardown, command: string, args: string[], env: Record<string, string>, cwd: string) {
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d))
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d))
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill('SIGTERM')
      }),
  )
  return { child, output: () => output }
}

/**
 * Starts Debian's pebble-challtestsrv (fake DNS answering 127.0.0.1 for every
 * name) and pebble against it, on free ports, and stops both at teardown.
 * Validations are real: Pebble connects back to `httpPort` / `tlsPort`.
 */
export async function startPebble(t: Teardown, options: { validitySeconds?: number } = {}): Promise<Pebble> {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgetainer-pebble-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  // Pebble ships no certificate for its own listener.
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=pebble', '-keyout', 'key.pem', '-out', 'cert.pem', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    { cwd: dir, stdio: 'ignore' },
  )
  const ports = await Promise.all(Array.from({ length: 6 }, () => freePort()))
  const [acmePort, managementPort, httpPort, tlsPort, dnsPort, dnsManagementPort] = ports as [number, number, number, number, number, number]
  writeFileSync(
    path.join(dir, 'pebble-config.json'),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: 'cert.pem',
        privateKey: 'key.pem',
        httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
        ...(options.validitySeconds ? { certificateValidityPeriod: options.validitySeconds } : {}),
      },
    }),
  )

  const dns = startProcess(
    t,
    'pebble-challtestsrv',
    ['-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${dnsManagementPort}`, '-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''],
    {},
    dir,
  )
  await waitForLine(dns.child, dns.output, /Starting challenge servers/, 'pebble-challtestsrv')
  // Every order validates for real: no authorization reuse, no always-valid shortcut.
  const pebble = startProcess(t, 'pebble', ['-config', 'pebble-config.json', '-dnsserver', `127.0.0.1:${dnsPort}`], { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' }, dir)
  await waitForLine(pebble.child, pebble.output, /ACME directory available at/, 'pebble')
  // Pebble logs that line before its listeners are bound (the management one starts in a goroutine of its own).
  for (const [port, what] of [[acmePort, 'ACME'], [managementPort, 'management']] as const) {
    await waitFor(`Pebble's ${what} listener on port ${port}`, () => acceptsConnections(port))
  }

  const caFile = path.join(dir, 'cert.pem')
  const ca = readFileSync(caFile, 'utf8')
  let root: Promise<string> | undefined
  const dnsManagementUrl = `http://127.0.0.1:${dnsManagementPort}`

  return {
    directoryUrl: `https://127.0.0.1:${acmePort}/dir`,
    caFile,
    httpPort,
    tlsPort,
    dnsManagementUrl,
    rootPem() {
      root ??= new Promise((resolve, reject) => {
        https
          .get(`https://127.0.0.1:${managementPort}/roots/0`, { ca }, (res) => {
            let body = ''
            res.setEncoding('utf8').on('data', (d: string) => (body += d))
            res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`roots/0 answered ${res.statusCode}`))))
          })
          .on('error', reject)
      })
      return root
    },
    orderCount: () => (pebble.output().match(/Added order /g) ?? []).length,
    log: pebble.output,
    async dns(pathname, body) {
      const res = await fetch(`${dnsManagementUrl}${pathname}`, { method: 'POST', body: JSON.stringify(body) })
      if (!res.ok) throw new Error(`challtestsrv ${pathname} answered ${res.status}`)
    },
  }
}
