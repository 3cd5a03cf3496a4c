import { useMemo, useState } from 'preact/hooks'
import { devices, fleets } from '../api/endpoints'
import type { DeviceStatus } from '../api/types'
import { useLiveEvents } from '../state/live-events'
import { navigate, setQuery, useLocation } from '../state/router'
import { useCan } from '../state/session'
import { Icon } from '../ui/icons'
import { Card, PageHeader, Pagination } from '../ui/page'
import { SearchBox } from '../ui/search-box'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { toast } from '../ui/toasts'
import { useDebounced, useResource } from '../ui/use-resource'
import { DeviceFormModal } from './device-form'
import { applyStatus, DeviceTable } from './device-table'

const PAGE = 50
const filters: { id: DeviceStatus | ''; label: string }[] = [
  { id: '', label: 'All' },
  { id: 'online', label: 'Online' },
  { id: 'offline', label: 'Offline' },
  { id: 'updating', label: 'Updating' },
  { id: 'error', label: 'Error' },
]

export function DevicesPage() {
  const { query } = useLocation()
  const q = query.get('q') ?? ''
  const status = (query.get('status') ?? '') as DeviceStatus | ''
  const fleetId = query.get('fleet') ?? ''
  const [offset, setOffset] = useState(0)
  const isAdmin = useCan('admin')
  const attention = query.get('attention') === '1' ? '1' : undefined
  const list = useResource(() => devices.list({ q, status, fleet_id: fleetId, attention, limit: PAGE, offset }), [q, status, fleetId, attention, offset])
  const fleetList = useResource(() => fleets.list({ limit: 500 }), [])
  const fleetMap = useMemo(() => new Map((fleetList.data?.items ?? []).map((f) => [f.id, f])), [fleetList.data])
  const refetch = useDebounced(list.reload, 400)

  useLiveEvents((event) => {
    // A status change that moves a device out of the filtered set needs the list again; otherwise patch the row in place.
    if (event.type === 'device.status' && !status) list.setData((page) => applyStatus(page, event))
    else refetch()
  })

  return (
    <div class="page">
      <PageHeader
        title="Devices"
        subtitle="Every device registered with this gateway. Status follows each device's tunnel, live."
        actions={
          isAdmin && (
            <button class="btn btn-primary" onClick={() => setQuery({ new: '1' })}>
              <Icon name="plus" size={16} /> Add device
            </button>
          )
        }
      />
      <Card flush>
        <div class="toolbar">
          <SearchBox value={q} placeholder="Search name, device ID, subdomain" onSearch={(value) => (setOffset(0), setQuery({ q: value }))} />
          <div class="segmented" role="group" aria-label="Filter by status">
            {filters.map((f) => (
              <button key={f.id} class={status === f.id ? 'active' : ''} onClick={() => (setOffset(0), setQuery({ status: f.id || undefined }))}>
                {f.label}
              </button>
            ))}
          </div>
          <select class="select-sm" aria-label="Filter by fleet" value={fleetId} onChange={(e) => (setOffset(0), setQuery({ fleet: e.currentTarget.value || undefined }))}>
            <option value="">All fleets</option>
            {fleetList.data?.items.map((f) => (
              <option key={f.id} value={f.id}>
                {f.name}
              </option>
            ))}
          </select>
          {list.data && <span class="toolbar-count">{list.data.total} {list.data.total === 1 ? 'device' : 'devices'}</span>}
        </div>
        {list.error ? (
          <ErrorState error={list.error} retry={list.reload} />
        ) : !list.data ? (
          <Loading />
        ) : list.data.items.length === 0 ? (
          <EmptyState icon="devices" title={q || status || fleetId ? 'No device matches these filters' : 'No devices yet'}>
            {!(q || status || fleetId) && 'Devices appear here when they register with a provisioning token, or when you add one by hand.'}
          </EmptyState>
        ) : (
          <DeviceTable items={list.data.items} fleets={fleetMap} showFleet />
        )}
        {list.data && <Pagination total={list.data.total} limit={PAGE} offset={offset} onChange={setOffset} />}
      </Card>
      {query.get('new') === '1' && isAdmin && (
        <DeviceFormModal
          fleets={fleetList.data?.items ?? []}
          fleetId={fleetId || undefined}
          onClose={() => setQuery({ new: undefined })}
          onSaved={(device) => {
            toast('success', 'Device added', `${device.name} (${device.device_id})`)
            setQuery({ new: undefined })
            list.reload()
          }}
        />
      )}
    </div>
  )
}
