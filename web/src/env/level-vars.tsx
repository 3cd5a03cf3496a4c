import { useState } from 'preact/hooks'
import type { EnvVar } from '../api/types'
import { Pill } from '../ui/badges'
import { Icon } from '../ui/icons'
import { ConfirmModal } from '../ui/modal'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { toast, toastError } from '../ui/toasts'
import { useResource } from '../ui/use-resource'
import { EnvEditorModal } from './env-editor'
import { normalizeLevel, SECRET_MASK } from './env-model'

export function VarsTable(props: { vars: Record<string, EnvVar> }) {
  const names = Object.keys(props.vars).sort()
  if (!names.length) return <p class="muted small">No variables.</p>
  return (
    <table class="table table-compact">
      <tbody>
        {names.map((name) => {
          const v = props.vars[name]!
          return (
            <tr key={name}>
              <td class="mono strong env-name">{name}</td>
              <td class="mono env-value">{v.secret ? <span class="masked">{SECRET_MASK}</span> : v.value}</td>
              <td>{v.secret && <Pill tone="amber">secret</Pill>}</td>
              <td class="muted small">{v.description}</td>
            </tr>
          )
        })}
      </tbody>
    </table>
  )
}

/**
 * The variables one level (a fleet or a device) sets, per container, with
 * editing. Used on the fleet and device pages and on the Environment page.
 */
export function LevelVarsPanel(props: {
  level: 'fleet' | 'device'
  load(): Promise<unknown>
  save(container: string, vars: Record<string, EnvVar>): Promise<unknown>
  remove(container: string): Promise<unknown>
  canEdit: boolean
  /** After a save or a removal, so views derived from these variables can refresh. */
  onChanged?(): void
}) {
  const data = useResource(async () => normalizeLevel(await props.load()), [])
  const [editing, setEditing] = useState<{ container?: string } | null>(null)
  const [removing, setRemoving] = useState<string | null>(null)

  if (data.error) return <ErrorState error={data.error} retry={data.reload} feature="Environment variables" />
  if (!data.data) return <Loading />
  const containers = Object.keys(data.data).sort()

  return (
    <div class="level-vars">
      <div class="section-bar">
        <p class="muted">
          Variables set on this {props.level}, per container. They override{' '}
          {props.level === 'fleet' ? 'the software defaults' : 'the software defaults and the fleet'}.
        </p>
        {props.canEdit && (
          <button class="btn btn-secondary btn-sm" onClick={() => setEditing({})}>
            <Icon name="plus" size={14} /> Add container variables
          </button>
        )}
      </div>
      {containers.length === 0 ? (
        <EmptyState icon="env" title={`No ${props.level} variables`}>
          This {props.level} inherits everything from the levels above it.
        </EmptyState>
      ) : (
        containers.map((container) => (
          <div class="container-block" key={container}>
            <div class="container-head">
              <span class="mono strong">{container}</span>
              {props.canEdit && (
                <div class="row-actions">
                  <button class="btn btn-ghost btn-sm" onClick={() => setEditing({ container })}>
                    <Icon name="edit" size={14} /> Edit
                  </button>
                  <button class="btn btn-ghost btn-sm danger" onClick={() => setRemoving(container)}>
                    <Icon name="trash" size={14} /> Remove
                  </button>
                </div>
              )}
            </div>
            <VarsTable vars={data.data![container]!} />
          </div>
        ))
      )}
      {editing && (
        <EnvEditorModal
          title={editing.container ? `Variables for ${editing.container}` : 'Variables for a container'}
          container={editing.container}
          askContainer={!editing.container}
          vars={editing.container ? (data.data[editing.container] ?? {}) : {}}
          onClose={() => setEditing(null)}
          onSave={async (container, vars) => {
            await props.save(container, vars)
            toast('success', 'Variables saved', `${container} on this ${props.level}`)
            setEditing(null)
            data.reload()
            props.onChanged?.()
          }}
        />
      )}
      {removing && (
        <ConfirmModal
          title="Remove variables"
          message={`Remove every ${props.level} variable of ${removing}? The container falls back to the inherited values.`}
          confirmLabel="Remove"
          onClose={() => setRemoving(null)}
          onConfirm={() => {
            const container = removing
            setRemoving(null)
            props.remove(container).then(
              () => {
                toast('success', 'Variables removed', container)
                data.reload()
                props.onChanged?.()
              },
              (err) => toastError(err, 'Could not remove the variables'),
            )
          }}
        />
      )}
    </div>
  )
}
