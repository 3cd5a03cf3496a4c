import { useState } from 'preact/hooks'
import { users } from '../api/endpoints'
import type { ApiToken, User } from '../api/types'
import { useSession } from '../state/session'
import { Pill, RoleBadge } from '../ui/badges'
import { formatDate } from '../ui/format'
import { Icon } from '../ui/icons'
import { ConfirmModal, Modal } from '../ui/modal'
import { Card, PageHeader, Pagination } from '../ui/page'
import { ErrorState, Loading } from '../ui/states'
import { toast, toastError } from '../ui/toasts'
import { useResource } from '../ui/use-resource'
import { TokenTable } from './token-list'
import { UserFormModal } from './user-forms'

const PAGE = 50

function UserTokensModal(props: { user: User; onClose(): void }) {
  const list = useResource(() => users.tokens(props.user.id), [props.user.id])
  function revoke(t: ApiToken) {
    users.revokeToken(props.user.id, t.id).then(
      () => {
        toast('success', 'Token revoked', `${t.prefix}… of ${props.user.username}`)
        list.reload()
      },
      (err) => toastError(err, 'Could not revoke the token'),
    )
  }
  return (
    <Modal title={`API tokens of ${props.user.username}`} onClose={props.onClose} wide>
      {list.error ? <ErrorState error={list.error} retry={list.reload} /> : !list.data ? <Loading /> : <TokenTable items={list.data.items} onRevoke={revoke} />}
    </Modal>
  )
}

type ModalState = { kind: 'new' } | { kind: 'edit' | 'tokens' | 'delete'; user: User } | null

export function UsersPage() {
  const me = useSession().user
  const [offset, setOffset] = useState(0)
  const list = useResource(() => users.list({ limit: PAGE, offset }), [offset])
  const [modal, setModal] = useState<ModalState>(null)

  function remove(u: User) {
    setModal(null)
    users.remove(u.id).then(
      () => {
        toast('success', 'User deleted', u.username)
        list.reload()
      },
      (err) => toastError(err, `Could not delete ${u.username}`),
    )
  }

  return (
    <div class="page">
      <PageHeader
        title="Users"
        subtitle="Who can sign in to this gateway, and with which role."
        actions={
          <button class="btn btn-primary" onClick={() => setModal({ kind: 'new' })}>
            <Icon name="plus" size={16} /> New user
          </button>
        }
      />
      <Card flush>
        {list.error ? (
          <ErrorState error={list.error} retry={list.reload} />
        ) : !list.data ? (
          <Loading />
        ) : (
          <table class="table" data-testid="users-table">
            <thead>
              <tr>
                <th>User</th>
                <th>Role</th>
                <th>Status</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((u) => (
                <tr key={u.id} data-user={u.username}>
                  <td>
                    <div class="user-cell">
                      <div class="avatar avatar-sm">{u.username.slice(0, 1).toUpperCase()}</div>
                      <div>
                        <strong>{u.username}</strong>
                        {u.id === me.id && <span class="muted small"> (you)</span>}
                        <div class="muted small">{u.email ?? 'no email'}</div>
                      </div>
                    </div>
                  </td>
                  <td>
                    <RoleBadge role={u.role} />
                  </td>
                  <td>{u.disabled ? <Pill tone="red">disabled</Pill> : <Pill tone="green">active</Pill>}</td>
                  <td class="muted">{formatDate(u.created_at)}</td>
                  <td class="row-actions">
                    <button class="btn btn-ghost btn-sm" onClick={() => setModal({ kind: 'tokens', user: u })}>
                      <Icon name="key" size={14} /> Tokens
                    </button>
                    <button class="icon-btn" aria-label={`Edit ${u.username}`} onClick={() => setModal({ kind: 'edit', user: u })}>
                      <Icon name="edit" size={15} />
                    </button>
                    {u.id !== me.id && (
                      <button class="icon-btn danger" aria-label={`Delete ${u.username}`} onClick={() => setModal({ kind: 'delete', user: u })}>
                        <Icon name="trash" size={15} />
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {list.data && <Pagination total={list.data.total} limit={PAGE} offset={offset} onChange={setOffset} />}
      </Card>
      {(modal?.kind === 'new' || modal?.kind === 'edit') && (
        <UserFormModal
          user={modal.kind === 'edit' ? modal.user : undefined}
          onClose={() => setModal(null)}
          onSaved={(u) => {
            toast('success', modal.kind === 'new' ? 'User created' : 'User saved', u.username)
            setModal(null)
            list.reload()
          }}
        />
      )}
      {modal?.kind === 'tokens' && <UserTokensModal user={modal.user} onClose={() => setModal(null)} />}
      {modal?.kind === 'delete' && (
        <ConfirmModal
          title="Delete user"
          message={`Delete ${modal.user.username}? Their sessions and API tokens stop working at once.`}
          confirmLabel="Delete user"
          onClose={() => setModal(null)}
          onConfirm={() => remove(modal.user)}
        />
      )}
    </div>
  )
}
