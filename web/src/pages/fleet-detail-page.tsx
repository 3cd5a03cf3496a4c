import { useState } from 'preact/hooks'
import { fleets } from '../api/endpoints'
import { LevelVarsPanel } from '../env/level-vars'
import { useLiveEvents } from '../state/live-events'
import { navigate } from '../state/router'
import { useCan } from '../state/session'
import { formatDate } from '../ui/format'
import { Icon } from '../ui/icons'
import { ConfirmModal } from '../ui/modal'
import { Card, PageHeader, Pagination, Tabs } from '../ui/page'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { toast, toastError } from '../ui/toasts'
import { useDebounced, useResource } from '../ui/use-resource'
import { DeviceFormModal } from './device-form'
import { applyStatus, DeviceTable } from './device-table'
import { FleetFormModal } from './fleet-form'
import { FleetAgentCard } from './agent-version'
import { RolloutHistory } from './rollout-history'

const PAGE = 50

export function FleetDetailPage(props: { params: Record<string, string> }) {
  const id = props.params.id!
  const tab = props.params.tab ?? 'devices'
  const isAdmin = useCan('admin')
  const canEditEnv = useCan('operator')
  const [offset, setOffset] = useState(0)
  const [modal, setModal] = useState<'edit' | 'delete' | 'device' | null>(null)
  const fleet = useResource(() => fleets.get(id), [id])
  const members = useResource(() => fleets.devices(id, { limit: PAGE, offset }), [id, offset])
  const refetch = useDebounced(() => {
    fleet.reload()
    members.reload()
  }, 400)
  useLiveEvents((event) => {
    if (event.type === 'device.status') members.setData((page) => applyStatus(page, event))
    refetch()
  })

  if (fleet.error) return <div class="page"><ErrorState error={fleet.error} retry={fleet.reload} /></div>
  if (!fleet.data) return <div class="page"><Loading /></div>
  const f = fleet.data

  async function remove() {
    try {
      await fleets.remove(id)
      toast('success', 'Fleet deleted', `${f.name}; its devices are now unassigned`)
      navigate('/fleets')
    } catch (err) {
      toastError(err, 'Could not delete the fleet')
      setModal(null)
    }
  }

  return (
    <div class="page">
      <PageHeader
        crumbs={[{ label: 'Fleets', href: '/fleets' }]}
        title={f.name}
        subtitle={f.description || 'No description'}
        actions={
          isAdmin && (
            <>
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
      <div class="facts">
        <div>
          <span>Devices</span>
          <strong>{f.device_count}</strong>
        </div>
        <div>
          <span>Online</span>
          <strong class="text-green">{f.online_count}</strong>
        </div>
        <div>
          <span>Offline or other</span>
          <strong>{f.device_count - f.online_count}</strong>
        </div>
        <div data-testid="fleet-attention">
          <span>Needs attention</span>
          <strong class={f.attention_count ? 'text-red' : ''}>{f.attention_count ?? 0}</strong>
        </div>
        <div>
          <span>Created</span>
          <strong class="small-strong">{formatDate(f.created_at)}</strong>
        </div>
      </div>
      <FleetAgentCard fleetId={id} />
      <Tabs
        active={tab}
        tabs={[
          { id: 'devices', label: 'Devices', href: `/fleets/${id}` },
          { id: 'env', label: 'Environment', href: `/fleets/${id}/env` },
          { id: 'rollouts', label: 'Rollouts', href: `/fleets/${id}/rollouts` },
        ]}
      />
      {tab === 'rollouts' ? (
        <Card
          flush
          title="Rollouts to this fleet"
          actions={isAdmin && <a class="btn btn-secondary btn-sm" href={`/rollouts/new?fleet_id=${id}`} data-testid="new-rollout"><Icon name="plus" size={14} /> New rollout</a>}
        >
          <RolloutHistory fleetId={id} />
        </Card>
      ) : tab === 'env' ? (
        <Card>
          <LevelVarsPanel
            level="fleet"
            canEdit={canEditEnv}
            load={() => fleets.envVars(id)}
            save={(container, vars) => fleets.putEnv(id, container, vars)}
            remove={(container) => fleets.deleteEnv(id, container)}
          />
        </Card>
      ) : (
        <Card
          flush
          title="Devices in this fleet"
          actions={
            isAdmin && (
              <button class="btn btn-secondary btn-sm" onClick={() => setModal('device')}>
                <Icon name="plus" size={14} /> Add device
              </button>
            )
          }
        >
          {members.error ? (
            <ErrorState error={members.error} retry={members.reload} />
          ) : !members.data ? (
            <Loading />
          ) : members.data.items.length === 0 ? (
            <EmptyState icon="devices" title="No devices in this fleet">
              Add a device here, or move existing devices into this fleet from their page.
            </EmptyState>
          ) : (
            <DeviceTable items={members.data.items} />
          )}
          {members.data && <Pagination total={members.data.total} limit={PAGE} offset={offset} onChange={setOffset} />}
        </Card>
      )}
      {modal === 'edit' && (
        <FleetFormModal
          fleet={f}
          onClose={() => setModal(null)}
          onSaved={(saved) => {
            fleet.setData(saved)
            setModal(null)
            toast('success', 'Fleet saved', saved.name)
          }}
        />
      )}
      {modal === 'device' && (
        <DeviceFormModal
          fleets={[f]}
          fleetId={f.id}
          onClose={() => setModal(null)}
          onSaved={(device) => {
            setModal(null)
            toast('success', 'Device added', device.name)
            refetch()
          }}
        />
      )}
      {modal === 'delete' && (
        <ConfirmModal
          title="Delete fleet"
          message={`Delete ${f.name}? Its ${f.device_count} devices stay registered but become unassigned, and its fleet variables are removed.`}
          confirmLabel="Delete fleet"
          onClose={() => setModal(null)}
          onConfirm={() => void remove()}
        />
      )}
    </div>
  )
}
