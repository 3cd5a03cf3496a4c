/**
 * Keystroke-to-echo latency of the web terminal (browser WebSocket → gateway →
 * tunnel → device sshd PTY → back), against a direct SSH session to the same
 * sshd from the same machine. Prints p50/p99 for both and the p99 ratio
 * (target ≤ 1.2).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { readFileSync } from 'node:fs'
import ssh2, { type ClientChannel } from 'ssh2'
import { WebSocket } from 'ws'
import { loadConfig } from '../../server/config/load-config.js'
import { createLogger } from '../../server/logger.js'
import { startServer } from '../../server/main.js'
import { newKeyPair, writeKeyPair } from '../../test/lib/keys.js'
import { startOpenSshDevice, startTestSshd, waitFor } from '../../test/lib/openssh.js'

const SAMPLES = Number(process.env.BENCH_TERMINAL_SAMPLES ?? 400)
const teardowns: (() => unknown)[] = []
const scope = { teardown: (fn: () => unknown) => void teardowns.push(fn) }

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
}

/** Types one printable key at a time and times until the PTY's echo of it comes back. */
async function measure(write: (b: Buffer) => void, onData: (listener: (chunk: Buffer) => void) => void): Promise<number[]> {
  let waiting: { byte: number; resolve: () => void } | undefined
  onData((chunk) => {
    if (waiting && chunk.includes(waiting.byte)) {
      const w = waiting
      waiting = undefined
      w.resolve()
    }
  })
  const times: number[] = []
  const keys = 'abcdefghijklmnopqrstuvwxyz'
  for (let i = 0; i < SAMPLES + 20; i++) {
    const byte = keys.charCodeAt(i % keys.length)
    const start = process.hrtime.bigint()
    await new Promise<void>((resolve) => {
      waiting = { byte, resolve }
      write(Buffer.from([byte]))
    })
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (i >= 20) times.push(ms) // the first keystrokes warm the path
    if (i % 60 === 59) write(Buffer.from([0x15])) // ^U clears the line now and then
    await new Promise((r) => setTimeout(r, 2))
  }
  return times.sort((a, b) => a - b)
}

async function main() {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'edgetainer-bench-term-'))
  teardowns.push(() => rmSync(dataDir, { recursive: true, force: true }))
  const config = loadConfig({
    env: {
      EDGETAINER_DATA_DIR: dataDir,
      EDGETAINER_HTTP_PORT: '0',
      EDGETAINER_SSH_PORT: '0',
      EDGETAINER_BIND_ADDRESS: '127.0.0.1',
      EDGETAINER_ADMIN_PASSWORD: 'bench-admin-password',
      EDGETAINER_LOG_LEVEL: 'silent',
      EDGETAINER_TERMINAL_USER: 'root',
      EDGETAINER_SSH_PORT_RANGE: '29000-29099',
    },
  })
  const server = await startServer(config, createLogger('silent'), { pgliteDir: 'memory://' })
  teardowns.push(() => server.close())
  const base = `http://127.0.0.1:${server.httpPort}`
  const token = (await (await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'bench-admin-password' }) })).json()).token as string
  const terminalKey = readFileSync(path.join(dataDir, 'terminal_ed25519_key.pub'), 'utf8').trim()
  const sshd = await startTestSshd(scope, [terminalKey])
  const key = newKeyPair('bench-term')
  await fetch(`${base}/api/devices`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ name: 'bench', device_id: 'bench-term', public_key: key.publicKey }) })
  startOpenSshDevice(scope, { gatewayPort: server.sshPort, gatewayHostKey: server.hostPublicKey, deviceId: 'bench-term', keyFile: writeKeyPair(key), forwards: [`0:localhost:${sshd.port}`] })
  await waitFor('device online', () => server.tunnels.size === 1 && server.tunnels.get((server.tunnels.sessions().next().value as { device: { id: string } }).device.id)?.forwards().length === 1)

  // Through the gateway: the console's WebSocket, exactly as the browser uses it.
  const ws = new WebSocket(`ws://127.0.0.1:${server.httpPort}/api/devices/bench-term/terminal`, { headers: { host: 'localhost', origin: 'http://localhost', cookie: `edgetainer_session=${token}` } })
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)))
  teardowns.push(() => ws.terminate())
  let wsOutput = ''
  ws.on('message', (d, binary) => binary && (wsOutput += String(d)))
  ws.send(Buffer.from('echo ready-$((1+1))\n'), { binary: true })
  await waitFor('gateway shell ready', () => wsOutput.includes('ready-2'))
  const viaGateway = await measure(
    (b) => ws.send(b, { binary: true }),
    (listener) => ws.on('message', (d, binary) => binary && listener(Buffer.from(d as Buffer))),
  )

  // Direct: an SSH client straight to the same sshd, with a PTY.
  const client = new ssh2.Client()
  await new Promise<void>((resolve, reject) => {
    client.once('ready', resolve).once('error', reject)
    client.connect({ host: '127.0.0.1', port: sshd.port, username: 'root', privateKey: readFileSync(sshd.clientKeyFile, 'utf8'), hostVerifier: () => true })
  })
  teardowns.push(() => client.end())
  const shell = await new Promise<ClientChannel>((resolve, reject) => client.shell({ term: 'xterm-256color', cols: 80, rows: 24 }, (err, ch) => (err ? reject(err) : resolve(ch))))
  let directOutput = ''
  shell.on('data', (d: Buffer) => (directOutput += String(d)))
  shell.write('echo ready-$((1+1))\n')
  await waitFor('direct shell ready', () => directOutput.includes('ready-2'))
  const direct = await measure((b) => shell.write(b), (listener) => shell.on('data', listener))

  const row = (name: string, s: number[]) => `  ${name.padEnd(16)} p50 ${percentile(s, 50).toFixed(2).padStart(6)} ms   p99 ${percentile(s, 99).toFixed(2).padStart(6)} ms   (${s.length} keystrokes)`
  console.log('== terminal keystroke → echo latency')
  console.log(row('via gateway', viaGateway))
  console.log(row('direct ssh', direct))
  const ratio99 = percentile(viaGateway, 99) / percentile(direct, 99)
  const ratio50 = percentile(viaGateway, 50) / percentile(direct, 50)
  console.log(`  ratio gateway/direct: p50 ${ratio50.toFixed(2)}   p99 ${ratio99.toFixed(2)}   (target p99 ≤ 1.20)`)
}

main()
  .catch((err) => {
    console.error('terminal benchmark failed:', err)
    process.exitCode = 1
  })
  .finally(async () => {
    for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch(() => {})
    // Children (sshd, ssh) are killed by their teardowns; nothing else should hold the process.
    setTimeout(() => process.exit(), 500).unref()
  })
