import { z } from 'zod'
import type { Kysely } from 'kysely'
import type { Database } from '../../db/schema.js'
import { createRolloutBody } from '../../rollouts/rollout-settings.js'
import type { RolloutOperation, RolloutStore } from '../../rollouts/rollout-store.js'
import type { Role } from '../../db/schema.js'
import type { RouteRegistry } from '../route-registry.js'
import { page, paginationQuery } from '../validation.js'

const listQuery = paginationQuery.extend({
  status: z.enum(['draft', 'running', 'paused', 'completed', 'cancelled', 'failed', 'rolled_back']).optional(),
  fleet_id: z.uuid().optional(),
  software_id: z.uuid().optional(),
})

/**
 * Who may do what: admins create rollouts (they choose what runs where);
 * operators run them: start, pause, resume, cancel, advance, and also
 * rollback and retry, which only send devices a release an admin already
 * chose for them (docs/rollouts.md).
 */
const operations: { op: RolloutOperation; access: Role; summary: string }[] = [
  { op: 'start', access: 'operator', summary: 'Start a draft rollout: its devices are split into waves and the first wave is sent the release' },
  { op: 'pause', access: 'operator', summary: 'Pause a running rollout: no further devices are sent the release; those updating finish' },
  { op: 'resume', access: 'operator', summary: 'Resume a paused rollout; failures so far are accepted, only new ones count against the threshold' },
  { op: 'cancel', access: 'operator', summary: 'Cancel a rollout: devices not yet sent the release never get it; devices already sent it keep it' },
  { op: 'rollback', access: 'operator', summary: 'Roll back: every device sent the release (failed or finished) returns to the release it ran before' },
  { op: 'retry', access: 'operator', summary: 'Send the release again to the failed devices only (the rollout runs again)' },
  { op: 'advance', access: 'operator', summary: 'Start the next wave now (how a manual rollout moves on; also overrides the advance rule of the others)' },
]

export function registerRolloutRoutes(
  api: RouteRegistry,
  deps: {
    rollouts: RolloutStore
    rolloutsIn: (trx: Kysely<Database>) => RolloutStore
    /** After a commit: tick the engine now and nudge the devices whose release changed. */
    changed(devices: string[]): void
  },
) {
  const { rollouts } = deps

  api.route({
    method: 'post',
    path: '/api/rollouts',
    summary:
      'Create a rollout of a software release to a fleet (optionally narrowed by a label selector) or to explicit devices, with a strategy (immediate, manual, canary, rolling) and thresholds; a draft unless start is true',
    tag: 'rollouts',
    access: 'admin',
    status: 201,
    body: createRolloutBody,
    async handler({ body, user, transaction }) {
      const id = await transaction(async (trx, audit, afterCommit) => {
        const store = deps.rolloutsIn(trx)
        let created = await store.create(body, user.username)
        await audit('rollout.create', 'rollout', created.id, {
          software_id: created.software_id,
          version: created.version,
          fleet_id: created.fleet_id,
          selector: created.selector,
          devices: created.device_ids?.length ?? null,
          strategy: created.strategy,
          settings: created.settings,
        })
        if (body.start) {
          created = (await store.operate(created.id, 'start', user.username)).rollout
          await audit('rollout.start', 'rollout', created.id, {})
          afterCommit(() => deps.changed([]))
        }
        return created.id
      })
      return rollouts.get(id)
    },
  })

  api.route({
    method: 'get',
    path: '/api/rollouts',
    summary: 'List rollouts, newest first, each with device counts per state; filter by status, fleet_id or software_id',
    tag: 'rollouts',
    access: 'viewer',
    query: listQuery,
    async handler({ query }) {
      const { items, total } = await rollouts.list(query)
      return page(items, total, query)
    },
  })

  api.route({
    method: 'get',
    path: '/api/rollouts/:id',
    summary: 'Get a rollout: device counts per state, its waves, and every device with its state and the reason in words',
    tag: 'rollouts',
    access: 'viewer',
    async handler({ params }) {
      return rollouts.get(params.id!)
    },
  })

  for (const { op, access, summary } of operations) {
    api.route({
      method: 'post',
      path: `/api/rollouts/:id/${op}`,
      summary,
      tag: 'rollouts',
      access,
      async handler({ params, user, transaction }) {
        const id = await transaction(async (trx, audit, afterCommit) => {
          const { rollout, pinned } = await deps.rolloutsIn(trx).operate(params.id!, op, user.username)
          await audit(`rollout.${op}`, 'rollout', rollout.id, { status: rollout.status, devices_changed: pinned.length })
          afterCommit(() => deps.changed(pinned))
          return rollout.id
        })
        return rollouts.get(id)
      },
    })
  }
}
