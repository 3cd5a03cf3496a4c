import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import path from 'node:path'
import t from 'tap'
import { declaredServices, MAX_INTERRUPTIONS } from '../../agent/deploy/compose-executor.js'
import { plan, targetDigest, type TargetStack } from '../../agent/deploy/planner.js'
import { projectName } from '../../agent/deploy/stack-store.js'
import { ensureTestImage, TEST_IMAGE } from '../lib/docker-image.js'
import { runningContainer } from '../lib/docker-state.js'
import { startTestExecutor } from '../lib/test-executor.js'

/** Release `n` sleeps for 100000 + n seconds, which names it in `docker inspect`; a crashing one exits 3 at once. */
function stack(n: number, crash = false): string {
  const command = crash ? '["sh", "-c", "exit 3"]' : `["sleep", "${100000 + n}"]`
  return `services:\n  web:\n    image: ${TEST_IMAGE}\n    network_mode: host\n    stop_signal: SIGKILL\n    command: ${command}\n`
}

/**
 * An agent killed in the middle of a deploy (after the new release took the old one's place on disk,
 * before it was verified) finds the release unfinished when it starts again: it deploys it again rather
 * than taking it for running, and the release before it is still the one a failure goes back to.
 * The agent's deploy path on real dockerd and docker-compose, without a gateway.
 */
t.test('a deploy cut short is deployed again, and a failure then goes back to the release before it', async (t) => {
  ensureTestImage()
  const { dataDir, stacks, events, executor } = startTestExecutor(t)
  const softwareId = randomUUID()
  const project = projectName('interrupted', softwareId)
  const target = (n: number, crash = false): TargetStack => ({ software_id: softwareId, name: 'interrupted', version: String(n), compose: stack(n, crash), env: {} })
  const lastResult = () => events.filter((e) => e.kind === 'deploy' && ['running', 'failed', 'rolled_back'].includes((e as { status: string }).status)).at(-1)
  const runs = async () => {
    const web = await runningContainer(project, 'web')
    return web ? execFileSync('docker', ['inspect', web.id, '--format', '{{index .Config.Cmd 1}}'], { encoding: 'utf8' }).trim() : undefined
  }
  /** What a kill leaves behind: the release written and moved into place, as deploy() does before `up`. */
  const cutShort = (next: TargetStack, before = 0) => {
    stacks.write(next, declaredServices(next.compose), 'next', before)
    stacks.move(softwareId, 'current', 'previous')
    stacks.move(softwareId, 'next', 'current')
  }
  const stepsFor = (wanted: TargetStack) => plan({ current: stacks.current(), target: [wanted], failed: stacks.failed(), restarts: [] })
  const deploy = async (wanted: TargetStack) => {
    const steps = stepsFor(wanted)
    t.match(steps, [{ kind: 'deploy', target: { version: wanted.version } }], `release ${wanted.version} is deployed`)
    for (const step of steps) await executor.execute(step)
  }

  await deploy(target(1))
  t.match(lastResult(), { version: '1', status: 'running' })
  t.notOk(stacks.read(softwareId, 'current')?.unfinished, 'a release that ran is finished')
  t.same(stepsFor(target(1)), [], 'and needs nothing more')

  // Cut short with release 2 in place: taken for running, it would never be verified nor reported.
  cutShort(target(2))
  t.equal(stacks.read(softwareId, 'current')?.unfinished, true)
  await deploy(target(2))
  t.match(lastResult(), { version: '2', status: 'running' })
  t.equal(await runs(), '100002')
  t.notOk(stacks.read(softwareId, 'current')?.unfinished, 'finished once it ran')
  t.notOk(existsSync(path.join(dataDir, 'stacks', softwareId, 'previous')), 'and the release before it is let go')

  // Cut short with a release that crashes in place: deployed again, it fails, and release 2 (not 3) comes back.
  cutShort(target(3, true))
  await deploy(target(3, true))
  t.match(lastResult(), { version: '3', status: 'rolled_back', error: /exited with code 3/ })
  t.equal(await runs(), '100002', 'release 2 runs again')
  t.match(stacks.read(softwareId, 'current'), { version: '2' })
  t.notOk(stacks.read(softwareId, 'current')?.unfinished, 'and is finished')
  t.equal(stacks.failed()[softwareId], targetDigest(target(3, true)), 'release 3 is not tried again')

  // A release whose deploys keep being cut short (it takes the device down with it) is given up on at the third.
  cutShort(target(4), 1)
  await deploy(target(4))
  t.match(lastResult(), { version: '4', status: 'running' }, 'cut short once before: deployed again')
  cutShort(target(5), MAX_INTERRUPTIONS - 1)
  t.match(stacks.read(softwareId, 'current'), { version: '5', unfinished: true, interruptions: MAX_INTERRUPTIONS - 1 })
  await deploy(target(5))
  t.match(lastResult(), { version: '5', status: 'rolled_back', error: `its deploy was cut short ${MAX_INTERRUPTIONS} times (the agent stopped or the device restarted during it)` })
  t.equal(await runs(), '100004', 'release 4 runs again')
  t.equal(stacks.failed()[softwareId], targetDigest(target(5)), 'release 5 is not tried again')

  // Cut short in place once, and during downloads of its redeploy before that: it stands half-deployed, so at the
  // third cut in all it is the release before it that comes back (not a failure that leaves it in place).
  cutShort(target(6))
  stacks.write(target(6), declaredServices(target(6).compose), 'next', MAX_INTERRUPTIONS - 1)
  await deploy(target(6))
  t.match(lastResult(), { version: '6', status: 'rolled_back', error: `its deploy was cut short ${MAX_INTERRUPTIONS} times (the agent stopped or the device restarted during it)` })
  t.equal(await runs(), '100004', 'release 4 runs again')
  t.match(stacks.read(softwareId, 'current'), { version: '4' })
})

