import { setTimeout as sleep } from 'node:timers/promises'
import { rolloutDetail, type RolloutDetail } from './api-schemas.js'
import { CliError, EXIT, oneLine } from './cli-error.js'
import type { RemoteContext } from './remote-context.js'
import { durationFlag, rolloutId, TERMINAL_STATUSES } from './rollout-options.js'
import { watchLine } from './rollout-view.js'

const DEFAULT_INTERVAL_SECONDS = 2
/** A gateway restart or a dropped connection is not the end of a watch; this many failed polls in a row is. */
const MAX_FAILED_POLLS = 5
/** Device states worth a line of their own while watching: each comes with a reason the operator acts on. */
const NOTABLE = new Set(['failed', 'skipped', 'rolled_back'])

/** What a change looks like to a person: a new status, reason, wave or count. */
function signature(r: RolloutDetail): string {
  return JSON.stringify([r.status, r.reason, r.current_wave, r.wave_count, r.counts])
}

/**
 * `rollouts watch <id>`: polls the rollout and prints a line whenever its
 * progress changes (one JSON object per line with --json), and a line for
 * each device that fails, is skipped or rolled back, with its reason. Ends
 * when the rollout does: exit 0 when it completed, EXIT.unsuccessful (6) when
 * it failed, was rolled back or cancelled, so scripts can gate on it. A
 * paused rollout is still followed: an operator may resume it.
 */
export async function watchRollout(ctx: RemoteContext, ref: string, opts: { interval?: string; json?: boolean }): Promise<number> {
  const id = rolloutId(ref)
  const intervalMs = (opts.interval === undefined ? DEFAULT_INTERVAL_SECONDS : durationFlag(opts.interval, '--interval', 0.1, 3600)) * 1000
  const api = ctx.client()
  let last = ''
  const deviceStates = new Map<string, string>()
  for (let failures = 0; ; ) {
    let r: RolloutDetail
    try {
      r = await api.get(rolloutDetail, `/api/rollouts/${id}`, { notFound: `rollout ${ref}` })
      failures = 0
    } catch (err) {
      if (!(err instanceof CliError) || err.exitCode !== EXIT.server || ++failures >= MAX_FAILED_POLLS) throw err
      await sleep(intervalMs)
      continue
    }
    const now = signature(r)
    if (now !== last) {
      last = now
      if (opts.json) ctx.io.out(JSON.stringify(r) + '\n')
      else ctx.io.out(watchLine(r))
    }
    for (const d of r.devices) {
      if (deviceStates.get(d.id) !== d.state && NOTABLE.has(d.state) && !opts.json) ctx.io.out(`  ${oneLine(d.device_id, 100)}: ${d.state.replace('_', ' ')}${d.reason ? `: ${oneLine(d.reason)}` : ''}\n`)
      deviceStates.set(d.id, d.state)
    }
    if ((TERMINAL_STATUSES as readonly string[]).includes(r.status)) {
      if (r.status === 'completed') return EXIT.ok
      throw new CliError(EXIT.unsuccessful, `rollout ${r.id} ended ${r.status.replace('_', ' ')}${r.reason ? `: ${r.reason}` : ''}`)
    }
    await sleep(intervalMs)
  }
}
