import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import { failedForWantOfDockerd } from '../../agent/deploy/compose-executor.js'
import { plan, type TargetStack } from '../../agent/deploy/planner.js'
import { projectName } from '../../agent/deploy/stack-store.js'
import { DockerUnavailableError } from '../../agent/docker/docker-cli.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { runningContainer } from '../lib/docker-state.js'
import { startTestExecutor } from '../lib/test-executor.js'

/** Release `n` sleeps for 100000 + n seconds, which names it in `docker inspect`. */
function stack(n: number): string {
  return `services:\n  web:\n    image: ${TEST_IMAGE}\n    network_mode: host\n    stop_signal: SIGKILL\n    command: ["sleep", "${100000 + n}"]\n`
}

/**
 * A docker-compose whose next `up`, once `flag` exists, runs real docker-compose pointed at a socket that
 * is not there (so it fails in compose's own words), and removes the flag; every other run is the real one.
 */
function composeFailingOnce(t: { teardown(fn: () => void): void }): { flag: string; wrapper: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-flicker-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const flag = path.join(dir, 'fail-next-up')
  const wrapper = path.join(dir, 'docker-compose')
  writeFileSync(
    wrapper,
    `#!/bin/sh\nfor a in "$@"; do\n  if [ "$a" = up ] && [ -e ${flag} ]; then rm -f ${flag}; DOCKER_HOST=unix://${dir}/absent.sock exec docker-compose "$@"; fi\ndone\nexec docker-compose "$@"\n`,
  )
  chmodSync(wrapper, 0o755)
  return { flag, wrapper }
}

/**
 * dockerd gone for a moment: a compose step fails because it could not connect, and by the time the agent
 * asks dockerd whether it answers, it does again. The step's failure still says nothing about the release:
 * it must wait and be tried again, never be rolled back and marked failed for good. The failing step is
 * real docker-compose pointed at a socket that is not there (its own words), through a wrapper that does
 * that once; everything else is the real dockerd.
 */
t.test('a step that failed for want of dockerd waits and is tried again, even when dockerd answers by the time the agent looks', async (t) => {
  ensureTestImage()
  const { flag, wrapper } = composeFailingOnce(t)
  const { stacks, events, executor } = startTestExecutor(t, { docker: wrapper })
  const softwareId = randomUUID()
  const project = projectName('flicker', softwareId)
  const target = (n: number): TargetStack => ({ software_id: softwareId, name: 'flicker', version: String(n), compose: stack(n), env: {} })
  const reports = (version: string) => events.filter((e) => e.kind === 'deploy' && (e as { version?: string }).version === version) as { status: string; error?: string }[]
  const runs = async () => {
    const web = await runningContainer(project, 'web')
    return web ? execFileSync('docker', ['inspect', web.id, '--format', '{{index .Config.Cmd 1}}'], { encoding: 'utf8' }).trim() : undefined
  }
  const steps = (wanted: TargetStack) => plan({ current: stacks.current(), target: [wanted], failed: stacks.failed(), restarts: [] })

  for (const step of steps(target(1))) await executor.execute(step)
  t.match(reports('1').at(-1), { status: 'running' })

  writeFileSync(flag, '')
  const [step] = steps(target(2))
  await t.rejects(executor.execute(step!), DockerUnavailableError, 'the sync loop is told to try again (with backoff, or at the next nudge)')
  t.notOk(existsSync(flag), 'compose really ran without dockerd')
  t.match(reports('2').at(-1), { status: 'installing', error: /^waiting for dockerd, which does not answer at unix:\/\// })
  t.notOk(reports('2').some((r) => ['failed', 'rolled_back'].includes(r.status)), 'never reported failed or rolled back')
  t.notOk(stacks.failed()[softwareId], 'not marked failed')
  t.match(stacks.read(softwareId, 'current'), { version: '1' }, 'the release files are back where they were')

  for (const next of steps(target(2))) await executor.execute(next)
  t.match(reports('2').at(-1), { status: 'running' }, 'the retry deploys it')
  t.equal(await runs(), '100002')
})

t.test('an environment change that met dockerd away waits and is applied by the retry, never rolled back', async (t) => {
  ensureTestImage()
  const { flag, wrapper } = composeFailingOnce(t)
  const { stacks, events, executor } = startTestExecutor(t, { docker: wrapper })
  const softwareId = randomUUID()
  const project = projectName('flicker-env', softwareId)
  const target = (colour: string): TargetStack => ({ software_id: softwareId, name: 'flicker-env', version: '1', compose: stack(1), env: { web: { COLOUR: colour } } })
  const steps = (wanted: TargetStack) => plan({ current: stacks.current(), target: [wanted], failed: stacks.failed(), restarts: [] })
  const colour = async () => {
    const web = await runningContainer(project, 'web')
    const env = JSON.parse(execFileSync('docker', ['inspect', web!.id, '--format', '{{json .Config.Env}}'], { encoding: 'utf8' })) as string[]
    return env.find((e) => e.startsWith('COLOUR='))
  }

  for (const step of steps(target('blue'))) await executor.execute(step)
  t.equal(await colour(), 'COLOUR=blue')

  writeFileSync(flag, '')
  const [change] = steps(target('green'))
  t.match(change, { kind: 'update-env', services: ['web'] })
  await t.rejects(executor.execute(change!), DockerUnavailableError)
  const reports = events.filter((e) => e.kind === 'deploy') as { status: string; error?: string }[]
  t.match(reports.at(-1), { status: 'installing', error: /^waiting for dockerd/ })
  t.notOk(reports.some((r) => ['failed', 'rolled_back'].includes(r.status)), 'never reported failed or rolled back')
  t.notOk(stacks.failed()[softwareId], 'not marked failed')
  t.same(stacks.read(softwareId, 'current')?.env, { web: { COLOUR: 'blue' } }, 'the files say what runs: the old environment')
  t.equal(await colour(), 'COLOUR=blue')

  for (const step of steps(target('green'))) await executor.execute(step)
  t.match(events.at(-1), { kind: 'deploy', status: 'running' }, 'the retry applies it')
  t.equal(await colour(), 'COLOUR=green')
})

/**
 * A socket in front of dockerd that passes everything through, except that while `cutting` is on it hangs
 * up on the agent's image looks (`GET /images/<ref>/json`, the Engine API without a version prefix): to
 * the agent, dockerd is away for the look and back for everything after it.
 */
async function dockerdCuttingImageLooks(t: { teardown(fn: () => void): void }): Promise<{ host: string; cutting: { on: boolean } }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'et-look-'))
  const socketPath = path.join(dir, 'docker.sock')
  const cutting = { on: false }
  const relay = net.createServer((client) => {
    client.once('data', (first) => {
      if (cutting.on && /^GET \/images\/\S+\/json /.test(first.toString('latin1'))) return client.destroy()
      const daemon = net.connect('/var/run/docker.sock')
      daemon.write(first)
      client.pipe(daemon).pipe(client)
      daemon.on('error', () => client.destroy())
      client.on('error', () => daemon.destroy())
    })
  })
  await new Promise<void>((resolve) => relay.listen(socketPath, resolve))
  t.teardown(() => {
    relay.close()
    rmSync(dir, { recursive: true, force: true })
  })
  return { host: `unix://${socketPath}`, cutting }
}

