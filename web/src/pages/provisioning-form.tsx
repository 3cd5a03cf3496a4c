import { useState } from 'preact/hooks'
import { ApiError } from '../api/client'
import { provisioning } from '../api/endpoints'
import type { Fleet, NewRegistrationToken, RegistrationToken } from '../api/types'
import { Field, FormActions, FormError, formValues, useForm } from '../ui/form'
import { formatDate } from '../ui/format'
import { Icon } from '../ui/icons'
import { Modal } from '../ui/modal'
import { toast } from '../ui/toasts'
import { useResource } from '../ui/use-resource'
import { EndpointSummary } from './provisioning-endpoints'

export type CreatedToken = RegistrationToken & { token: string }

const fields = ['fleet_id', 'name', 'name_pattern', 'hostname', 'max_uses', 'expires_in', 'network', 'network.address', 'network.gateway', 'network.dns', 'ssh_keys'] as const

/** `ssh_keys.2` → the textarea, `network.dns.0` → the DNS field, anything else under network → the network switch. */
function alias(field: string): string | undefined {
  if (field.startsWith('ssh_keys.')) return 'ssh_keys'
  if (field.startsWith('network.dns.')) return 'network.dns'
  if (field.startsWith('network.')) return 'network'
  return undefined
}

/** An aliased message keeps its path (`body.ssh_keys.1: …`); say it in the words of the form instead. */
function keyError(message: string | undefined, lines: number[]): string | undefined {
  if (!message) return message
  const m = /^(?:body\.)?ssh_keys\.(\d+):\s*/.exec(message)
  return m ? `Line ${lines[Number(m[1])] ?? Number(m[1]) + 1}: ${message.slice(m[0].length)}` : message.replace(/^body\./, '')
}

const splitList = (text: string | undefined) => (text ?? '').split(/[\s,]+/).filter(Boolean)

/** A file name from a token's label or its fleet: `North plant` → `north-plant`. */
export function fileBase(token: Pick<RegistrationToken, 'name'>, fleetName: string | undefined): string {
  const slug = (token.name || fleetName || 'edgetainer')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
  return slug || 'edgetainer'
}

/**
 * Fetches the config and saves it as a file. Not a plain link: an error (503
 * AGENT_NOT_BUILT, 410 used up) must be shown, not saved as a JSON file. The
 * blob is handed to the browser through an <a download>, which the CSP allows.
 */
export async function downloadConfig(url: string, filename: string): Promise<void> {
  let res: Response
  try {
    res = await fetch(url, { credentials: 'same-origin', cache: 'no-store' })
  } catch {
    throw new ApiError(0, 'NETWORK', 'Cannot reach the gateway. Check your connection and try again.')
  }
  if (!res.ok) {
    const info = (await res.json().catch(() => ({}))) as { error?: string; code?: string; field?: string }
    throw new ApiError(res.status, info.code ?? `HTTP_${res.status}`, info.error ?? `${res.status} ${res.statusText || 'download failed'}`, info.field)
  }
  const href = URL.createObjectURL(await res.blob())
  const a = document.createElement('a')
  a.href = href
  a.download = filename
  a.hidden = true
  document.body.append(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(href), 30_000)
}

export function CopyButton(props: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false)
  return (
    <button
      type="button"
      class="btn btn-secondary btn-sm"
      onClick={() =>
        navigator.clipboard?.writeText(props.text).then(
          () => {
            setCopied(true)
            setTimeout(() => setCopied(false), 2000)
          },
          () => toast('info', 'Could not copy', 'Select the text and copy it by hand.'),
        )
      }
    >
      <Icon name={copied ? 'check' : 'copy'} size={14} /> {copied ? 'Copied' : (props.label ?? 'Copy')}
    </button>
  )
}

