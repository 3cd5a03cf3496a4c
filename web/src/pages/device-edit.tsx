import { devices, fleets } from '../api/endpoints'
import { ApiError } from '../api/client'
import type { Device } from '../api/types'
import { Field, FormActions, FormError, formValues, useForm } from '../ui/form'
import { Modal } from '../ui/modal'
import { Loading } from '../ui/states'
import { useResource } from '../ui/use-resource'

/** `site=north` lines (or comma-separated) to a label map; the gateway checks keys and values. */
function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const item of text.split(/[\n,]/).map((l) => l.trim()).filter(Boolean)) {
    const at = item.indexOf('=')
    if (at < 1) throw new ApiError(400, 'VALIDATION_FAILED', `"${item}" is not key=value`, 'labels')
    labels[item.slice(0, at).trim()] = item.slice(at + 1).trim()
  }
  return labels
}

export function DeviceEditModal(props: { device: Device; onClose(): void; onSaved(device: Device): void }) {
  // A bad label comes back as labels.<key>: shown next to the labels field.
  const form = useForm(['name', 'subdomain', 'subdomain_enabled', 'public_key', 'labels'], (field) => (field.startsWith('labels') ? 'labels' : undefined))
  const d = props.device

  function onSubmit(event: Event) {
    const v = formValues(event)
    const key = v.public_key?.trim() ?? ''
    void form.submit(async () => {
      const labels = parseLabels(v.labels ?? '')
      props.onSaved(
        await devices.update(d.id, {
          labels,
          name: v.name?.trim() ?? '',
          subdomain: v.subdomain?.trim() ?? '',
          subdomain_enabled: v.subdomain_enabled === 'on',
          ...(key !== (d.public_key ?? '') ? { public_key: key || null } : {}),
        }),
      )
    })
  }

  return (
    <Modal title={`Edit ${d.name}`} onClose={props.onClose}>
      <form class="form" onSubmit={onSubmit} noValidate>
        <Field label="Name" name="name" error={form.fieldErrors.name}>
          <input id="f-name" name="name" defaultValue={d.name} maxLength={100} />
        </Field>
        <Field label="Subdomain" name="subdomain" error={form.fieldErrors.subdomain}>
          <input id="f-subdomain" name="subdomain" class="mono" defaultValue={d.subdomain} />
        </Field>
        <label class="check">
          <input type="checkbox" name="subdomain_enabled" defaultChecked={d.subdomain_enabled} />
          <span>
            <strong>Publish on the subdomain</strong>
            <small>When off, none of this device's services answer on their URLs.</small>
          </span>
        </label>
        <Field label="Labels" name="labels" error={form.fieldErrors.labels} hint="One key=value per line, e.g. site=north. Rollout selectors match them.">
          <textarea
            id="f-labels"
            name="labels"
            rows={3}
            class="mono"
            defaultValue={Object.entries(d.labels ?? {})
              .map(([k, v]) => `${k}=${v}`)
              .join('\n')}
          />
        </Field>
        <Field label="SSH public key" name="public_key" error={form.fieldErrors.public_key} hint="Replacing it ends trust in the old key at once.">
          <textarea id="f-public_key" name="public_key" rows={3} class="mono" defaultValue={d.public_key ?? ''} />
        </Field>
        <FormError error={form.formError} />
        <FormActions onCancel={props.onClose} busy={form.busy}>
          Save changes
        </FormActions>
      </form>
    </Modal>
  )
}

export function MoveDeviceModal(props: { device: Device; onClose(): void; onSaved(device: Device): void }) {
  const form = useForm(['fleet_id'])
  const list = useResource(() => fleets.list({ limit: 500 }), [])

  function onSubmit(event: Event) {
    const v = formValues(event)
    void form.submit(async () => props.onSaved(await devices.move(props.device.id, v.fleet_id || null)))
  }

  return (
    <Modal title={`Move ${props.device.name}`} onClose={props.onClose}>
      {!list.data ? (
        list.error ? <FormError error={list.error} /> : <Loading />
      ) : (
        <form class="form" onSubmit={onSubmit} noValidate>
          <Field label="Fleet" name="fleet_id" error={form.fieldErrors.fleet_id} hint="The device takes on the new fleet's deployments and variables.">
            <select id="f-fleet_id" name="fleet_id" defaultValue={props.device.fleet_id ?? ''}>
              <option value="">No fleet (unassigned)</option>
              {list.data.items.map((f) => (
                <option key={f.id} value={f.id}>
                  {f.name}
                </option>
              ))}
            </select>
          </Field>
          <FormError error={form.formError} />
          <FormActions onCancel={props.onClose} busy={form.busy}>
            Move device
          </FormActions>
        </form>
      )}
    </Modal>
  )
}
