import { useState } from 'preact/hooks'
import { devices, fleets } from '../api/endpoints'
import type { Device } from '../api/types'
import { useLiveEvents } from '../state/live-events'
import { navigate } from '../state/router'
import { useCan } from '../state/session'
import { StatusBadge } from '../ui/badges'
import { Icon } from '../ui/icons'
import { ConfirmModal } from '../ui/modal'
import { PageHeader, Tabs } from '../ui/page'
import { ErrorState, Loading } from '../ui/states'
import { toast, toastError } from '../ui/toasts'
import { useResource } from '../ui/use-resource'
import { DeviceEditModal, MoveDeviceModal } from './device-edit'
import { DeviceEnv } from './device-env'
import { DeviceLogs } from './device-logs'
import { DeviceMetrics } from './device-metrics'
import { DeviceOverview } from './device-overview'
import { DeviceServices } from './device-services'
import { DeviceTerminal } from './device-terminal'

export function DeviceDetailPage(props: { params: Record<string, string> }) {
  const ref = props.params.id!
  const tab = props.params.tab ?? 'overview'
  const isAdmin = useCan('admin')
  const device = useResource(() => devices.get(ref), [ref])
  const fleet = useResource(() => (device.data?.fleet_id ? fleets.get(device.data.fleet_id) : Promise.resolve(undefined)), [device.data?.fleet_id])
  const [modal, setModal] = useState<'edit' | 'move' | 'delete' | null>(null)

  useLiveEvents((event) => {
    const d = device.data
    if (!d || (event.id && event.id !== d.id)) return
    if (event.type === 'device.status') device.setData((old) => (old?.id === event.id ? { ...old, status: event.status, last_seen: event.last_seen ?? old.last_seen } : old))
    else device.reload()
  })

  if (device.error) return <div class="page"><ErrorState error={device.error} retry={device.reload} /></div>
  if (!device.data) return <div class="page"><Loading /></div>
  const d = device.data
  const base = `/devices/${encodeURIComponent(ref)}`

  async function remove() {
    try {
      await devices.remove(d.id)
      toast('success', 'Device deleted', `${d.name}; its SSH port and subdomain are released`)
      navigate('/devices')
    } catch (err) {
      toastError(err, 'Could not delete the device')
      setModal(null)
    }
  }

  const saved = (next: Device, message: string) => {
    device.setData(next)
    setModal(null)
    toast('success', message, next.name)
  }

  return (
    <div class="page">
      <PageHeader
        crumbs={[{ label: 'Devices', href: '/devices' }]}
        title={
          <span class="title-with-badge">
            {d.name} <StatusBadge status={d.status} />
          </span>
        }
        subtitle={
          <span class="mono">
            {d.device_id}
            {fleet.data && (
              <>
                {' · '}
                <a href={`/fleets/${fleet.data.id}`}>{fleet.data.name}</a>
              </>
            )}
          </span>
        }
        actions={
          isAdmin && (
            <>
              <button class="btn btn-secondary" onClick={() => setModal('move')}>
                <Icon name="move" size={16} /> Move
              </button>
              <button class="btn btn-secondary" onClick={() => setModal('edit')}>
                <Icon name="edit" size={16} /> Edit
              </button>
              <button class="btn btn-secondary danger" onClick={() => setModal('delete')}>
                <Icon name="trash" size={16} /> Delete
              </button>
            </>
          )
        }
      />
      <Tabs
        active={tab}
        tabs={[
          { id: 'overview', label: 'Overview', href: base },
          { id: 'services', label: 'Services', href: `${base}/services` },
          { id: 'logs', label: 'Logs', href: `${base}/logs` },
          { id: 'metrics', label: 'Metrics', href: `${base}/metrics` },
          { id: 'env', label: 'Environment', href: `${base}/env` },
          { id: 'terminal', label: 'Terminal', href: `${base}/terminal` },
        ]}
      />
      {tab === 'services' ? (
        <DeviceServices device={d} />
      ) : tab === 'logs' ? (
        <DeviceLogs device={d} />
      ) : tab === 'metrics' ? (
        <DeviceMetrics device={d} />
      ) : tab === 'env' ? (
        <DeviceEnv device={d} />
      ) : tab === 'terminal' ? (
        <DeviceTerminal device={d} />
      ) : (
        <DeviceOverview device={d} fleet={fleet.data} />
      )}
      {modal === 'edit' && <DeviceEditModal device={d} onClose={() => setModal(null)} onSaved={(next) => saved(next, 'Device saved')} />}
      {modal === 'move' && <MoveDeviceModal device={d} onClose={() => setModal(null)} onSaved={(next) => saved(next, 'Device moved')} />}
      {modal === 'delete' && (
        <ConfirmModal
          title="Delete device"
          message={`Delete ${d.name} (${d.device_id})? Its tunnel is refused from now on, and its SSH port and subdomain are released.`}
          confirmLabel="Delete device"
          onClose={() => setModal(null)}
          onConfirm={() => void remove()}
        />
      )}
    </div>
  )
}
