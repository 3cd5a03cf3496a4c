import { Writable } from 'node:stream'
import t from 'tap'
import { createAgentLogger } from '../../agent/agent-logger.js'
import { createSyncLoop } from '../../agent/sync/sync-loop.js'
import { waitFor } from '../lib/wait.js'
import { AGENT_PATHS } from '../../shared/agent-wire.js'

/**
 * When the agent's watch looks at its containers: on docker's events while that stream runs, on its
 * timer while it does not. The sync loop with a counting watch; offline, so nothing but the watch runs.
 */
function loop(options: { watchSeconds: number; eventsLive: () => boolean }) {
  const looks: number[] = []
  const sync = createSyncLoop({
    api: {} as never,
    stacks: { current: () => [] } as never,
    executor: {} as never,
    watch: { check: async () => (looks.push(looks.length), []), fresh: async () => [], invalidate() {} } as never,
    logs: { collect: async () => {}, close: async () => {} } as never,
    outbox: {} as never,
    metrics: { sample: () => ({}) } as never,
    online: () => false,
    applyConfig: async () => {},
    agentVersion: '0.0.0',
    heartbeatSeconds: 30,
    lockRetrySeconds: 1,
    logger: createAgentLogger('silent', new Writable({ write: (_c, _e, done) => done() })),
    ...options,
  })
  return { sync, looks }
}

t.test('without the event stream, the watch looks on its timer', async (t) => {
  const { sync, looks } = loop({ watchSeconds: 0.2, eventsLive: () => false })
  t.teardown(() => sync.close())
  sync.start()
  await waitFor('three looks on the timer alone', () => looks.length >= 3, 10_000, 20)
  t.pass('it kept looking with no event')
})

t.test('with the stream up, each burst of events brings one look', async (t) => {
  // A watch_seconds far beyond the test: every look after the first comes from an event.
  const { sync, looks } = loop({ watchSeconds: 600, eventsLive: () => true })
  t.teardown(() => sync.close())
  sync.start()
  await waitFor('the first look', () => looks.length === 1, 10_000, 10)
  for (let i = 0; i < 5; i++) sync.lookSoon()
  await waitFor('a look for the burst', () => looks.length === 2, 10_000, 10)
  sync.lookSoon()
  await waitFor('a look for the next event', () => looks.length === 3, 10_000, 10)
  await sync.close()
  sync.lookSoon()
  t.equal(looks.length, 3, 'five events at once brought one look, and none comes after close')
})

t.test('when the stream goes down, the timer takes over', async (t) => {
  let live = true
  const { sync, looks } = loop({ watchSeconds: 0.2, eventsLive: () => live })
  t.teardown(() => sync.close())
  sync.start()
  await waitFor('the first look', () => looks.length === 1, 10_000, 10)
  live = false
  sync.onEventsLiveChange()
  await waitFor('looks on the timer again', () => looks.length >= 3, 10_000, 20)
  t.pass('the 60-second safety pace gave way to watch_seconds')
})

t.test('a sync that fails is tried again with backoff, not left for the next heartbeat', async (t) => {
  // The heartbeat is an hour away: only the retry can bring the second and third attempts.
  let attempts = 0
  let failFirst = 2
  const applied: number[] = []
  const sync = createSyncLoop({
    api: {
      call: async () => {
        attempts++
        if (failFirst > 0) {
          failFirst--
          throw new Error('connect ECONNREFUSED (the gateway is restarting)')
        }
        return { control_key: 'k', services: [], restarts: [] }
      },
      callUnlessMatch: async () => ({ revision: 'r1', software: [] }),
    } as never,
    stacks: { current: () => [], failed: () => new Map() } as never,
    executor: {} as never,
    watch: { check: async () => [], fresh: async () => [], invalidate() {} } as never,
    logs: { collect: async () => {}, close: async () => {} } as never,
    outbox: {} as never,
    metrics: { sample: () => ({}) } as never,
    online: () => true,
    applyConfig: async () => void applied.push(attempts),
    agentVersion: '0.0.0',
    heartbeatSeconds: 3600,
    watchSeconds: 600,
    lockRetrySeconds: 3600,
    syncRetryBaseMs: 50,
    logger: createAgentLogger('silent', new Writable({ write: (_c, _e, done) => done() })),
  })
  t.teardown(() => sync.close())
  void sync.syncNow()
  await waitFor('the third sync, after two failures', () => applied.length === 1, 10_000, 10)
  t.equal(applied[0], 3, 'two failed syncs, then one that applied the config')

  // Later failures start from the base again: the count of failures in a row was reset by the success.
  failFirst = 1
  const before = attempts
  void sync.syncNow()
  await waitFor('a retry after the next failure', () => applied.length === 2, 10_000, 10)
  t.equal(attempts - before, 3, 'one failed call, then the config and the restarts of a sync that went through')
  await sync.close()
})

t.test("a heartbeat goes out when dockerd does not answer, saying so in one line, with no containers", async (t) => {
  const bodies: Record<string, unknown>[] = []
  const sync = createSyncLoop({
    api: {
      call: async (route: { path: string }, body: Record<string, unknown>) => {
        if (route.path === AGENT_PATHS.heartbeat) {
          bodies.push(body)
          return { interval_seconds: 3600, revision: 'r1', restarts_pending: 0 }
        }
        throw new Error('the sync is not part of this test')
      },
    } as never,
    stacks: { current: () => [{ software_id: 's1', name: 'shop', version: '3', project: 'et-shop-000000' }], failed: () => new Map() } as never,
    executor: {} as never,
    watch: { check: async () => [], fresh: async () => Promise.reject(new Error('cannot reach dockerd at unix:///var/run/docker.sock: ENOENT\n\u0000\uD800 and more')), invalidate() {} } as never,
    logs: { collect: async () => {}, close: async () => {} } as never,
    outbox: { pending: 0, dropped: 0, quarantined: 0 } as never,
    metrics: { sample: () => ({ cpu_percent: 1 }) } as never,
    online: () => true,
    applyConfig: async () => {},
    agentVersion: '0.0.0',
    heartbeatSeconds: 3600,
    watchSeconds: 600,
    lockRetrySeconds: 3600,
    syncRetryBaseMs: 3_600_000,
    logger: createAgentLogger('silent', new Writable({ write: (_c, _e, done) => done() })),
  })
  t.teardown(() => sync.close())
  sync.onTunnelUp()
  await waitFor('a heartbeat', () => bodies.length === 1, 10_000, 10)
  t.match(bodies[0], {
    containers: [],
    docker_error: 'cannot reach dockerd at unix:///var/run/docker.sock: ENOENT \uFFFD and more',
    software: [{ software_id: 's1', name: 'shop', version: '3' }],
    metrics: { cpu_percent: 1 },
  })
})
