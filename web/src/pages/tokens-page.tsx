import { useState } from 'preact/hooks'
import { tokens } from '../api/endpoints'
import type { ApiToken } from '../api/types'
import { Field, FormActions, FormError, formValues, useForm } from '../ui/form'
import { Icon } from '../ui/icons'
import { ConfirmModal, Modal } from '../ui/modal'
import { Card, PageHeader } from '../ui/page'
import { ErrorState, Loading } from '../ui/states'
import { toast, toastError } from '../ui/toasts'
import { useResource } from '../ui/use-resource'
import { TokenCreatedModal, TokenTable } from './token-list'

function CreateTokenModal(props: { onClose(): void; onCreated(token: string): void }) {
  const form = useForm(['description', 'expires_in_days', 'expires_at'])
  function onSubmit(event: Event) {
    const v = formValues(event)
    void form.submit(async () => {
      const created = await tokens.create({ description: v.description?.trim() || undefined, expires_in_days: v.expires_in_days ? Number(v.expires_in_days) : undefined })
      props.onCreated(created.token)
    })
  }
  return (
    <Modal title="New API token" onClose={props.onClose}>
      <form class="form" onSubmit={onSubmit} noValidate>
        <Field label="Description" name="description" error={form.fieldErrors.description} hint="What uses it, e.g. “Prometheus” or “CI deploys”.">
          <input id="f-description" name="description" maxLength={200} />
        </Field>
        <Field label="Expires" name="expires_in_days" error={form.fieldErrors.expires_in_days ?? form.fieldErrors.expires_at}>
          <select id="f-expires_in_days" name="expires_in_days" defaultValue="90">
            <option value="30">In 30 days</option>
            <option value="90">In 90 days</option>
            <option value="365">In a year</option>
            <option value="">Never</option>
          </select>
        </Field>
        <FormError error={form.formError} />
        <FormActions onCancel={props.onClose} busy={form.busy}>
          Create token
        </FormActions>
      </form>
    </Modal>
  )
}

/** The signed-in user's own API tokens (admins manage others' from the Users page). */
export function TokensPage() {
  const list = useResource(() => tokens.list(), [])
  const [creating, setCreating] = useState(false)
  const [created, setCreated] = useState<string | null>(null)
  const [revoking, setRevoking] = useState<ApiToken | null>(null)

  return (
    <div class="page">
      <PageHeader
        title="API tokens"
        subtitle="Long-lived credentials for scripts and CI, acting as you. Each value is shown once."
        actions={
          <button class="btn btn-primary" onClick={() => setCreating(true)}>
            <Icon name="plus" size={16} /> New token
          </button>
        }
      />
      <Card flush>{list.error ? <ErrorState error={list.error} retry={list.reload} /> : !list.data ? <Loading /> : <TokenTable items={list.data.items} onRevoke={setRevoking} />}</Card>
      {creating && (
        <CreateTokenModal
          onClose={() => setCreating(false)}
          onCreated={(token) => {
            setCreating(false)
            setCreated(token)
            list.reload()
          }}
        />
      )}
      {created && <TokenCreatedModal token={created} onClose={() => setCreated(null)} />}
      {revoking && (
        <ConfirmModal
          title="Revoke token"
          message={`Revoke ${revoking.prefix}…${revoking.description ? ` (${revoking.description})` : ''}? Anything using it is refused from now on.`}
          confirmLabel="Revoke"
          onClose={() => setRevoking(null)}
          onConfirm={() => {
            const t = revoking
            setRevoking(null)
            tokens.revoke(t.id).then(
              () => {
                toast('success', 'Token revoked')
                list.reload()
              },
              (err) => toastError(err, 'Could not revoke the token'),
            )
          }}
        />
      )}
    </div>
  )
}
