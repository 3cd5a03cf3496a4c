import { useState } from 'preact/hooks'
import type { ApiToken } from '../api/types'
import { formatDate, timeAgo } from '../ui/format'
import { Icon } from '../ui/icons'
import { Modal } from '../ui/modal'
import { EmptyState } from '../ui/states'

export function TokenTable(props: { items: ApiToken[]; onRevoke(token: ApiToken): void }) {
  if (!props.items.length)
    return (
      <EmptyState icon="key" title="No API tokens">
        Tokens let scripts, CI and Prometheus call the API without a password.
      </EmptyState>
    )
  return (
    <table class="table" data-testid="tokens-table">
      <thead>
        <tr>
          <th>Token</th>
          <th>Description</th>
          <th>Created</th>
          <th>Last used</th>
          <th>Expires</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {props.items.map((t) => {
          const expired = t.expires_at !== null && new Date(t.expires_at).getTime() < Date.now()
          return (
            <tr key={t.id}>
              <td class="mono small">{t.prefix}…</td>
              <td>{t.description || <span class="muted">—</span>}</td>
              <td class="muted">{formatDate(t.created_at)}</td>
              <td class="muted">{t.last_used_at ? timeAgo(t.last_used_at) : 'never'}</td>
              <td class={expired ? 'text-red' : 'muted'}>{t.expires_at ? (expired ? 'expired' : formatDate(t.expires_at)) : 'never'}</td>
              <td class="row-actions">
                <button class="btn btn-ghost btn-sm danger" onClick={() => props.onRevoke(t)}>
                  Revoke
                </button>
              </td>
            </tr>
          )
        })}
      </tbody>
    </table>
  )
}

/** The one time a token's value is visible. */
export function TokenCreatedModal(props: { token: string; onClose(): void }) {
  const [copied, setCopied] = useState(false)
  return (
    <Modal
      title="Your new API token"
      onClose={props.onClose}
      footer={
        <button class="btn btn-primary" onClick={props.onClose}>
          I have saved it
        </button>
      }
    >
      <p>Copy it now. It is stored only as a hash and cannot be shown again.</p>
      <div class="secret-box">
        <code data-testid="new-token">{props.token}</code>
        <button
          class="btn btn-secondary btn-sm"
          onClick={() =>
            navigator.clipboard?.writeText(props.token).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          <Icon name={copied ? 'check' : 'copy'} size={14} /> {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <p class="muted small">Use it as a Bearer token: Authorization: Bearer {props.token.slice(0, 6)}…</p>
    </Modal>
  )
}
