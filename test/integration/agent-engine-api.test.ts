import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import http from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import fc from 'fast-check'
import t from 'tap'
import { createAgentLogger } from '../../agent/agent-logger.js'
import { createContainers, MANAGED_LABEL } from '../../agent/docker/containers.js'
import { createDockerCli } from '../../agent/docker/docker-cli.js'
import { createEngineApi, DEFAULT_DOCKER_HOST, resolveDockerHost } from '../../agent/docker/engine-api.js'
import { ensureTestImage } from '../lib/docker-image.js'
import { waitFor } from '../lib/wait.js'

/**
 * The agent reads container and image state through dockerd's Engine API: against the machine's real
 * dockerd for what it reads, and against a misbehaving socket of the test's own for what it must survive.
 */
const quiet = createAgentLogger('warn', new Writable({ write: (_c, _e, done) => done() }))

/** An HTTP server on a unix socket of its own, answering as `answer` says; records every request path. */
async function fakeDockerd(t: { teardown(fn: () => void): void }, answer: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-engine-'))
  const socket = path.join(dir, 'd.sock')
  const paths: string[] = []
  const server = http.createServer((req, res) => {
    paths.push(req.url ?? '')
    answer(req, res)
  })
  await new Promise<void>((resolve) => server.listen(socket, resolve))
  const connections = () => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { host: `unix://${socket}`, paths, connections }
}

t.test('which dockerd: the setting, else a unix-socket DOCKER_HOST, else the default socket', async (t) => {
  t.equal(resolveDockerHost('unix:///run/other.sock', { DOCKER_HOST: 'unix:///x.sock' }), 'unix:///run/other.sock')
  t.equal(resolveDockerHost(undefined, { DOCKER_HOST: 'unix:///x.sock' }), 'unix:///x.sock')
  t.equal(resolveDockerHost(undefined, { DOCKER_HOST: 'tcp://10.0.0.1:2375' }), DEFAULT_DOCKER_HOST, 'a TCP DOCKER_HOST is not used')
  t.equal(resolveDockerHost(undefined, {}), DEFAULT_DOCKER_HOST)
})

t.test("the agent's containers, their state and an image's presence, from the real dockerd", async (t) => {
  const image = ensureTestImage()
  const owner = randomUUID()
  const project = `et-engine-${randomUUID().slice(0, 8)}`
  const labels = [`${MANAGED_LABEL}=${owner}`, `com.docker.compose.project=${project}`, 'com.docker.compose.service=web']
  const id = execFileSync('docker', ['run', '-d', ...labels.flatMap((l) => ['--label', l]), '--network', 'none', '--name', `${project}-web-1`, image, 'sleep', '300'], { encoding: 'utf8' }).trim()
  t.teardown(() => execFileSync('docker', ['rm', '-f', id], { stdio: 'ignore' }))
  const docker = createDockerCli({ logger: quiet })
  const containers = createContainers({ docker, owner })

  // Another test file may hold an earlier agent's container (labelled `true`) on the same dockerd at this moment: it counts as managed too.
  const managed = await containers.managed()
  t.ok(managed.every((c) => c.id === id || c.project !== project), 'nothing else of this project')
  const mine = managed.find((c) => c.id === id)
  t.match(mine, { id, name: `${project}-web-1`, project, service: 'web', image, state: 'running', health: null, exit_code: null, restart_count: 0 })
  t.match(mine!.started_at, /^\d{4}-\d\d-\d\dT/, 'when it started')
  t.same((await containers.ofProject(project)).map((c) => c.id), [id], 'by project')
  t.equal((await containers.find(`${project}-web-1`))?.id, id, 'by container name')
  t.equal(await containers.find('no-such-container-here'), undefined, 'an unknown name is no container')
  t.ok(await docker.api.get(`/images/${image}/json`), 'an image that is there')
  t.equal(await docker.api.get('/images/no-such-image:0/json'), undefined, 'an image that is not: undefined, not an error')

  execFileSync('docker', ['stop', '-t', '0', id], { stdio: 'ignore' })
  t.match((await containers.ofProject(project))[0], { state: 'exited', exit_code: 137 }, 'a stopped one, with its exit code')
})

t.test('a dockerd that cannot be reached, or answers badly, is an error that says so', async (t) => {
  const missing = createEngineApi('unix:///nonexistent/docker.sock')
  await t.rejects(missing.get('/containers/json'), /cannot reach dockerd at unix:\/\/\/nonexistent\/docker.sock: ENOENT/)
  await t.rejects(createContainers({ docker: createDockerCli({ host: 'unix:///nonexistent/docker.sock', logger: quiet }), owner: 'x' }).managed(), /cannot reach dockerd/)

  const broken = await fakeDockerd(t, (req, res) => {
    if (req.url!.startsWith('/error')) res.writeHead(500, { 'content-type': 'application/json' }).end('{"message":"layer store broken"}')
    else if (req.url!.startsWith('/garbage')) res.writeHead(200).end('<html>not json')
    else if (req.url!.startsWith('/huge')) {
      res.writeHead(200)
      const block = Buffer.alloc(1024 * 1024, 0x20)
      const write = () => {
        while (res.write(block));
        res.once('drain', write)
      }
      write()
    } else if (req.url!.startsWith('/silent')) {
      // Never answers.
    } else res.writeHead(404).end('{"message":"no such thing"}')
  })
  const api = createEngineApi(broken.host)
  await t.rejects(api.get('/error'), /dockerd answered 500 to GET \/error: layer store broken/)
  await t.rejects(api.get('/garbage'), /answer to GET \/garbage is not JSON/)
  await t.rejects(api.get('/huge'), /passed 67108864 bytes/)
  await t.rejects(api.get('/silent', 200), /did not answer GET \/silent within 0.2 s/)
  t.equal(await api.get('/nothing'), undefined, '404 is undefined')
  // No connection is kept for reuse: one dockerd is closing cannot fail the next read.
  await waitFor('the connection closed', async () => (await broken.connections()) === 0, 5000, 20)
  t.pass('each read had a connection of its own, closed after its answer')
})

t.test('a name from the gateway only ever becomes a container path of its own', async (t) => {
  const fake = await fakeDockerd(t, (req, res) => {
    if (req.url!.startsWith('/containers/json')) res.writeHead(200, { 'content-type': 'application/json' }).end('[]')
    else res.writeHead(404).end('{"message":"No such container"}')
  })
  const containers = createContainers({ docker: createDockerCli({ host: fake.host, logger: quiet }), owner: 'device' })
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('../images/x', '..', 'a/../../b', 'web?x=1', 'web#x', '%2e%2e', 'web\r\nHost: evil', 'a'.repeat(300))), async (name) => {
      fake.paths.length = 0
      const found = await containers.find(name)
      if (found !== undefined) return false
      // Every request is the listing or one container's own path, never anything the name built.
      return fake.paths.every((p) => p.startsWith('/containers/json?all=1&filters=') || /^\/containers\/[a-zA-Z0-9][a-zA-Z0-9_.-]*\/json$/.test(p))
    }),
    { numRuns: 300 },
  )
  t.pass('300 hostile names: no container, no other path')
})
