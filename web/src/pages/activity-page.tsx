import { useState } from 'preact/hooks'
import { audit } from '../api/endpoints'
import { setQuery, useLocation } from '../state/router'
import { formatDate, timeAgo } from '../ui/format'
import { auditObject, auditPhrase, countOf } from '../ui/audit-sentence'
import { Card, PageHeader, Pagination } from '../ui/page'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { useResource } from '../ui/use-resource'

const PAGE = 50
const targetTypes: [string, string][] = [
  ['', 'Everything'],
  ['fleet', 'Fleets'],
  ['device', 'Devices'],
  ['user', 'Users'],
  ['api_token', 'API tokens'],
  ['registration_token', 'Registration tokens'],
  ['software', 'Software'],
  ['rollout', 'Rollouts'],
  ['exposed_service', 'Services'],
  ['certificate', 'Certificates'],
]

function targetHref(type: string, id: string | null): string | undefined {
  if (!id) return undefined
  if (type === 'fleet') return `/fleets/${id}`
  if (type === 'device') return `/devices/${id}`
  if (type === 'software') return `/software/${id}`
  if (type === 'rollout') return `/rollouts/${id}`
  return undefined
}

/** The audit log: who did what, when and from where. */
export function ActivityPage() {
  const { query } = useLocation()
  const targetType = query.get('type') ?? ''
  const [offset, setOffset] = useState(0)
  const list = useResource(() => audit.list({ target_type: targetType, limit: PAGE, offset }), [targetType, offset])

  return (
    <div class="page">
      <PageHeader title="Activity" subtitle="Every change made through the API or this console, newest first." />
      <Card flush>
        <div class="toolbar">
          <select class="select-sm" aria-label="Filter by target" value={targetType} onChange={(e) => (setOffset(0), setQuery({ type: e.currentTarget.value || undefined }))}>
            {targetTypes.map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </select>
          {list.data && <span class="toolbar-count">{countOf(list.data.total, 'entry', 'entries')}</span>}
        </div>
        {list.error ? (
          <ErrorState error={list.error} retry={list.reload} />
        ) : !list.data ? (
          <Loading />
        ) : !list.data.items.length ? (
          <EmptyState icon="activity" title="Nothing recorded yet" />
        ) : (
          <table class="table">
            <thead>
              <tr>
                <th>When</th>
                <th>Who</th>
                <th>What</th>
                <th>From</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((e) => {
                const href = targetHref(e.target_type, e.target_id)
                const object = auditObject(e)
                return (
                  <tr key={e.id}>
                    <td class="muted" title={formatDate(e.created_at)}>
                      {timeAgo(e.created_at)}
                    </td>
                    <td class="strong">{e.actor}</td>
                    <td title={e.action}>
                      {auditPhrase(e.action)} {object && href ? <a href={href}>{object}</a> : object}
                    </td>
                    <td class="mono small muted">{e.ip_address ?? '—'}</td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        )}
        {list.data && <Pagination total={list.data.total} limit={PAGE} offset={offset} onChange={setOffset} />}
      </Card>
    </div>
  )
}
