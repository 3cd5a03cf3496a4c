import { fleets } from '../api/endpoints'
import type { Fleet } from '../api/types'
import { Field, FormActions, FormError, formValues, useForm } from '../ui/form'
import { Modal } from '../ui/modal'

/** Create or edit a fleet; the API's errors land next to the field they name (a duplicate name, for one). */
export function FleetFormModal(props: { fleet?: Fleet; onClose(): void; onSaved(fleet: Fleet): void }) {
  const form = useForm(['name', 'description'])
  const editing = Boolean(props.fleet)

  function onSubmit(event: Event) {
    const values = formValues(event)
    const body = { name: values.name?.trim() ?? '', description: values.description?.trim() || null }
    void form.submit(async () => {
      const saved = props.fleet ? await fleets.update(props.fleet.id, body) : await fleets.create(body)
      props.onSaved(saved)
    })
  }

  return (
    <Modal title={editing ? 'Edit fleet' : 'New fleet'} onClose={props.onClose}>
      <form class="form" onSubmit={onSubmit} noValidate>
        <Field label="Name" name="name" error={form.fieldErrors.name} hint="Unique, e.g. the site or product line.">
          <input id="f-name" name="name" defaultValue={props.fleet?.name} maxLength={100} onInput={() => form.clear('name')} />
        </Field>
        <Field label="Description" name="description" error={form.fieldErrors.description}>
          <textarea id="f-description" name="description" rows={3} defaultValue={props.fleet?.description ?? ''} maxLength={2000} />
        </Field>
        <FormError error={form.formError} />
        <FormActions onCancel={props.onClose} busy={form.busy}>
          {editing ? 'Save changes' : 'Create fleet'}
        </FormActions>
      </form>
    </Modal>
  )
}
