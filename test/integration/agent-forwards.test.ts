import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import t from 'tap'
import type { ClientChannel } from 'ssh2'
import { createAgentLogger } from '../../agent/agent-logger.js'
import { createContainers, MANAGED_LABEL } from '../../agent/docker/containers.js'
import { createDockerCli } from '../../agent/docker/docker-cli.js'
import { createContainerWatch } from '../../agent/status/container-watch.js'
import { createForwards } from '../../agent/tunnel/forwards.js'
import type { TunnelConnection } from '../../agent/tunnel/tunnel-client.js'
import { ensureTestImage } from '../lib/docker-image.js'
import { freePort } from '../lib/ports.js'

const quiet = createAgentLogger('warn', new Writable({ write: (_c, _e, done) => done() }))

/** One HTTP/1.0 exchange over a forwarded channel; '' when the agent closed the channel instead. */
async function fetchThrough(onChannel: ReturnType<typeof createForwards>['onChannel'], service: string, port: number): Promise<string> {
  // The channel the gateway would open is a real socket pair here: the agent's side is handed to onChannel.
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const agentSide = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1')
  const channel = await agentSide
  server.close()
  onChannel({ destIP: service, destPort: port, srcIP: '127.0.0.1', srcPort: 1 }, () => channel as unknown as ClientChannel, () => channel.destroy())
  // Not end(): the channel would close with the client's half, before the answer. httpd closes after it.
  client.write('GET /index.html HTTP/1.0\r\n\r\n')
  let body = ''
  client.setEncoding('utf8').on('data', (d: string) => (body += d))
  await new Promise((resolve) => client.on('close', resolve))
  return body
}

/**
 * The machine's dockerd behind a unix socket of the test's own, which records the path of every Engine
 * API request that passes (requests start their chunk: the agent sends each in one write).
 */
async function recordingDockerd(t: { teardown(fn: () => void): void }, dir: string) {
  const socket = path.join(dir, 'd.sock')
  const requests: string[] = []
  const server = net.createServer((agentSide) => {
    const dockerd = net.connect('/var/run/docker.sock')
    agentSide.on('data', (d: Buffer) => {
      for (const m of d.toString('latin1').matchAll(/^([A-Z]+) (\S+) HTTP\/1\.1\r\n/gm)) requests.push(`${m[1]} ${m[2]!.split('?')[0]}`)
    })
    agentSide.pipe(dockerd).pipe(agentSide)
    agentSide.on('error', () => dockerd.destroy())
    dockerd.on('error', () => agentSide.destroy())
  })
  await new Promise<void>((resolve) => server.listen(socket, resolve))
  t.teardown(() => server.close())
  return { host: `unix://${socket}`, requests }
}

/**
 * A connection to an exposed service goes to the container the watch last saw, without asking docker
 * (a process start or an API request per connection, before); docker is asked when that container
 * refuses. Real dockerd (behind a recording socket), a real busybox httpd, a docker CLI that logs each
 * command it runs.
 */
t.test('service connections use the containers the watch saw; docker only when that is out of date', async (t) => {
  const image = ensureTestImage()
  const owner = randomUUID()
  const port = await freePort()
  const dir = mkdtempSync(path.join(tmpdir(), 'et-forwards-'))
  const created: string[] = []
  t.teardown(() => {
    if (created.length) execFileSync('docker', ['rm', '-f', ...created], { stdio: 'ignore' })
    rmSync(dir, { recursive: true, force: true })
  })
  const calls = path.join(dir, 'calls')
  writeFileSync(calls, '')
  const wrapper = path.join(dir, 'docker')
  writeFileSync(wrapper, `#!/bin/sh\necho "$1" >> ${calls}\nexec docker "$@"\n`)
  chmodSync(wrapper, 0o755)
  const dockerCalls = () => readFileSync(calls, 'utf8').split('\n').filter(Boolean)

  const labels = [`${MANAGED_LABEL}=${owner}`, 'com.docker.compose.project=et-forwards', 'com.docker.compose.service=web']
  const id = execFileSync('docker', ['run', '-d', ...labels.flatMap((l) => ['--label', l]), '--network', 'host', image, 'sh', '-c', `echo hello > /www/index.html; exec httpd -f -p 127.0.0.1:${port} -h /www`], { encoding: 'utf8' }).trim()
  created.push(id)

  const dockerd = await recordingDockerd(t, dir)
  const docker = createDockerCli({ configured: `${wrapper} compose`, host: dockerd.host, logger: quiet })
  const containers = createContainers({ docker, owner })
  const watch = createContainerWatch({ containers, report: () => {} })
  const forwards = createForwards({ sshdAddress: '127.0.0.1:22', containers, known: () => watch.fresh(), control: { handle: (c) => c.destroy() }, logger: quiet })
  const connection = { forwardIn: async () => 0, unforwardIn: async () => {} } as unknown as TunnelConnection
  await forwards.setServices(connection, [{ name: 'web', container_name: 'web', internal_port: port }] as never)

  // httpd may take a moment to listen after its container starts.
  let first = ''
  for (let i = 0; i < 100 && !first.includes('hello'); i++) {
    await watch.check()
    first = await fetchThrough(forwards.onChannel, 'web', port)
  }
  t.match(first, /^HTTP\/1\.[01] 200[\s\S]*hello/, 'the service answers through the forward')

  const before = dockerd.requests.length
  for (let i = 0; i < 3; i++) t.match(await fetchThrough(forwards.onChannel, 'web', port), /hello/, `connection ${i + 2}`)
  t.same(dockerd.requests.slice(before), [], 'three more connections asked dockerd nothing')

  // The container goes; the watch has not looked since: its endpoint refuses, so docker is asked, and finds none running.
  execFileSync('docker', ['stop', '-t', '0', id], { stdio: 'ignore' })
  t.equal(await fetchThrough(forwards.onChannel, 'web', port), '', 'the channel is closed: nothing answers')
  t.same(dockerd.requests.slice(before), ['GET /containers/json', `GET /containers/${id}/json`], 'dockerd was asked once the remembered container refused')
  t.same(dockerCalls(), [], 'and never through a docker process')
})
