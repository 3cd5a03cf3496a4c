import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import t from 'tap'
import { createAgentLogger } from '../../agent/agent-logger.js'
import { createContainers, MANAGED_LABEL } from '../../agent/docker/containers.js'
import { createDockerCli } from '../../agent/docker/docker-cli.js'
import { ensureTestImage } from '../lib/docker-image.js'

/**
 * Agents that share one dockerd (a lab host, this test machine) each see only their own containers:
 * the managed label carries the device id. Containers of an earlier agent, labelled `true`, stay the
 * agent's until their next deploy relabels them. Real dockerd, real containers.
 */
t.test("an agent sees its own containers and legacy ones, never another agent's", async (t) => {
  const image = ensureTestImage()
  const project = `et-ownership-${randomUUID().slice(0, 8)}`
  const created: string[] = []
  t.teardown(() => {
    if (created.length) execFileSync('docker', ['rm', '-f', ...created], { stdio: 'ignore' })
  })
  const run = (owner: string, service: string) => {
    const labels = [`${MANAGED_LABEL}=${owner}`, `com.docker.compose.project=${project}`, `com.docker.compose.service=${service}`]
    const id = execFileSync('docker', ['create', ...labels.flatMap((l) => ['--label', l]), '--network', 'none', image, 'sleep', '300'], { encoding: 'utf8' }).trim()
    created.push(id)
    return id
  }
  const deviceA = randomUUID()
  const deviceB = randomUUID()
  const ofA = run(deviceA, 'web')
  const ofB = run(deviceB, 'web')
  const legacy = run('true', 'legacy')
  // Values that only contain A's id are not A's: after a space, on a line of their own.
  const lookalikes = [run(`${deviceA} x`, 'web'), run(`x\n${deviceA}`, 'web')]

  const docker = createDockerCli({ logger: createAgentLogger('warn', new Writable({ write: (_c, _e, done) => done() })) })
  const ids = async (owner: string) => new Set((await createContainers({ docker, owner }).managed()).map((c) => c.id).filter((id) => created.includes(id)))
  t.same(await ids(deviceA), new Set([ofA, legacy]), "device A: its own container and the legacy one")
  t.same(await ids(deviceB), new Set([ofB, legacy]), "device B: its own container and the legacy one")
  const seenByA = await ids(deviceA)
  t.notOk(lookalikes.some((id) => seenByA.has(id)), 'labels that only contain the device id are not the device’s')

  const found = await createContainers({ docker, owner: deviceB }).find('web')
  t.equal(found?.id, ofB, "find('web') picks the asking agent's web, not another agent's")
})
