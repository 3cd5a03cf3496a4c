import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import { software } from '../api/endpoints'
import type { GitSource, Software } from '../api/types'
import { useCan } from '../state/session'
import { Pill } from '../ui/badges'
import { formatDate, timeAgo } from '../ui/format'
import { Icon } from '../ui/icons'
import { Card } from '../ui/page'
import { toast, toastError } from '../ui/toasts'

function Fact(props: { label: string; children: ComponentChildren; mono?: boolean; wide?: boolean; testid?: string }) {
  return (
    <div class={`kv ${props.wide ? 'kv-wide' : ''}`} data-testid={props.testid}>
      <dt>{props.label}</dt>
      <dd class={props.mono ? 'mono' : ''}>{props.children ?? '—'}</dd>
    </div>
  )
}

/** A commit as a link to the git host when its layout is known, else its SHA. */
export function CommitRef(props: { sha: string | null | undefined; url: string | null | undefined }) {
  if (!props.sha) return null
  const short = props.sha.slice(0, 12)
  return props.url ? (
    <a class="mono" href={props.url} target="_blank" rel="noopener noreferrer" title={props.sha}>
      {short}
    </a>
  ) : (
    <span class="mono" title={props.sha}>
      {short}
    </span>
  )
}

const hosts = 'GitHub (Settings → Webhooks: content type application/json, the secret), GitLab (Settings → Webhooks: Secret token), Gitea/Forgejo (Settings → Webhooks: Secret)'

/**
 * A git software's source and sync status: last sync, last error, next poll,
 * the deploy key to add to the repository, the webhook to configure, and
 * "Sync now". Secrets are write-only: a new webhook secret is shown once.
 */
export function GitSourceCard(props: { software: Software; git: GitSource; onChanged(): void }) {
  const canSync = useCan('operator')
  const isAdmin = useCan('admin')
  const [busy, setBusy] = useState(false)
  const [secret, setSecret] = useState<string | null>(null)
  const g = props.git
  const id = props.software.id

  async function syncNow() {
    setBusy(true)
    try {
      const r = await software.sync(id)
      toast('success', r.version ? `Imported version ${r.version}` : 'Nothing changed', `commit ${r.commit.sha.slice(0, 12)}`)
    } catch (err) {
      toastError(err, 'Sync failed')
    } finally {
      setBusy(false)
      props.onChanged()
    }
  }

  async function newSecret() {
    try {
      setSecret((await software.webhookSecret(id)).webhook_secret)
      props.onChanged()
    } catch (err) {
      toastError(err, 'Could not generate a webhook secret')
    }
  }

  const status = g.syncing ? <Pill tone="blue">syncing</Pill> : g.last_sync_status === 'ok' ? <Pill tone="green">ok</Pill> : g.last_sync_status === 'error' ? <Pill tone="red">error</Pill> : <Pill>never synced</Pill>
  return (
    <Card
      title="Git source"
      actions={
        canSync && (
          <button class="btn btn-secondary btn-sm" disabled={busy} onClick={() => void syncNow()}>
            <Icon name="refresh" size={14} /> Sync now
          </button>
        )
      }
    >
      <dl class="kv-grid" data-testid="git-status">
        <Fact label="Repository" mono wide>
          {g.repo_url} @ {g.ref}
        </Fact>
        <Fact label="Compose file" mono>
          {g.compose_path ?? `first of ${g.compose_search_order.join(', ')}`}
        </Fact>
        <Fact label="Defaults file" mono>
          {g.defaults_path ?? `${g.default_defaults_path} (if present)`}
        </Fact>
        <Fact label="Status" testid="git-sync-status">
          {status}
        </Fact>
        <Fact label="Last sync" testid="git-last-sync">
          {g.last_sync_at ? <span title={formatDate(g.last_sync_at)}>{timeAgo(g.last_sync_at)}</span> : 'never'}
        </Fact>
        <Fact label="Next poll" testid="git-next-poll">
          {g.poll_interval_seconds === 0 ? 'polling off' : g.next_poll_at ? formatDate(g.next_poll_at) : '—'}
        </Fact>
        <Fact label="Last commit">
          <CommitRef sha={g.last_commit} url={g.last_commit_url} />
        </Fact>
        {g.last_sync_error && (
          <Fact label="Last error" wide testid="git-last-error">
            <span class="text-danger">{g.last_sync_error}</span>
          </Fact>
        )}
        {g.auth === 'deploy_key' && (
          <Fact label="Deploy key (add it to the repository, read-only)" wide testid="git-deploy-key">
            <pre class="code wrap">{g.deploy_key_public}</pre>
          </Fact>
        )}
        {g.auth === 'token' && <Fact label="Access">token stored (encrypted)</Fact>}
        <Fact label="Webhook" wide testid="git-webhook">
          <div class="mono">POST {g.webhook_url}</div>
          <p class="muted small">
            {g.has_webhook_secret ? 'A secret is set.' : 'No secret yet: deliveries are refused until one is set.'} Set it up in {hosts}, for push events.
          </p>
          {secret && (
            <p>
              Secret (shown once): <code class="mono" data-testid="git-webhook-secret">{secret}</code>
            </p>
          )}
          {isAdmin && (
            <button class="btn btn-ghost btn-sm" onClick={() => void newSecret()}>
              <Icon name="key" size={14} /> {g.has_webhook_secret ? 'Replace webhook secret' : 'Generate webhook secret'}
            </button>
          )}
        </Fact>
      </dl>
    </Card>
  )
}
