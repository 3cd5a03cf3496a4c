import { useState } from 'preact/hooks'
import { sshKeys, type SshKey } from '../api/endpoints'
import { useSession } from '../state/session'
import { Field, FormActions, FormError, formValues, useForm } from '../ui/form'
import { formatDate, timeAgo } from '../ui/format'
import { Icon } from '../ui/icons'
import { ConfirmModal, Modal } from '../ui/modal'
import { Card, PageHeader } from '../ui/page'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { toast, toastError } from '../ui/toasts'
import { useResource } from '../ui/use-resource'

function AddKeyModal(props: { onClose(): void; onAdded(): void }) {
  const form = useForm(['public_key', 'name'])
  function onSubmit(event: Event) {
    const v = formValues(event)
    void form.submit(async () => {
      await sshKeys.add({ public_key: v.public_key ?? '', name: v.name?.trim() || undefined })
      props.onAdded()
    })
  }
  return (
    <Modal title="Add an SSH key" onClose={props.onClose}>
      <form class="form" onSubmit={onSubmit} noValidate>
        <Field label="Public key" name="public_key" error={form.fieldErrors.public_key} hint="The contents of your ~/.ssh/id_ed25519.pub (ed25519, ECDSA, or RSA of 2048 bits or more). Never the private key.">
          <textarea id="f-public_key" name="public_key" rows={4} class="mono" placeholder="ssh-ed25519 AAAA… you@laptop" required />
        </Field>
        <Field label="Name" name="name" error={form.fieldErrors.name} hint="Defaults to the key's comment.">
          <input id="f-name" name="name" maxLength={100} />
        </Field>
        <FormError error={form.formError} />
        <FormActions onCancel={props.onClose} busy={form.busy}>
          Add key
        </FormActions>
      </form>
    </Modal>
  )
}

function KeyTable(props: { items: SshKey[]; onDelete(key: SshKey): void }) {
  if (!props.items.length)
    return (
      <EmptyState icon="key" title="No SSH keys">
        Add your public key to reach devices with ssh -J through the gateway.
      </EmptyState>
    )
  return (
    <table class="table" data-testid="ssh-keys-table">
      <thead>
        <tr>
          <th>Name</th>
          <th>Fingerprint</th>
          <th>Added</th>
          <th>Last used</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {props.items.map((k) => (
          <tr key={k.id}>
            <td>{k.name}</td>
            <td class="mono small">
              {k.public_key.split(' ')[0]} {k.fingerprint}
            </td>
            <td class="muted">{formatDate(k.created_at)}</td>
            <td class="muted">{k.last_used_at ? timeAgo(k.last_used_at) : 'never'}</td>
            <td class="row-actions">
              <button class="btn btn-ghost btn-sm danger" onClick={() => props.onDelete(k)}>
                Delete
              </button>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

/** The signed-in user's own page: who they are, and their SSH keys for the jump host (docs/admin-access.md). */
export function ProfilePage() {
  const { user } = useSession()
  const list = useResource(() => sshKeys.list(), [])
  const [adding, setAdding] = useState(false)
  const [deleting, setDeleting] = useState<SshKey | null>(null)
  const canJump = user.role === 'operator' || user.role === 'admin'

  return (
    <div class="page">
      <PageHeader title={user.username} subtitle={`Signed in as ${user.role}${user.email ? ` · ${user.email}` : ''}`} />
      <Card
        title="SSH keys"
        actions={
          <button class="btn btn-primary" onClick={() => setAdding(true)}>
            <Icon name="plus" size={16} /> Add key
          </button>
        }
        flush
      >
        {list.error ? <ErrorState error={list.error} retry={list.reload} /> : !list.data ? <Loading /> : <KeyTable items={list.data.items} onDelete={setDeleting} />}
      </Card>
      <Card title="Reaching a device">
        {canJump ? (
          <p>
            The gateway is an SSH jump host on its SSH port: <code class="mono">ssh -J u:{user.username}@{location.hostname}:&lt;ssh port&gt; core@&lt;device id&gt;</code>.
            Log in as <code class="mono">u:{user.username}</code>; device ids never contain a colon, so the gateway always knows you from a device.
          </p>
        ) : (
          <p class="muted">Your role ({user.role}) may keep keys here, but only operators and admins may use the jump host.</p>
        )}
      </Card>
      {adding && (
        <AddKeyModal
          onClose={() => setAdding(false)}
          onAdded={() => {
            setAdding(false)
            toast('success', 'SSH key added')
            list.reload()
          }}
        />
      )}
      {deleting && (
        <ConfirmModal
          title="Delete SSH key"
          message={`Delete ${deleting.name} (${deleting.fingerprint})? It no longer opens the jump host.`}
          confirmLabel="Delete"
          onClose={() => setDeleting(null)}
          onConfirm={() => {
            const key = deleting
            setDeleting(null)
            sshKeys.remove(key.id).then(
              () => {
                toast('success', 'SSH key deleted')
                list.reload()
              },
              (err) => toastError(err, 'Could not delete the key'),
            )
          }}
        />
      )}
    </div>
  )
}
