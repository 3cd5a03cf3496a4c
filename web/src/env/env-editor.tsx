import { useState } from 'preact/hooks'
import type { EnvVar } from '../api/types'
import { FormActions, FormError, useForm } from '../ui/form'
import { Icon } from '../ui/icons'
import { Modal } from '../ui/modal'
import { emptyRow, fromRows, toRows, type VarRow } from './env-model'

/**
 * Edits one level's variables for one container as rows (name, value, secret,
 * description). Saving replaces that container's set at this level. Stored
 * secrets are never shown: leave the field empty to keep one, type to replace it.
 */
export function EnvEditorModal(props: {
  title: string
  container?: string
  /** Ask for the container name (a new container at this level). */
  askContainer?: boolean
  vars: Record<string, EnvVar>
  onSave(container: string, vars: Record<string, EnvVar>): Promise<void>
  onClose(): void
}) {
  const [rows, setRows] = useState<VarRow[]>(() => {
    const initial = toRows(props.vars)
    return initial.length ? initial : [emptyRow()]
  })
  const [container, setContainer] = useState(props.container ?? '')
  // A bad variable comes back as `vars.NAME`: shown under the table, with its name.
  const form = useForm(['container', 'vars'], (field) => (field.startsWith('vars.') ? 'vars' : undefined))
  const [localError, setLocalError] = useState<string | undefined>()

  function update(key: number, patch: Partial<VarRow>) {
    setRows((rs) => rs.map((r) => (r.key === key ? { ...r, ...patch } : r)))
  }

  function save(event: Event) {
    event.preventDefault()
    setLocalError(undefined)
    const result = fromRows(rows)
    if ('error' in result) return setLocalError(result.error)
    if (!container.trim()) return setLocalError('Name the container these variables are for')
    void form.submit(() => props.onSave(container.trim(), result.vars))
  }

  return (
    <Modal title={props.title} onClose={props.onClose} wide>
      <form class="form" onSubmit={save} noValidate>
        {props.askContainer && (
          <div class="field">
            <label for="f-container">Container (compose service)</label>
            <input id="f-container" class="mono" value={container} placeholder="web" onInput={(e) => setContainer(e.currentTarget.value)} />
          </div>
        )}
        <table class="table table-edit">
          <thead>
            <tr>
              <th>Name</th>
              <th>Value</th>
              <th>Secret</th>
              <th>Description</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.key}>
                <td>
                  <input class="mono" aria-label="Variable name" value={row.name} placeholder="NAME" onInput={(e) => update(row.key, { name: e.currentTarget.value })} />
                </td>
                <td>
                  <input
                    class="mono"
                    aria-label="Value"
                    type={row.secret ? 'password' : 'text'}
                    autocomplete="off"
                    value={row.value}
                    placeholder={row.keptSecret ? 'unchanged (stored secret)' : 'value'}
                    onInput={(e) => update(row.key, { value: e.currentTarget.value })}
                  />
                </td>
                <td class="center">
                  <input type="checkbox" aria-label="Secret" checked={row.secret} onChange={(e) => update(row.key, { secret: e.currentTarget.checked, keptSecret: row.keptSecret && e.currentTarget.checked })} />
                </td>
                <td>
                  <input aria-label="Description" value={row.description} placeholder="optional" onInput={(e) => update(row.key, { description: e.currentTarget.value })} />
                </td>
                <td>
                  <button type="button" class="icon-btn" aria-label="Remove variable" onClick={() => setRows((rs) => rs.filter((r) => r.key !== row.key))}>
                    <Icon name="trash" size={15} />
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <button type="button" class="btn btn-ghost btn-sm" onClick={() => setRows((rs) => [...rs, emptyRow()])}>
          <Icon name="plus" size={14} /> Add variable
        </button>
        {localError && <FormError error={new Error(localError)} />}
        <FormError error={form.formError} />
        {form.fieldErrors.vars && <FormError error={new Error(form.fieldErrors.vars)} />}
        <FormActions onCancel={props.onClose} busy={form.busy}>
          Save variables
        </FormActions>
      </form>
    </Modal>
  )
}
