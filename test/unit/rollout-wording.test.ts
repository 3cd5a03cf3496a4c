import t from 'tap'
import fc from 'fast-check'
import { activeRolloutId, errorSentence } from '../../web/src/api/error-text.js'
import { auditSentence } from '../../web/src/ui/audit-sentence.js'
import { planWaves as consolePlan, progressWords, rolloutActions, strategySentence } from '../../web/src/ui/rollout-wording.js'
import { planWaves as gatewayPlan, ROLLOUT_DEFAULTS } from '../../server/rollouts/rollout-settings.js'
import type { RolloutStatus } from '../../web/src/api/rollout-types.js'

const id = '5f0c2a1e-0000-4000-8000-000000000000'

t.test('rollout errors read as sentences a person can act on', async (t) => {
  const active = `rollout ${id} of this software to this fleet is still running: finish, cancel or roll it back first`
  t.equal(errorSentence('ROLLOUT_ACTIVE', active), 'Another rollout of this software to this fleet is still running. Finish, cancel or roll it back first.')
  t.equal(activeRolloutId(active), id, 'the console can link to the rollout in the way')
  t.equal(
    errorSentence('ROLLOUT_ACTIVE', `rollout ${id} of this software to one of these devices is still draft: finish, cancel or roll it back first`),
    'Another rollout of this software to some of these devices is still waiting as a draft. Finish, cancel or roll it back first.',
  )
  t.equal(errorSentence('ROLLOUT_STATE', 'cannot pause a rollout that is completed'), 'This rollout is completed, so it cannot be paused now. The page shows its current state.')
  t.equal(errorSentence('ROLLOUT_STATE', 'cannot rollback a rollout that is rolled back'), 'This rollout is rolled back, so it cannot be rolled back now. The page shows its current state.')
  t.equal(errorSentence('ROLLOUT_STATE', 'no device of this rollout has failed'), 'No device of this rollout has failed.', 'other ROLLOUT_STATE messages keep the API sentence')
  t.match(errorSentence('ROLLOUT_NO_DEVICES', "no device matches the rollout's targets (fleet, selector or devices)"), /^No device matches this rollout/)
  t.equal(errorSentence('ROLLOUT_NOT_FOUND', 'rollout not found'), 'This rollout no longer exists. It may have been deleted.')
})

t.test('rollout audit rows name the rollout by its short id and version', async (t) => {
  const row = (action: string, details: Record<string, unknown> | null) => ({ action, target_type: 'rollout', target_id: id, details })
  t.equal(auditSentence(row('rollout.create', { version: 'v2', strategy: 'canary', software_id: id })), 'created the rollout 5f0c2a1e of version v2 (canary)')
  t.equal(auditSentence(row('rollout.pause', { status: 'paused', devices_changed: 0 })), 'paused the rollout 5f0c2a1e')
  t.equal(auditSentence(row('rollout.retry', { status: 'running' })), 'retried the failed devices of the rollout 5f0c2a1e')
  t.equal(auditSentence(row('rollout.advance', null)), 'started the next wave of the rollout 5f0c2a1e')
  t.equal(auditSentence(row('rollout.rollback', {})), 'rolled back the rollout 5f0c2a1e')
})

t.test('controls: only the operations valid in the state, only for operators and admins', async (t) => {
  const r = (status: RolloutStatus, failed = 0, strategy: 'canary' | 'manual' = 'canary', current_wave = 0, wave_count = 2) => ({ status, strategy, current_wave, wave_count, counts: { failed } })
  t.same(rolloutActions(r('draft'), 'operator'), ['start', 'cancel'])
  t.same(rolloutActions(r('running'), 'operator'), ['pause', 'cancel', 'rollback'])
  t.same(rolloutActions(r('running', 1), 'admin'), ['pause', 'retry', 'cancel', 'rollback'], 'retry once a device failed')
  t.same(rolloutActions(r('paused', 1), 'operator'), ['resume', 'retry', 'cancel', 'rollback'])
  t.same(rolloutActions(r('running', 0, 'manual'), 'operator'), ['advance', 'pause', 'cancel', 'rollback'], 'a manual rollout offers its next wave')
  t.same(rolloutActions(r('running', 0, 'manual', 1, 2), 'operator'), ['pause', 'cancel', 'rollback'], 'not on its last wave')
  t.same(rolloutActions(r('completed'), 'operator'), ['rollback'])
  t.same(rolloutActions(r('failed', 2), 'operator'), ['retry', 'rollback'])
  for (const status of ['cancelled', 'rolled_back'] as const) t.same(rolloutActions(r(status, 3), 'admin'), [], `nothing once ${status}`)
  for (const status of ['draft', 'running', 'paused', 'completed', 'failed'] as const) t.same(rolloutActions(r(status, 1), 'viewer'), [], `a viewer gets no controls (${status})`)
})

t.test("the wizard's wave plan is the gateway's, for any devices and settings", async (t) => {
  let runs = 0
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 5000 }),
      fc.constantFrom('immediate', 'manual', 'canary', 'rolling' as const),
      fc.integer({ min: 1, max: 100 }),
      fc.option(fc.integer({ min: 1, max: 500 }), { nil: null }),
      fc.integer({ min: 1, max: 100 }),
      fc.boolean(),
      (total, strategy, canary_percent, wave_size, wave_percent, doubling) => {
        runs++
        const s = { ...ROLLOUT_DEFAULTS, canary_percent, wave_size, wave_percent, doubling }
        const mine = consolePlan(total, strategy, s)
        return JSON.stringify(mine) === JSON.stringify(gatewayPlan(total, strategy, s)) && mine.reduce((a, b) => a + b, 0) === total
      },
    ),
    { numRuns: 150 },
  )
  t.pass('the same waves, every device in one of them')
  t.comment(`ran ${runs} cases`)
})

t.test('progress and strategy in words', async (t) => {
  const counts = { pending: 1, downloading: 0, installing: 1, verifying: 1, succeeded: 3, failed: 1, rolled_back: 0, skipped: 1, cancelled: 0 }
  t.equal(progressWords(8, counts), '3 of 8 succeeded · 2 updating · 1 failed · 1 skipped')
  t.equal(progressWords(0, { ...counts, succeeded: 0 }), 'no devices yet')
  t.equal(strategySentence('canary', { ...ROLLOUT_DEFAULTS, wave_percent: 100 }), 'a 10% canary, then the rest')
  t.equal(strategySentence('rolling', { ...ROLLOUT_DEFAULTS, wave_size: 5, doubling: true }), 'waves of 5 devices, each twice the last')
  t.equal(strategySentence('manual', ROLLOUT_DEFAULTS), 'manual waves of 25%')
  t.equal(strategySentence('immediate', ROLLOUT_DEFAULTS), 'every device at once')
})
