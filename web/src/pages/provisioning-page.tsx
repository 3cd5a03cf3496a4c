import { useState } from 'preact/hooks'
import { fleets, provisioning } from '../api/endpoints'
import type { RegistrationToken, RegistrationTokenState } from '../api/types'
import { formatDate, timeAgo } from '../ui/format'
import { Icon } from '../ui/icons'
import { ConfirmModal } from '../ui/modal'
import { Card, PageHeader } from '../ui/page'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { toast, toastError } from '../ui/toasts'
import { useResource } from '../ui/use-resource'
import { EndpointSummary } from './provisioning-endpoints'
import { RegistrationTokenModal, TokenCreatedModal, type CreatedToken } from './provisioning-form'

const stateBadge: Record<RegistrationTokenState, { label: string; tone: string }> = {
  active: { label: 'Active', tone: 'green' },
  used_up: { label: 'Used up', tone: 'blue' },
  expired: { label: 'Expired', tone: 'amber' },
  revoked: { label: 'Revoked', tone: 'red' },
}

function StateBadge(props: { state: RegistrationTokenState }) {
  const { label, tone } = stateBadge[props.state] ?? { label: props.state, tone: 'neutral' }
  return (
    <span class={`badge pill tone-${tone}`} data-state={props.state}>
      {label}
    </span>
  )
}

/** How devices installed with the token are named and networked, in one cell. */
function Naming(props: { token: RegistrationToken }) {
  const { name_pattern, hostname, network } = props.token.options ?? {}
  const net = !network || 'dhcp' in network ? 'DHCP' : `static ${network.address}`
  return (
    <div>
      {name_pattern ? <span class="mono small strong">{name_pattern}</span> : <span class="muted">reported hostname</span>}
      <div class="muted small">
        {hostname ? `host ${hostname} · ` : ''}
        {net}
        {props.token.options?.ssh_keys?.length ? ` · ${props.token.options.ssh_keys.length} extra key${props.token.options.ssh_keys.length > 1 ? 's' : ''}` : ''}
      </div>
    </div>
  )
}

function Uses(props: { token: RegistrationToken }) {
  const { uses, max_uses } = props.token
  return (
    <div class="inline-bar" title={`${uses} of ${max_uses} uses taken`}>
      <div class="bar">
        <div class="bar-fill" style={{ width: `${Math.min(100, (uses / Math.max(1, max_uses)) * 100)}%` }} />
      </div>
      <span>
        <strong class="strong">{uses}</strong> / {max_uses}
      </span>
    </div>
  )
}

function Expiry(props: { token: RegistrationToken }) {
  const t = props.token
  if (t.revoked_at) return <span class="muted" title={formatDate(t.revoked_at)}>revoked {timeAgo(t.revoked_at)}</span>
  const past = new Date(t.expires_at).getTime() <= Date.now()
  return (
    <span class={past ? 'muted' : ''} title={formatDate(t.expires_at)}>
      {past ? `expired ${timeAgo(t.expires_at)}` : timeAgo(t.expires_at)}
    </span>
  )
}

/**
 * Registration tokens, and the one-file flow for field techs: create a token,
 * download the device's Ignition config, flash Flatcar with it.
 */
