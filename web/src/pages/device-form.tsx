import { devices } from '../api/endpoints'
import type { Device, Fleet } from '../api/types'
import { Field, FormActions, FormError, formValues, useForm } from '../ui/form'
import { Modal } from '../ui/modal'

/** Registers a device by hand (field installs use provisioning tokens instead). */
export function DeviceFormModal(props: { fleets: Fleet[]; fleetId?: string; onClose(): void; onSaved(device: Device): void }) {
  const form = useForm(['name', 'device_id', 'fleet_id', 'subdomain', 'public_key'])

  function onSubmit(event: Event) {
    const v = formValues(event)
    void form.submit(async () => {
      const device = await devices.create({
        name: v.name?.trim() ?? '',
        device_id: v.device_id?.trim() || undefined,
        fleet_id: v.fleet_id || null,
        subdomain: v.subdomain?.trim() || undefined,
        public_key: v.public_key?.trim() || null,
      })
      props.onSaved(device)
    })
  }

  return (
    <Modal title="Add device" onClose={props.onClose}>
      <form class="form" onSubmit={onSubmit} noValidate>
        <Field label="Name" name="name" error={form.fieldErrors.name}>
          <input id="f-name" name="name" maxLength={100} placeholder="Pump station 7" onInput={() => form.clear('name')} />
        </Field>
        <div class="form-row">
          <Field label="Device ID" name="device_id" error={form.fieldErrors.device_id} hint="Its SSH user name. Generated when empty.">
            <input id="f-device_id" name="device_id" class="mono" placeholder="pump-7" onInput={() => form.clear('device_id')} />
          </Field>
          <Field label="Fleet" name="fleet_id" error={form.fieldErrors.fleet_id}>
            <select id="f-fleet_id" name="fleet_id" defaultValue={props.fleetId ?? ''}>
              <option value="">No fleet</option>
              {props.fleets.map((f) => (
                <option key={f.id} value={f.id}>
                  {f.name}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <Field label="Subdomain" name="subdomain" error={form.fieldErrors.subdomain} hint="Where its services are published. Derived from the device ID when empty.">
          <input id="f-subdomain" name="subdomain" class="mono" placeholder="pump-7" onInput={() => form.clear('subdomain')} />
        </Field>
        <Field label="SSH public key" name="public_key" error={form.fieldErrors.public_key} hint="Optional: the device's own key (ssh-ed25519 …).">
          <textarea id="f-public_key" name="public_key" rows={2} class="mono" />
        </Field>
        <FormError error={form.formError} />
        <FormActions onCancel={props.onClose} busy={form.busy}>
          Add device
        </FormActions>
      </form>
    </Modal>
  )
}
