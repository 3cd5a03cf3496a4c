import t from 'tap'
import type { ContainerInfo, Containers } from '../../agent/docker/containers.js'
import { createContainerWatch } from '../../agent/status/container-watch.js'
import type { OutboxEventInput } from '../../shared/agent-wire.js'

const container = (id: string, state: string, exit_code: number | null = null): ContainerInfo => ({
  id,
  name: `et-app-web-${id}`,
  project: 'et-app-abc123',
  service: 'web',
  image: 'busybox',
  state,
  health: null,
  exit_code,
  restart_count: 0,
  started_at: '2026-12-02T00:00:00Z',
  endpoint: () => undefined,
  portsNow: () => [],
})

/** A docker that answers each `managed()` with the next scripted list, each when the test releases it. */
function scriptedDocker() {
  const pending: { resolve(list: ContainerInfo[]): void; reject(err: Error): void }[] = []
  let calls = 0
  const containers = {
    managed: () =>
      new Promise<ContainerInfo[]>((resolve, reject) => {
        calls++
        pending.push({ resolve, reject })
      }),
  } as unknown as Containers
  const next = async () => {
    while (!pending.length) await new Promise((r) => setImmediate(r))
    return pending.shift()!
  }
  return { containers, next, calls: () => calls }
}

t.test('a look reports what changed: started, exited, removed', async (t) => {
  const docker = scriptedDocker()
  const events: OutboxEventInput[] = []
  const watch = createContainerWatch({ containers: docker.containers, report: (e) => events.push(...e) })
  const first = watch.check()
  ;(await docker.next()).resolve([container('a', 'running')])
  t.same((await first).map((c) => c.id), ['a'])
  const second = watch.check()
  ;(await docker.next()).resolve([container('a', 'exited', 137), container('b', 'running')])
  await second
  const third = watch.check()
  ;(await docker.next()).resolve([container('b', 'running')])
  await third
  t.same(
    events.map((e) => (e.kind === 'container' ? [e.container, e.previous, e.state] : e.kind)),
    [
      ['et-app-web-a', null, 'running'],
      ['et-app-web-a', 'running', 'exited'],
      ['et-app-web-b', null, 'running'],
      ['et-app-web-a', 'exited', 'removed'],
    ],
  )
})

t.test('looks never overlap, so one change is reported once', async (t) => {
  const docker = scriptedDocker()
  const events: OutboxEventInput[] = []
  const watch = createContainerWatch({ containers: docker.containers, report: (e) => events.push(...e) })
  const a = watch.check()
  const b = watch.check()
  ;(await docker.next()).resolve([container('a', 'running')])
  ;(await docker.next()).resolve([container('a', 'running')])
  await Promise.all([a, b])
  t.equal(docker.calls(), 2)
  t.equal(events.length, 1, 'the second look saw no change')
})

t.test('fresh(): the last look until invalidated; a look already under way when invalidated does not count', async (t) => {
  const docker = scriptedDocker()
  const watch = createContainerWatch({ containers: docker.containers, report: () => {} })
  const first = watch.check()
  ;(await docker.next()).resolve([container('old', 'running')])
  await first
  t.same((await watch.fresh()).map((c) => c.id), ['old'], 'not invalidated: no new look')
  t.equal(docker.calls(), 1)

  // A tick's look starts while the old container is being replaced; the deploy reports `running` before it answers.
  const tick = watch.check()
  const during = await docker.next()
  watch.invalidate()
  const heartbeat = watch.fresh()
  during.resolve([container('old', 'exited', 137), container('new', 'running')])
  await tick
  ;(await docker.next()).resolve([container('new', 'running')])
  t.same((await heartbeat).map((c) => [c.id, c.state]), [['new', 'running']], 'the heartbeat waited for a look started after the report')
  t.equal(docker.calls(), 3)
  t.same((await watch.fresh()).map((c) => c.id), ['new'], 'fresh again: no further look')
  t.equal(docker.calls(), 3)
})

t.test('fresh() gives the last seen when docker cannot answer, and the next call tries again', async (t) => {
  const docker = scriptedDocker()
  const watch = createContainerWatch({ containers: docker.containers, report: () => {} })
  const first = watch.check()
  ;(await docker.next()).resolve([container('a', 'running')])
  await first
  watch.invalidate()
  const heartbeat = watch.fresh()
  ;(await docker.next()).reject(new Error('Cannot connect to the Docker daemon'))
  t.same((await heartbeat).map((c) => c.id), ['a'])
  const again = watch.fresh()
  ;(await docker.next()).resolve([])
  t.same(await again, [])
})
