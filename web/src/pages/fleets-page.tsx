import { useState } from 'preact/hooks'
import { fleets } from '../api/endpoints'
import { useLiveEvents } from '../state/live-events'
import { navigate, setQuery, useLocation } from '../state/router'
import { useCan } from '../state/session'
import { formatDate } from '../ui/format'
import { Icon } from '../ui/icons'
import { Card, PageHeader, Pagination } from '../ui/page'
import { SearchBox } from '../ui/search-box'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { toast } from '../ui/toasts'
import { useDebounced, useResource } from '../ui/use-resource'
import { FleetFormModal } from './fleet-form'

const PAGE = 25

export function FleetsPage() {
  const { query } = useLocation()
  const q = query.get('q') ?? ''
  const [offset, setOffset] = useState(0)
  const isAdmin = useCan('admin')
  const creating = query.get('new') === '1'
  const list = useResource(() => fleets.list({ q, limit: PAGE, offset }), [q, offset])
  useLiveEvents(useDebounced(list.reload, 400))

  return (
    <div class="page">
      <PageHeader
        title="Fleets"
        subtitle="Groups of devices that share software and environment."
        actions={
          isAdmin && (
            <button class="btn btn-primary" onClick={() => setQuery({ new: '1' })}>
              <Icon name="plus" size={16} /> New fleet
            </button>
          )
        }
      />
      <Card flush>
        <div class="toolbar">
          <SearchBox value={q} placeholder="Search fleets by name" onSearch={(value) => (setOffset(0), setQuery({ q: value }))} />
          {list.data && <span class="toolbar-count">{list.data.total} {list.data.total === 1 ? 'fleet' : 'fleets'}</span>}
        </div>
        {list.error ? (
          <ErrorState error={list.error} retry={list.reload} />
        ) : !list.data ? (
          <Loading />
        ) : list.data.items.length === 0 ? (
          <EmptyState
            icon="fleets"
            title={q ? `No fleet matches “${q}”` : 'No fleets yet'}
            action={
              isAdmin && !q && (
                <button class="btn btn-primary" onClick={() => setQuery({ new: '1' })}>
                  Create the first fleet
                </button>
              )
            }
          >
            {!q && 'Fleets group devices so you can deploy software and set variables once for all of them.'}
          </EmptyState>
        ) : (
          <table class="table" data-testid="fleets-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Description</th>
                <th class="num">Devices</th>
                <th>Online</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((f) => {
                const pct = f.device_count ? Math.round((f.online_count / f.device_count) * 100) : 0
                return (
                  <tr key={f.id} class="clickable" onClick={(e) => !(e.target as Element).closest('a') && navigate(`/fleets/${f.id}`)}>
                    <td>
                      <a class="strong" href={`/fleets/${f.id}`}>
                        {f.name}
                      </a>
                    </td>
                    <td class="muted truncate">{f.description || '—'}</td>
                    <td class="num">{f.device_count}</td>
                    <td>
                      <div class="inline-bar">
                        <div class="bar">
                          <div class="bar-fill" style={{ width: `${pct}%` }} />
                        </div>
                        <span>
                          {f.online_count}/{f.device_count}
                        </span>
                        {f.attention_count ? <span class="badge pill tone-red attention-pill">{f.attention_count} need attention</span> : null}
                      </div>
                    </td>
                    <td class="muted">{formatDate(f.created_at)}</td>
                  </tr>
                )
              })}
            </tbody>
          </table>
        )}
        {list.data && <Pagination total={list.data.total} limit={PAGE} offset={offset} onChange={setOffset} />}
      </Card>
      {creating && isAdmin && (
        <FleetFormModal
          onClose={() => setQuery({ new: undefined })}
          onSaved={(fleet) => {
            toast('success', 'Fleet created', fleet.name)
            navigate(`/fleets/${fleet.id}`)
          }}
        />
      )}
    </div>
  )
}