/**
 * Cut short earlier, during its download (the release staged as `next`, the running one untouched): a pull
 * that takes the device down with it (a full disk, the memory) would otherwise be tried forever. It is
 * deployed again, and given up on at the third such cut, with the release before it running on.
 */
t.test('a download cut short is tried again, and given up on at the third, with what ran before running on', async (t) => {
  ensureTestImage()
  const { dataDir, stacks, events, executor } = startTestExecutor(t)
  const softwareId = randomUUID()
  const project = projectName('cut-download', softwareId)
  const target = (n: number): TargetStack => ({ software_id: softwareId, name: 'cut-download', version: String(n), compose: stack(n), env: {} })
  const lastResult = () => events.filter((e) => e.kind === 'deploy' && ['running', 'failed', 'rolled_back'].includes((e as { status: string }).status)).at(-1)
  const runs = async () => {
    const web = await runningContainer(project, 'web')
    return web ? execFileSync('docker', ['inspect', web.id, '--format', '{{index .Config.Cmd 1}}'], { encoding: 'utf8' }).trim() : undefined
  }
  /** What a kill during the download leaves behind: the release staged as `next`, as deploy() writes it before pulling. */
  const cutDuringDownload = (next: TargetStack, before: number) => stacks.write(next, declaredServices(next.compose), 'next', before)
  const deploy = async (wanted: TargetStack) => {
    for (const step of plan({ current: stacks.current(), target: [wanted], failed: stacks.failed(), restarts: [] })) await executor.execute(step)
  }

  await deploy(target(1))
  t.match(lastResult(), { version: '1', status: 'running' })

  cutDuringDownload(target(2), 0)
  await deploy(target(2))
  t.match(lastResult(), { version: '2', status: 'running' }, 'cut short once during its download: deployed again')
  t.equal(await runs(), '100002')
  t.notOk(stacks.read(softwareId, 'current')?.unfinished, 'and finished')

  cutDuringDownload(target(3), MAX_INTERRUPTIONS - 1)
  await deploy(target(3))
  t.match(lastResult(), {
    version: '3',
    status: 'failed',
    error: `its download was cut short ${MAX_INTERRUPTIONS} times (the agent stopped or the device restarted during it); what ran before runs on`,
  })
  t.equal(await runs(), '100002', 'release 2 was never touched')
  t.match(stacks.read(softwareId, 'current'), { version: '2' })
  t.notOk(existsSync(path.join(dataDir, 'stacks', softwareId, 'next')), 'the staged release is let go')
  t.equal(stacks.failed()[softwareId], targetDigest(target(3)), 'release 3 is not tried again')
  t.same(plan({ current: stacks.current(), target: [target(3)], failed: stacks.failed(), restarts: [] }), [], 'the planner leaves it be')
})
