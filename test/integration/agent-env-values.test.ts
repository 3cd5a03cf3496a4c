import { randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import fc from 'fast-check'
import t, { type Test } from 'tap'
import { createAgentLogger } from '../../agent/agent-logger.js'
import { plan, targetDigest, type TargetStack } from '../../agent/deploy/planner.js'
import { projectName } from '../../agent/deploy/stack-store.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { runningContainer } from '../lib/docker-state.js'
import { carriableValue, containerEnv, envMismatches, HARD_VALUES, hardValueArbitrary } from '../lib/env-values.js'
import { startTestExecutor } from '../lib/test-executor.js'

const compose = `services:
  probe:
    image: ${TEST_IMAGE}
    network_mode: host
    stop_signal: SIGKILL
    command: ["sleep", "100000"]
`

/** One batch of random values (fast-check, seeded and printed so a failure can be replayed), as many variables of one container. */
function randomBatch(seed: number, count: number): Record<string, string> {
  const values = fc.sample(hardValueArbitrary.filter(carriableValue), { numRuns: count, seed })
  return Object.fromEntries(values.map((v, i) => [`RANDOM_${i}`, v]))
}

/**
 * The agent's deploy path on real dockerd and real docker-compose, without a
 * gateway: what the stack store writes is what the container's PID 1 holds,
 * byte for byte, read back from /proc/1/environ.
 */
t.test('env values arrive byte-exact in a real container', async (t) => {
  ensureTestImage()
  let logged = ''
  const logger = createAgentLogger('debug', new Writable({ write: (chunk, _enc, done) => ((logged += String(chunk)), done()) }))
  const { dataDir, docker, stacks, events, executor } = startTestExecutor(t, { logger })
  t.comment(`compose: ${await docker.describe()}`)

  const softwareId = randomUUID()
  const project = projectName('envvals', softwareId)
  const target = (env: Record<string, string>, version = '1'): TargetStack => ({ software_id: softwareId, name: 'envvals', version, compose, env: { probe: env } })
  const lastDeploy = () => events.filter((e) => e.kind === 'deploy').at(-1) as { status: string; error: string | null } | undefined
  const release = path.join(dataDir, 'stacks', softwareId, 'current')
  const check = async (t: Test, env: Record<string, string>, what: string) => {
    const c = await runningContainer(project, 'probe')
    t.ok(c, 'the container runs')
    const mismatches = envMismatches(env, containerEnv(c!.id))
    t.same(mismatches, [], `${what}: ${Object.keys(env).length} variables byte-exact`)
    return c!
  }

  const seed = Date.now() % 2 ** 31
  t.comment(`fast-check seed ${seed}`)
  const first = { ...Object.fromEntries(HARD_VALUES), ...randomBatch(seed, 60) }

  await t.test('a deploy carries every hard value and a random batch', async (t) => {
    const target1 = target(first)
    await executor.execute({ kind: 'deploy', target: target1, digest: targetDigest(target1), replaces: null })
    t.match(lastDeploy(), { status: 'running', error: null })
    await check(t, first, 'hard values and random batch')
    t.equal(statSync(path.join(release, 'edgetainer.override.yml')).mode & 0o777, 0o600, 'the override holding the values is 0600')
    t.equal(statSync(path.join(release, 'meta.json')).mode & 0o777, 0o600, 'and so is meta.json')
    t.equal(statSync(release).mode & 0o777, 0o700, 'in a 0700 directory')
    t.notOk(existsSync(path.join(release, 'env')), 'no env files')
    t.ok(readFileSync(path.join(release, 'edgetainer.override.yml'), 'utf8').includes('"SQ": "p\'ss"'), 'the values are in the override, as YAML scalars')
  })

  await t.test('an environment-only change recreates the container with the new values', async (t) => {
    const before = (await runningContainer(project, 'probe'))!
    const second = { ...randomBatch(seed + 1, 60), SQ: "p'ss changed", TRAIL_BS: 'still\\', TRAIL_BS_NEXT: 'intact' }
    const target2 = target(second)
    const steps = plan({ current: stacks.current(), target: [target2], failed: stacks.failed(), restarts: [] })
    t.match(steps, [{ kind: 'update-env', services: ['probe'] }])
    await executor.execute(steps[0]!)
    t.match(lastDeploy(), { status: 'running', error: null })
    const after = await check(t, second, 'second random batch')
    t.not(after.id, before.id, 'a new container')
    t.notOk(containerEnv(after.id).has('DOLLAR'), 'a variable no longer sent is gone')
  })

  await t.test('a release left in the env-file layout is rewritten once, values intact', async (t) => {
    const current = stacks.read(softwareId, 'current')!
    mkdirSync(path.join(release, 'env'))
    writeFileSync(path.join(release, 'env', 'probe.env'), '', { mode: 0o600 })
    const steps = plan({ current: stacks.current(), target: [target(current.env.probe!)], failed: stacks.failed(), restarts: [] })
    t.match(steps, [{ kind: 'update-env', services: ['probe'] }], 'an unchanged environment is still rewritten')
    await executor.execute(steps[0]!)
    t.notOk(existsSync(path.join(release, 'env')), 'the env files are gone')
    await check(t, current.env.probe!, 'after the rewrite')
    t.same(plan({ current: stacks.current(), target: [target(current.env.probe!)], failed: stacks.failed(), restarts: [] }), [], 'and it is not rewritten again')
  })

  await t.test('a NUL byte fails the deploy by name; the running release stays', async (t) => {
    const before = (await runningContainer(project, 'probe'))!
    const bad = target({ TOKEN: 'secret-4f2a\0tail' }, '2')
    await executor.execute({ kind: 'deploy', target: bad, digest: targetDigest(bad), replaces: '1' })
    t.match(lastDeploy(), { status: 'failed', error: /TOKEN of service probe holds a NUL byte/ })
    t.same(await runningContainer(project, 'probe'), before, 'the same container runs on')
    const badEnv = target({ TOKEN: 'secret-4f2a\0tail' })
    await executor.execute({ kind: 'update-env', target: badEnv, digest: targetDigest(badEnv), services: ['probe'] })
    t.match(lastDeploy(), { status: 'failed', error: /TOKEN of service probe holds a NUL byte/ })
    t.same(await runningContainer(project, 'probe'), before, 'an environment update with a NUL does not touch it either')
  })

  await t.test('no value reaches the logs or the reports', async (t) => {
    const reports = JSON.stringify(events)
    const leaked = Object.entries(first).filter(([, v]) => v.length >= 8 && (logged.includes(v) || reports.includes(v)))
    t.same(leaked.map(([name]) => name), [])
    t.notMatch(logged + reports, /secret-4f2a/)
  })
})

t.test('a compose file validated before is not run through `compose config` again: going back to a release costs one compose run less', async (t) => {
  ensureTestImage()
  const dir = mkdtempSync(path.join(tmpdir(), 'et-validated-'))
  // A docker that logs each command line it runs, then runs it (compose as docker-compose, as on this machine).
  const log = path.join(dir, 'docker.log')
  const wrapper = path.join(dir, 'docker')
  writeFileSync(wrapper, `#!/bin/sh\necho "$*" >> ${log}\nif [ "$1" = compose ]; then shift; exec docker-compose "$@"; fi\nexec docker "$@"\n`, { mode: 0o755 })
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const { events, executor } = startTestExecutor(t, { docker: `${wrapper} compose` })
  const softwareId = randomUUID()
  const stackWith = (seconds: number) => compose.replace('"100000"', `"${seconds}"`)
  const deploy = async (version: string, composeText: string) => {
    const target: TargetStack = { software_id: softwareId, name: 'validated', version, compose: composeText, env: {} }
    await executor.execute({ kind: 'deploy', target, digest: targetDigest(target), replaces: null })
    t.match(events.filter((e) => e.kind === 'deploy').at(-1), { version, status: 'running' }, `${version} runs`)
  }
  await deploy('1', stackWith(100001))
  await deploy('2', stackWith(100002))
  await deploy('3', stackWith(100001))
  const commands = readFileSync(log, 'utf8').trim().split('\n')
  t.equal(commands.filter((c) => / config$/.test(c)).length, 2, 'two distinct files, two validations')
  t.equal(commands.filter((c) => / up -d --remove-orphans$/.test(c)).length, 3, 'and three deploys')
  t.match((await runningContainer(projectName('validated', softwareId), 'probe'))?.id, /^[0-9a-f]+$/, 'the third release runs')
})
