import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { connects } from './openssh.js'
import { freePort } from './ports.js'
import { waitFor } from './wait.js'

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

/**
 * Debian's HAProxy in HTTP mode on 127.0.0.1, round-robin over `backends`
 * (gateway HTTP ports), as deploy/ puts it in front of several gateway nodes.
 * WebSockets pass once upgraded (`timeout tunnel`). Resolves with its port.
 */
export async function startHaproxy(t: Teardown, backends: number[]): Promise<number> {
  const port = await freePort()
  await runHaproxy(t, [
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout tunnel 60s',
    'frontend web',
    `  bind 127.0.0.1:${port}`,
    '  default_backend gateways',
    'backend gateways',
    '  balance roundrobin',
    ...backends.map((p, i) => `  server node${i} 127.0.0.1:${p}`),
  ], port)
  return port
}

/**
 * Debian's HAProxy passing TCP through, as deploy/haproxy.cfg does for SSH and HTTPS: one frontend
 * per backend port, each saying who the client is with a PROXY header (`send-proxy` is v1, `send-proxy-v2`).
 * Resolves with the frontend ports, in order.
 */
export async function startTcpHaproxy(t: Teardown, backends: { port: number; proxy: 'send-proxy' | 'send-proxy-v2' }[]): Promise<number[]> {
  const ports: number[] = []
  for (const _ of backends) ports.push(await freePort())
  await runHaproxy(t, [
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
    ...backends.flatMap((b, i) => [`listen tcp${i}`, `  bind 127.0.0.1:${ports[i]}`, `  server gateway 127.0.0.1:${b.port} ${b.proxy}`]),
  ], ports[0]!)
  return ports
}

async function runHaproxy(t: Teardown, sections: string[], readyPort: number): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-haproxy-'))
  const config = ['global', '  maxconn 512', ...sections]
  const file = path.join(dir, 'haproxy.cfg')
  writeFileSync(file, config.join('\n') + '\n')
  // -db: stay in the foreground, so the test owns (and kills) the process.
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (d) => (stderr += d))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => {
    child.kill('SIGKILL')
    await exited
  })
  await waitFor(`haproxy on ${readyPort}`, () => connects(readyPort), 20_000).catch((err: Error) => {
    throw new Error(`${err.message}: ${stderr.trim()}`)
  })
}
