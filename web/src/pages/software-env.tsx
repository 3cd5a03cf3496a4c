import { useState } from 'preact/hooks'
import { software } from '../api/endpoints'
import type { EnvVar, Software } from '../api/types'
import { EnvEditorModal } from '../env/env-editor'
import { asVars } from '../env/env-model'
import { VarsTable } from '../env/level-vars'
import { useCan } from '../state/session'
import { Icon } from '../ui/icons'
import { Card } from '../ui/page'
import { ErrorState, Loading } from '../ui/states'
import { toast } from '../ui/toasts'
import { useResource } from '../ui/use-resource'

interface Defaults {
  vars: Record<string, EnvVar>
  services: Record<string, Record<string, EnvVar>>
}

function normalize(body: unknown): Defaults {
  const record = (body && typeof body === 'object' ? body : {}) as { vars?: unknown; services?: Record<string, unknown> }
  const services: Defaults['services'] = {}
  for (const [name, value] of Object.entries(record.services ?? {})) services[name] = asVars(value)
  return { vars: asVars(record.vars ?? {}), services }
}

const ALL = '*'

/** Software defaults: for all services, then per service. Fleets and devices override them. */
export function SoftwareEnv(props: { software: Software }) {
  const id = props.software.id
  const canEdit = useCan('admin')
  const data = useResource(async () => normalize(await software.envVars(id)), [id])
  const [editing, setEditing] = useState<string | null>(null)

  if (data.error) return <Card><ErrorState error={data.error} retry={data.reload} feature="Default variables" /></Card>
  if (!data.data) return <Card><Loading /></Card>
  const d = data.data

  async function save(container: string, vars: Record<string, EnvVar>) {
    const services = Object.fromEntries(Object.entries(d.services).map(([name, v]) => [name, { vars: v }]))
    const body = container === ALL ? { vars, services } : { vars: d.vars, services: { ...services, [container]: { vars } } }
    await software.putEnv(id, body)
    toast('success', 'Defaults saved', container === ALL ? 'all services' : container)
    setEditing(null)
    data.reload()
  }

  const blocks: [string, Record<string, EnvVar>][] = [[ALL, d.vars], ...Object.entries(d.services).sort(([a], [b]) => a.localeCompare(b))]
  return (
    <Card
      title="Default variables"
      actions={
        canEdit && (
          <button class="btn btn-secondary btn-sm" onClick={() => setEditing('')}>
            <Icon name="plus" size={14} /> Defaults for a service
          </button>
        )
      }
    >
      <p class="muted">The first level of every device's environment. Service defaults override the all-services ones; fleets and devices override both.</p>
      {blocks.map(([name, vars]) => (
        <div class="container-block" key={name}>
          <div class="container-head">
            <span class={name === ALL ? 'strong' : 'mono strong'}>{name === ALL ? 'All services' : name}</span>
            {canEdit && (
              <button class="btn btn-ghost btn-sm" onClick={() => setEditing(name)}>
                <Icon name="edit" size={14} /> Edit
              </button>
            )}
          </div>
          <VarsTable vars={vars} />
        </div>
      ))}
      {editing !== null && (
        <EnvEditorModal
          title={editing === ALL ? 'Defaults for all services' : editing ? `Defaults for ${editing}` : 'Defaults for a service'}
          container={editing || undefined}
          askContainer={!editing}
          vars={editing === ALL ? d.vars : (d.services[editing] ?? {})}
          onClose={() => setEditing(null)}
          onSave={save}
        />
      )}
    </Card>
  )
}