export function ProvisioningPage() {
  const list = useResource(() => provisioning.tokens(), [])
  const fleetList = useResource(() => fleets.list({ limit: 500 }), [])
  const endpoints = useResource(() => provisioning.endpoints(), [])
  const [creating, setCreating] = useState(false)
  const [created, setCreated] = useState<CreatedToken | null>(null)
  const [revoking, setRevoking] = useState<RegistrationToken | null>(null)

  const fleetItems = fleetList.data?.items ?? []
  const fleetName = (id: string) => fleetItems.find((f) => f.id === id)?.name
  const noFleets = fleetList.data !== undefined && fleetItems.length === 0

  function revoke(token: RegistrationToken) {
    setRevoking(null)
    provisioning.revokeToken(token.id).then(
      () => {
        toast('success', 'Registration token revoked', `${token.prefix}… can no longer register a device.`)
        list.reload()
      },
      (err) => toastError(err, 'Could not revoke the registration token'),
    )
  }

  const error = list.error ?? fleetList.error
  let body
  if (error)
    body = (
      <ErrorState
        error={error}
        feature="Provisioning"
        retry={() => {
          list.reload()
          fleetList.reload()
        }}
      />
    )
  else if (!list.data || !fleetList.data) body = <Loading />
  else if (!list.data.items.length)
    body = (
      <EmptyState
        icon="rocket"
        title={noFleets ? 'Create a fleet first' : 'No registration tokens yet'}
        action={
          noFleets ? (
            <a class="btn btn-secondary" href="/fleets">
              Go to fleets
            </a>
          ) : (
            <button class="btn btn-primary" onClick={() => setCreating(true)}>
              <Icon name="plus" size={16} /> New registration token
            </button>
          )
        }
      >
        {noFleets
          ? 'A registration token enrols devices into a fleet.'
          : 'A token and its Ignition file turn a blank box running Flatcar into a managed device, with no typing on site.'}
      </EmptyState>
    )
  else
    body = (
      <table class="table" data-testid="registration-tokens-table">
        <thead>
          <tr>
            <th>Token</th>
            <th>Fleet</th>
            <th>Devices named</th>
            <th>Uses</th>
            <th>Expires</th>
            <th>Status</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.data.items.map((t) => (
            <tr key={t.id} data-token={t.prefix}>
              <td>
                <strong>{t.name || <span class="muted">Unnamed token</span>}</strong>
                <div class="mono small muted">{t.prefix}…</div>
              </td>
              <td>{fleetName(t.fleet_id) ? <a href={`/fleets/${t.fleet_id}`}>{fleetName(t.fleet_id)}</a> : <span class="muted">deleted fleet</span>}</td>
              <td>
                <Naming token={t} />
              </td>
              <td>
                <Uses token={t} />
              </td>
              <td>
                <Expiry token={t} />
              </td>
              <td>
                <StateBadge state={t.state} />
              </td>
              <td class="row-actions">
                {t.state === 'active' && (
                  <button class="btn btn-ghost btn-sm danger" onClick={() => setRevoking(t)}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    )

  return (
    <div class="page">
      <PageHeader
        title="Provisioning"
        subtitle="Registration tokens for new devices. Each token comes with an Ignition file: flash Flatcar with it and the device enrols itself."
        actions={
          <button class="btn btn-primary" disabled={!fleetItems.length} onClick={() => setCreating(true)}>
            <Icon name="plus" size={16} /> New registration token
          </button>
        }
      />
      <ol class="prov-steps" aria-label="How provisioning works">
        <li>
          <span class="prov-step-num">1</span>
          <div>
            <strong>Create a token</strong>
            <span>For a fleet, one device or a batch, with its network settings.</span>
          </div>
        </li>
        <li>
          <span class="prov-step-num">2</span>
          <div>
            <strong>Download device.ign</strong>
            <span>The Ignition config holds the token and pins this gateway.</span>
          </div>
        </li>
        <li>
          <span class="prov-step-num">3</span>
          <div>
            <strong>Install Flatcar</strong>
            <span>
              <code>flatcar-install -i device.ign</code>; the device appears online.
            </span>
          </div>
        </li>
      </ol>
      <Card title="Device files send devices to">
        <EndpointSummary endpoints={endpoints} />
      </Card>
      <Card flush>{body}</Card>
      {creating && (
        <RegistrationTokenModal
          fleets={fleetItems}
          onClose={() => setCreating(false)}
          onCreated={(token) => {
            setCreating(false)
            setCreated(token)
            list.reload()
          }}
        />
      )}
      {created && <TokenCreatedModal token={created} fleetName={fleetName(created.fleet_id)} onClose={() => setCreated(null)} />}
      {revoking && (
        <ConfirmModal
          title="Revoke registration token"
          message={`Revoke ${revoking.name ? `“${revoking.name}” (${revoking.prefix}…)` : `${revoking.prefix}…`}? Devices not yet installed with it cannot register; devices it already registered keep working.`}
          confirmLabel="Revoke"
          onClose={() => setRevoking(null)}
          onConfirm={() => revoke(revoking)}
        />
      )}
    </div>
  )
}
