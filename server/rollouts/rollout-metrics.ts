import { Gauge, type Registry } from 'prom-client'
import type { Kysely } from 'kysely'
import type { Database } from '../db/schema.js'
import type { Logger } from '../logger.js'
import { DEVICE_STATES } from './rollout-view.js'

/**
 * `edgetainer_rollout_devices{state}`: devices of running and paused rollouts
 * per state, counted from the database at scrape time (so every gateway
 * sharing it reports the same numbers).
 */
export function registerRolloutMetrics(registry: Registry, deps: { db: Kysely<Database>; logger: Logger }) {
  new Gauge({
    name: 'edgetainer_rollout_devices',
    help: 'Devices of running and paused rollouts, by rollout device state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      try {
        const rows = await deps.db
          .selectFrom('rollout_devices')
          .innerJoin('rollouts', 'rollouts.id', 'rollout_devices.rollout_id')
          .select(['rollout_devices.state', (eb) => eb.fn.countAll<string>().as('n')])
          .where('rollouts.status', 'in', ['running', 'paused'])
          .groupBy('rollout_devices.state')
          .execute()
        for (const state of DEVICE_STATES) this.set({ state }, Number(rows.find((r) => r.state === state)?.n ?? 0))
      } catch (err) {
        // A scrape during a database outage shows the last numbers rather than failing /metrics.
        deps.logger.debug({ err: (err as Error).message }, 'rollout metrics unavailable')
      }
    },
  })
}
