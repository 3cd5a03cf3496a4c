import { users } from '../api/endpoints'
import type { Role, User } from '../api/types'
import { Field, FormActions, FormError, formValues, useForm } from '../ui/form'
import { Modal } from '../ui/modal'

const roleHints: Record<Role, string> = {
  viewer: 'Reads everything, changes nothing',
  operator: 'Also opens terminals, edits variables and deploys',
  admin: 'Also manages fleets, devices, software and users',
}

function RoleSelect(props: { value?: Role }) {
  return (
    <select id="f-role" name="role" defaultValue={props.value ?? 'viewer'}>
      {(['viewer', 'operator', 'admin'] as Role[]).map((r) => (
        <option key={r} value={r}>
          {r} — {roleHints[r]}
        </option>
      ))}
    </select>
  )
}

export function UserFormModal(props: { user?: User; onClose(): void; onSaved(user: User): void }) {
  const u = props.user
  const form = useForm(['username', 'email', 'password', 'role', 'disabled'])

  function onSubmit(event: Event) {
    const v = formValues(event)
    void form.submit(async () => {
      if (u) {
        props.onSaved(
          await users.update(u.id, {
            email: v.email?.trim() || null,
            role: v.role,
            disabled: v.disabled === 'on',
            ...(v.password ? { password: v.password } : {}),
          }),
        )
      } else {
        props.onSaved(await users.create({ username: v.username?.trim() ?? '', email: v.email?.trim() || null, password: v.password ?? '', role: v.role ?? 'viewer' }))
      }
    })
  }

  return (
    <Modal title={u ? `Edit ${u.username}` : 'New user'} onClose={props.onClose}>
      <form class="form" onSubmit={onSubmit} noValidate>
        {!u && (
          <Field label="Username" name="username" error={form.fieldErrors.username}>
            <input id="f-username" name="username" autocomplete="off" />
          </Field>
        )}
        <Field label="Email" name="email" error={form.fieldErrors.email}>
          <input id="f-email" name="email" type="email" defaultValue={u?.email ?? ''} />
        </Field>
        <Field label={u ? 'New password' : 'Password'} name="password" error={form.fieldErrors.password} hint={u ? 'Leave empty to keep it. A new one signs the user out everywhere.' : 'At least 10 characters.'}>
          <input id="f-password" name="password" type="password" autocomplete="new-password" />
        </Field>
        <Field label="Role" name="role" error={form.fieldErrors.role}>
          <RoleSelect value={u?.role} />
        </Field>
        {u && (
          <label class="check">
            <input type="checkbox" name="disabled" defaultChecked={u.disabled} />
            <span>
              <strong>Disabled</strong>
              <small>The user cannot sign in; their sessions end now.</small>
            </span>
          </label>
        )}
        <FormError error={form.formError} />
        <FormActions onCancel={props.onClose} busy={form.busy}>
          {u ? 'Save changes' : 'Create user'}
        </FormActions>
      </form>
    </Modal>
  )
}
