import { devices, fleets } from '../api/endpoints'
import { LevelVarsPanel } from '../env/level-vars'
import { ResolvedEnvView } from '../env/resolved-view'
import { setQuery, useLocation } from '../state/router'
import { useCan } from '../state/session'
import { Card, PageHeader } from '../ui/page'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { useResource } from '../ui/use-resource'

/**
 * The environment hierarchy in one place: pick a device to see what each of
 * its containers gets and from which level, or a fleet to edit its variables.
 */
export function EnvPage() {
  const { query } = useLocation()
  const scope = query.get('scope') === 'fleet' ? 'fleet' : 'device'
  const canEdit = useCan('operator')
  const deviceList = useResource(() => devices.list({ limit: 500 }), [])
  const fleetList = useResource(() => fleets.list({ limit: 500 }), [])
  const list = scope === 'fleet' ? fleetList : deviceList
  const options = scope === 'fleet' ? (fleetList.data?.items ?? []).map((f) => ({ id: f.id, label: f.name })) : (deviceList.data?.items ?? []).map((d) => ({ id: d.id, label: `${d.name} (${d.device_id})` }))
  const selected = query.get('id') ?? options[0]?.id ?? ''

  return (
    <div class="page">
      <PageHeader title="Environment" subtitle="Variables merge software defaults → fleet → device; the later level wins. Secrets are never shown." />
      <div class="toolbar toolbar-bare">
        <div class="segmented" role="group" aria-label="Scope">
          <button class={scope === 'device' ? 'active' : ''} onClick={() => setQuery({ scope: undefined, id: undefined })}>
            Device (inherited view)
          </button>
          <button class={scope === 'fleet' ? 'active' : ''} onClick={() => setQuery({ scope: 'fleet', id: undefined })}>
            Fleet variables
          </button>
        </div>
        <select class="select-sm" aria-label={scope === 'fleet' ? 'Fleet' : 'Device'} value={selected} onChange={(e) => setQuery({ id: e.currentTarget.value })}>
          {options.map((o) => (
            <option key={o.id} value={o.id}>
              {o.label}
            </option>
          ))}
        </select>
      </div>
      {list.error ? (
        <ErrorState error={list.error} retry={list.reload} />
      ) : !list.data ? (
        <Loading />
      ) : !selected ? (
        <EmptyState icon="env" title={scope === 'fleet' ? 'No fleets yet' : 'No devices yet'} />
      ) : scope === 'fleet' ? (
        <Card title="Fleet variables" key={`f-${selected}`}>
          <LevelVarsPanel
            level="fleet"
            canEdit={canEdit}
            load={() => fleets.envVars(selected)}
            save={(container, vars) => fleets.putEnv(selected, container, vars)}
            remove={(container) => fleets.deleteEnv(selected, container)}
          />
        </Card>
      ) : (
        <Card title="Effective environment" key={`d-${selected}`} actions={<a href={`/devices/${selected}/env`}>Edit device variables</a>}>
          <ResolvedEnvView deviceId={selected} />
        </Card>
      )}
    </div>
  )
}