t.test('an image look that found dockerd away waits: the pull after it never goes to a registry for a local image', async (t) => {
  ensureTestImage()
  const { host, cutting } = await dockerdCuttingImageLooks(t)
  const { stacks, events, executor } = startTestExecutor(t, { dockerHost: host })
  const softwareId = randomUUID()
  const target = (n: number): TargetStack => ({ software_id: softwareId, name: 'look', version: String(n), compose: stack(n), env: {} })
  const reports = (version: string) => events.filter((e) => e.kind === 'deploy' && (e as { version?: string }).version === version) as { status: string; error?: string }[]
  const steps = (wanted: TargetStack) => plan({ current: stacks.current(), target: [wanted], failed: stacks.failed(), restarts: [] })

  cutting.on = true
  const [step] = steps(target(1))
  // Counted as missing, the image would be pulled from a registry this machine cannot reach (it only exists
  // locally), with dockerd answering again by then: the release would fail for good.
  await t.rejects(executor.execute(step!), DockerUnavailableError, 'the sync loop is told to try again')
  t.match(reports('1').at(-1), { status: 'downloading', error: /^waiting for dockerd, which does not answer at unix:\/\// })
  t.notOk(reports('1').some((r) => r.status === 'failed'), `never reported failed: ${reports('1').map((r) => r.error ?? r.status).join(' | ')}`)
  t.notOk(stacks.failed()[softwareId], 'not marked failed')

  cutting.on = false
  for (const next of steps(target(1))) await executor.execute(next)
  t.match(reports('1').at(-1), { status: 'running' }, 'the retry deploys it from the local image')
})

t.test("the words of a step that failed for want of dockerd, and of failures that are the release's own", async (t) => {
  const absent = mkdtempSync(path.join(tmpdir(), 'et-absent-'))
  t.teardown(() => rmSync(absent, { recursive: true, force: true }))
  writeFileSync(path.join(absent, 'docker-compose.yml'), stack(1))
  let stderr = ''
  try {
    execFileSync('docker-compose', ['-p', 'et-absent', 'ps'], { cwd: absent, env: { ...process.env, DOCKER_HOST: `unix://${absent}/absent.sock` }, stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    stderr = String((err as { stderr?: Buffer }).stderr ?? '')
  }
  t.ok(failedForWantOfDockerd(stderr), `compose's own words without dockerd: ${stderr.trim().split('\n').at(-1)}`)
  t.ok(failedForWantOfDockerd('Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?'), "the docker CLI's (and compose v2's)")
  t.ok(failedForWantOfDockerd('cannot reach dockerd at unix:///var/run/docker.sock: ENOENT'), "the agent's Engine API client's")
  t.notOk(failedForWantOfDockerd('image `127.0.0.1:1/shop:7` could not be pulled: Get "https://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused'), 'a registry that refuses is the release’s own')
  t.notOk(failedForWantOfDockerd('compose up failed: container `migrate` exited with code 1'))
  t.notOk(failedForWantOfDockerd('invalid compose file: services.web.image must be a string'))
})
