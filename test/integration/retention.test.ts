import t from 'tap'
import { createLogger } from '../../server/logger.js'
import { createRetentionPruner } from '../../server/retention/retention-pruner.js'
import { waitFor } from '../lib/openssh.js'
import { startTestGateway } from '../lib/test-gateway.js'

const DAY = 86_400_000
const ago = (days: number) => new Date(Date.now() - days * DAY)

for (const dialect of ['postgres', 'pglite'] as const) {
  t.test(`${dialect}: old device logs, metrics history and dead sessions are pruned on a timer; recent rows stay`, async (t) => {
    // Retention as an operator sets it, through the environment, with a short interval so the timer is seen working.
    const gw = await startTestGateway(t, dialect, {
      env: { EDGETAINER_RETENTION_DEVICE_LOGS_DAYS: '3', EDGETAINER_RETENTION_METRICS_DAYS: '2', EDGETAINER_RETENTION_SESSIONS_DAYS: '1' },
      start: { retentionIntervalMs: 200 },
    })
    t.match(gw.server.config.retention, { deviceLogsDays: 3, metricsDays: 2, sessionsDays: 1 })
    const db = gw.server.database.db
    const device = (await gw.http.post('/api/devices', { name: 'old-timer' }, { token: gw.adminToken })).body
    const user = await db.selectFrom('users').select('id').where('username', '=', 'admin').executeTakeFirstOrThrow()

    await db
      .insertInto('device_logs')
      .values([
        { device_id: device.id, log_type: 'stdout', message: 'ancient', created_at: ago(10), container: 'web', seq: 1 },
        { device_id: device.id, log_type: 'stdout', message: 'recent', created_at: ago(1), container: 'web', seq: 2 },
      ])
      .execute()
    const metrics = { cpu_percent: 1, memory_used_bytes: 1, memory_total_bytes: 1, disk_used_bytes: 1, disk_total_bytes: 1, uptime_seconds: 1, load_1: 1, net_rx_bytes: 1, net_tx_bytes: 1, containers: '[]' }
    await db
      .insertInto('device_metrics')
      .values([
        { device_id: device.id, recorded_at: ago(5), ...metrics },
        { device_id: device.id, recorded_at: ago(0.5), ...metrics },
      ])
      .execute()
    await db
      .insertInto('sessions')
      .values([
        { id: 'expired-long-ago', user_id: user.id, expires_at: ago(3), revoked_at: null },
        { id: 'revoked-long-ago', user_id: user.id, expires_at: new Date(Date.now() + DAY), revoked_at: ago(2) },
        { id: 'expired-just-now', user_id: user.id, expires_at: ago(0.1), revoked_at: null },
        { id: 'live', user_id: user.id, expires_at: new Date(Date.now() + DAY), revoked_at: null },
      ])
      .execute()

    await waitFor('pruned', async () => {
      const logs = await db.selectFrom('device_logs').select('message').where('device_id', '=', device.id).execute()
      return logs.length === 1
    }, 10_000)
    t.same((await db.selectFrom('device_logs').select('message').where('device_id', '=', device.id).execute()).map((r) => r.message), ['recent'])
    await waitFor('metrics pruned', async () => (await db.selectFrom('device_metrics').select('id').where('device_id', '=', device.id).execute()).length === 1, 10_000)
    const sessionIds = async () => (await db.selectFrom('sessions').select('id').where('id', 'in', ['expired-long-ago', 'revoked-long-ago', 'expired-just-now', 'live']).execute()).map((r) => r.id).sort()
    await waitFor('sessions pruned', async () => (await sessionIds()).length === 2, 10_000)
    t.same(await sessionIds(), ['expired-just-now', 'live'], 'sessions dead for longer than sessions_days go; live ones and recently dead ones stay')
    t.equal((await gw.http.get('/api/auth/me', { token: gw.adminToken })).status, 200, 'the signed-in admin is untouched')
  })
}

t.test('pruning works in batches, 0 keeps for ever, and a failed run is logged, not thrown', async (t) => {
  const gw = await startTestGateway(t, 'postgres', { env: { EDGETAINER_RETENTION_INTERVAL_MINUTES: '1440' } })
  const db = gw.server.database.db
  const device = (await gw.http.post('/api/devices', { name: 'chatty' }, { token: gw.adminToken })).body
  const rows = Array.from({ length: 12_000 }, (_, i) => ({ device_id: device.id, log_type: 'stdout', message: `line ${i}`, created_at: ago(30), container: 'web', seq: i + 1 }))
  for (let i = 0; i < rows.length; i += 2000) await db.insertInto('device_logs').values(rows.slice(i, i + 2000)).execute()
  const logger = createLogger('silent')
  const keep = createRetentionPruner({ db, logger, settings: { deviceLogsDays: 0, metricsDays: 0, sessionsDays: 0, intervalMs: 1000 } })
  t.same(await keep.pruneOnce(), { device_logs: 0, device_metrics: 0, sessions: 0 }, '0 days: nothing pruned')
  const pruner = createRetentionPruner({ db, logger, settings: { deviceLogsDays: 7, metricsDays: 7, sessionsDays: 7, intervalMs: 1000 } })
  t.same(await pruner.pruneOnce(), { device_logs: 12_000, device_metrics: 0, sessions: 0 }, 'more rows than one batch, all pruned')

  // A pruner whose database is gone keeps its timer and its process.
  const errors: string[] = []
  const failing = createRetentionPruner({
    db,
    logger: { ...logger, warn: (o: { err: string }) => errors.push(o.err), info: () => {} } as unknown as typeof logger,
    settings: { deviceLogsDays: 7, metricsDays: 7, sessionsDays: 7, intervalMs: 50 },
    now: () => {
      throw new Error('clock on fire')
    },
  })
  failing.start()
  await waitFor('two failed runs logged', () => errors.length >= 2, 10_000)
  await failing.close()
  t.match(errors[0], /clock on fire/)
})
