import type { RolloutStatus } from '../api/rollout-types'
import { setQuery, useLocation } from '../state/router'
import { useCan } from '../state/session'
import { Icon } from '../ui/icons'
import { Card, PageHeader } from '../ui/page'
import { statusWords } from '../ui/rollout-wording'
import { RolloutHistory } from './rollout-history'

const filters: RolloutStatus[] = ['running', 'paused', 'draft', 'completed', 'failed', 'cancelled', 'rolled_back']

/** Every rollout, newest first, filtered by state; admins start new ones here. */
export function RolloutsPage() {
  const isAdmin = useCan('admin')
  const { query } = useLocation()
  const status = (query.get('status') ?? '') as RolloutStatus | ''
  return (
    <div class="page">
      <PageHeader
        title="Rollouts"
        subtitle="Versions sent to devices in waves. A rollout stops by itself when too many devices fail."
        actions={
          isAdmin && (
            <a class="btn btn-primary" href="/rollouts/new" data-testid="new-rollout">
              <Icon name="plus" size={16} /> New rollout
            </a>
          )
        }
      />
      <Card flush>
        <div class="toolbar">
          <select class="select-sm" aria-label="Filter by state" value={status} onChange={(e) => setQuery({ status: e.currentTarget.value || undefined })}>
            <option value="">Every state</option>
            {filters.map((s) => (
              <option key={s} value={s}>
                {statusWords[s].label}
              </option>
            ))}
          </select>
        </div>
        <RolloutHistory status={status || undefined} />
      </Card>
    </div>
  )
}