/** The "New registration token" form: fleet, naming, limits, network and extra keys. */
export function RegistrationTokenModal(props: { fleets: Fleet[]; onClose(): void; onCreated(token: CreatedToken): void }) {
  const form = useForm(fields, alias)
  const [staticIp, setStaticIp] = useState(false)
  const [keyLines, setKeyLines] = useState<number[]>([])
  const err = form.fieldErrors

  function onSubmit(event: Event) {
    const v = formValues(event)
    const keys = (v.ssh_keys ?? '').split('\n').map((line, i) => [line.trim(), i + 1] as const).filter(([line]) => line)
    setKeyLines(keys.map(([, n]) => n))
    const hours = v.expires_in?.trim()
    const body: NewRegistrationToken = {
      fleet_id: v.fleet_id ?? '',
      name: v.name?.trim() || undefined,
      name_pattern: v.name_pattern?.trim() || undefined,
      hostname: v.hostname?.trim() || undefined,
      max_uses: v.max_uses?.trim() ? Number(v.max_uses) : undefined,
      // Hours to seconds; anything that is not a number goes as typed, for the API to explain.
      expires_in: hours ? (Number.isFinite(Number(hours)) ? Math.round(Number(hours) * 3600) : hours) : undefined,
      network: staticIp
        ? { address: v['network.address']?.trim() ?? '', gateway: v['network.gateway']?.trim() || undefined, dns: splitList(v['network.dns']) }
        : { dhcp: true },
      ssh_keys: keys.length ? keys.map(([line]) => line) : undefined,
    }
    void form.submit(async () => props.onCreated(await provisioning.createToken(body)))
  }

  return (
    <Modal title="New registration token" onClose={props.onClose}>
      <form class="form" onSubmit={onSubmit} noValidate>
        <div class="form-row">
          <Field label="Fleet" name="fleet_id" error={err.fleet_id} hint="Devices join this fleet and run its software.">
            <select id="f-fleet_id" name="fleet_id" onChange={() => form.clear('fleet_id')}>
              {props.fleets.map((f) => (
                <option key={f.id} value={f.id}>
                  {f.name}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Label" name="name" error={err.name} hint="Optional, for this list and the file name.">
            <input id="f-name" name="name" maxLength={100} placeholder="Pump stations, batch 3" onInput={() => form.clear('name')} />
          </Field>
        </div>
        <div class="form-row">
          <Field label="Device name pattern" name="name_pattern" error={err.name_pattern} hint={<>{'{n}'} is the use number, {'{hostname}'} the device's hostname. It also sets the device id and subdomain: pump-{'{n}'} → pump-1.</>}>
            <input id="f-name_pattern" name="name_pattern" class="mono" placeholder="pump-{n}" onInput={() => form.clear('name_pattern')} />
          </Field>
          <Field label="Hostname" name="hostname" error={err.hostname} hint="Optional. Best for one device: every box gets it.">
            <input id="f-hostname" name="hostname" class="mono" placeholder="pump-7" onInput={() => form.clear('hostname')} />
          </Field>
        </div>
        <div class="form-row">
          <Field label="Max uses" name="max_uses" error={err.max_uses} hint="One token can install a batch of identical boxes.">
            <input id="f-max_uses" name="max_uses" type="number" min={1} max={100000} defaultValue="1" onInput={() => form.clear('max_uses')} />
          </Field>
          <Field label="Expires in (hours)" name="expires_in" error={err.expires_in} hint="Unused tokens stop working after this.">
            <input id="f-expires_in" name="expires_in" type="number" min={1} max={8760} defaultValue="24" onInput={() => form.clear('expires_in')} />
          </Field>
        </div>
        <Field label="Network" name="network" error={err.network}>
          <div class="segmented" role="group" aria-label="Network" id="f-network">
            <button type="button" class={staticIp ? '' : 'active'} aria-pressed={!staticIp} onClick={() => setStaticIp(false)}>
              DHCP
            </button>
            <button type="button" class={staticIp ? 'active' : ''} aria-pressed={staticIp} onClick={() => setStaticIp(true)}>
              Static address
            </button>
          </div>
        </Field>
        {staticIp && (
          <>
            <div class="form-row">
              <Field label="Address" name="network.address" error={err['network.address']} hint="With its prefix length.">
                <input id="f-network.address" name="network.address" class="mono" placeholder="10.0.0.5/24" onInput={() => form.clear('network.address')} />
              </Field>
              <Field label="Gateway" name="network.gateway" error={err['network.gateway']}>
                <input id="f-network.gateway" name="network.gateway" class="mono" placeholder="10.0.0.1" onInput={() => form.clear('network.gateway')} />
              </Field>
            </div>
            <Field label="DNS servers" name="network.dns" error={err['network.dns']?.replace(/^body\./, '')} hint="Separated by spaces or commas.">
              <input id="f-network.dns" name="network.dns" class="mono" placeholder="10.0.0.1 1.1.1.1" onInput={() => form.clear('network.dns')} />
            </Field>
          </>
        )}
        <Field label="Extra SSH keys" name="ssh_keys" error={keyError(err.ssh_keys, keyLines)} hint="Optional admin public keys for the core user, one per line.">
          <textarea id="f-ssh_keys" name="ssh_keys" rows={3} class="mono code-input" placeholder="ssh-ed25519 AAAA… admin@laptop" onInput={() => form.clear('ssh_keys')} />
        </Field>
        <FormError error={form.formError} />
        <FormActions onCancel={props.onClose} busy={form.busy}>
          Create token
        </FormActions>
      </form>
    </Modal>
  )
}

/** The one time a registration token's value is visible, with its device files and the install command. */
export function TokenCreatedModal(props: { token: CreatedToken; fleetName?: string; onClose(): void }) {
  const { token } = props
  const base = fileBase(token, props.fleetName)
  const ign = `${base}-device.ign`
  const command = `flatcar-install -d /dev/sda -i ${ign}`
  const [busy, setBusy] = useState<string | null>(null)
  const [error, setError] = useState<unknown>(undefined)
  const endpoints = useResource(() => provisioning.endpoints(), [])
  const [allowLoopback, setAllowLoopback] = useState(false)

  function download(event: Event, format: 'ignition' | 'butane') {
    event.preventDefault()
    const filename = format === 'butane' ? `${base}-device.bu` : ign
    setBusy(format)
    setError(undefined)
    downloadConfig(provisioning.configUrl(token.token, format, allowLoopback), filename).then(
      () => setBusy(null),
      (err) => {
        setBusy(null)
        setError(err)
      },
    )
  }

  return (
    <Modal
      title="Registration token created"
      onClose={props.onClose}
      wide
      footer={
        <button class="btn btn-primary" onClick={props.onClose}>
          Done
        </button>
      }
    >
      <div class="prov-result" data-testid="token-result">
        <div class="prov-note" role="note">
          <Icon name="lock" size={16} />
          <span>
            <strong>Shown once.</strong> The token is stored only as a hash and cannot be shown again. The device file holds this one-time token: keep it like a
            password until the device has registered.
          </span>
        </div>

        <section class="prov-step">
          <h3>Registration token</h3>
          <div class="secret-box">
            <code data-testid="new-registration-token">{token.token}</code>
            <CopyButton text={token.token} />
          </div>
          <p class="muted small">
            {props.fleetName ?? 'Fleet'} · {token.max_uses === 1 ? 'one device' : `up to ${token.max_uses} devices`} · expires {formatDate(token.expires_at)}
          </p>
        </section>

        <section class="prov-step">
          <h3>The file sends devices to</h3>
          <EndpointSummary endpoints={endpoints} allowLoopback={allowLoopback} onAllowLoopback={setAllowLoopback} />
        </section>

        <section class="prov-step">
          <h3>Device config</h3>
          <div class="prov-downloads">
            <a class="btn btn-primary" href={provisioning.configUrl(token.token)} download={ign} onClick={(e) => download(e, 'ignition')} aria-busy={busy === 'ignition'}>
              {busy === 'ignition' ? <span class="spinner" /> : <Icon name="rocket" size={15} />} Download device.ign
            </a>
            <a
              class="btn btn-secondary"
              href={provisioning.configUrl(token.token, 'butane')}
              download={`${base}-device.bu`}
              onClick={(e) => download(e, 'butane')}
              aria-busy={busy === 'butane'}
            >
              {busy === 'butane' ? <span class="spinner" /> : <Icon name="software" size={15} />} Download Butane
            </a>
            <span class="muted small">Ignition spec 3.3.0 · Butane for configs kept in git</span>
          </div>
          <div data-testid="download-error">
            <FormError error={error} />
          </div>
        </section>

        <section class="prov-step">
          <h3>Install Flatcar with it</h3>
          <div class="secret-box">
            <code data-testid="install-command">{command}</code>
            <CopyButton text={command} />
          </div>
          <p class="muted small">
            Check the disk name with <code>lsblk</code> first (NVMe disks are <code>/dev/nvme0n1</code>): it is erased. On first boot the agent registers with the
            token and the device appears online in its fleet.
          </p>
        </section>
      </div>
    </Modal>
  )
}
