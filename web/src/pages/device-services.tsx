import { useState } from 'preact/hooks'
import { devices, services, type ServiceInput } from '../api/endpoints'
import type { Device, ExposedService } from '../api/types'
import { useCan } from '../state/session'
import { Pill } from '../ui/badges'
import { Field, FormActions, FormError, formValues, useForm } from '../ui/form'
import { Icon } from '../ui/icons'
import { ConfirmModal, Modal } from '../ui/modal'
import { Card } from '../ui/page'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { toast, toastError } from '../ui/toasts'
import { useResource } from '../ui/use-resource'

const fields = ['name', 'container_name', 'internal_port', 'protocol', 'url_path', 'auth_required'] as const

/** Ports the device reported for its containers (published, declared or listening), for the picker. */
function usePortChoices(deviceId: string) {
  const release = useResource(() => devices.release(deviceId), [deviceId])
  const containers = [...(release.data?.software.flatMap((s) => s.containers) ?? []), ...(release.data?.other_containers ?? [])]
  const seen = new Set<string>()
  return containers.flatMap((c) =>
    (c.ports ?? []).flatMap((p) => {
      const service = c.service ?? c.name
      const key = `${service}:${p.container_port}`
      if (p.protocol !== 'tcp' || seen.has(key)) return []
      seen.add(key)
      const how = p.source === 'published' ? `published on ${p.host_port}` : p.source
      return [{ key, service, port: p.container_port, label: `${service} : ${p.container_port} (${how})` }]
    }),
  )
}

function ServiceFormModal(props: { deviceId: string; service?: ExposedService; onClose(): void; onSaved(s: ExposedService): void }) {
  const form = useForm(fields)
  const s = props.service
  const choices = usePortChoices(props.deviceId)
  const [target, setTarget] = useState({ container: s?.container_name ?? '', port: s ? String(s.internal_port) : '' })
  const picked = choices.find((c) => c.service === target.container && String(c.port) === target.port)?.key ?? (target.container || target.port ? 'other' : '')
  const [other, setOther] = useState(false)
  const freeText = !choices.length || other || (picked === 'other' && Boolean(s)) || Boolean(form.fieldErrors.container_name || form.fieldErrors.internal_port)

  function onSubmit(event: Event) {
    const v = formValues(event)
    const body: ServiceInput = {
      name: v.name?.trim() ?? '',
      container_name: v.container_name?.trim() ?? '',
      internal_port: Number(v.internal_port),
      protocol: v.protocol === 'tcp' ? 'tcp' : 'http',
      url_path: v.url_path?.trim() || null,
      auth_required: v.auth_required === 'on',
    }
    void form.submit(async () => {
      const saved = s ? await services.update(props.deviceId, s.id, body) : await services.create(props.deviceId, body)
      props.onSaved(saved)
    })
  }

  return (
    <Modal title={s ? `Edit ${s.name}` : 'Expose a service'} onClose={props.onClose}>
      <form class="form" onSubmit={onSubmit} noValidate>
        <Field label="Name" name="name" error={form.fieldErrors.name} hint="Becomes the subdomain label: name.device.domain">
          <input id="f-name" name="name" class="mono" defaultValue={s?.name} placeholder="web" />
        </Field>
        {choices.length > 0 && (
          <Field label="Container port" name="port_pick" hint="Ports the device reports its containers listen on or publish">
            <select
              id="f-port-pick"
              value={freeText ? 'other' : picked}
              onChange={(e) => {
                const value = e.currentTarget.value
                const choice = choices.find((c) => c.key === value)
                setOther(value === 'other')
                if (choice) setTarget({ container: choice.service, port: String(choice.port) })
              }}
            >
              <option value="" disabled>
                Pick a container port…
              </option>
              {choices.map((c) => (
                <option key={c.key} value={c.key}>
                  {c.label}
                </option>
              ))}
              <option value="other">Another container or port…</option>
            </select>
          </Field>
        )}
        <div class="form-row" hidden={!freeText}>
          <Field label="Container" name="container_name" error={form.fieldErrors.container_name} hint="The compose service name, e.g. web">
            <input id="f-container_name" name="container_name" class="mono" value={target.container} onInput={(e) => setTarget({ ...target, container: e.currentTarget.value })} placeholder="web" />
          </Field>
          <Field label="Port" name="internal_port" error={form.fieldErrors.internal_port}>
            <input
              id="f-internal_port"
              name="internal_port"
              type="number"
              min={1}
              max={65535}
              value={target.port}
              onInput={(e) => setTarget({ ...target, port: e.currentTarget.value })}
              placeholder="8080"
            />
          </Field>
        </div>
        <div class="form-row">
          <Field label="Protocol" name="protocol" error={form.fieldErrors.protocol}>
            <select id="f-protocol" name="protocol" defaultValue={s?.protocol ?? 'http'}>
              <option value="http">HTTP (and WebSocket)</option>
              <option value="tcp">TCP</option>
            </select>
          </Field>
          <Field label="URL path" name="url_path" error={form.fieldErrors.url_path} hint="Optional path routing, e.g. /grafana">
            <input id="f-url_path" name="url_path" class="mono" defaultValue={s?.url_path ?? ''} placeholder="/grafana" />
          </Field>
        </div>
        <label class="check">
          <input type="checkbox" name="auth_required" defaultChecked={s?.auth_required ?? true} />
          <span>
            <strong>Require sign-in</strong>
            <small>Visitors need a console session or an API token. Untick to make the service public.</small>
          </span>
        </label>
        <FormError error={form.formError} />
        <FormActions onCancel={props.onClose} busy={form.busy}>
          {s ? 'Save' : 'Expose service'}
        </FormActions>
      </form>
    </Modal>
  )
}

/** The device's exposed services: each container port published on its own subdomain, with its URL. */
export function DeviceServices(props: { device: Device }) {
  const id = props.device.id
  const canEdit = useCan('operator')
  const list = useResource(() => services.list(id), [id])
  const [modal, setModal] = useState<{ kind: 'form'; service?: ExposedService } | { kind: 'delete'; service: ExposedService } | null>(null)
  const [busy, setBusy] = useState<string | null>(null)

  async function toggle(s: ExposedService) {
    setBusy(s.id)
    try {
      const saved = await services.setEnabled(id, s.id, !s.enabled)
      list.setData((items) => items?.map((x) => (x.id === s.id ? { ...x, ...saved, enabled: saved?.enabled ?? !s.enabled } : x)))
      toast('success', `${s.name} ${s.enabled ? 'disabled' : 'enabled'}`)
    } catch (err) {
      toastError(err, `Could not ${s.enabled ? 'disable' : 'enable'} ${s.name}`)
    } finally {
      setBusy(null)
    }
  }

  async function remove(s: ExposedService) {
    setModal(null)
    try {
      await services.remove(id, s.id)
      toast('success', 'Service removed', s.name)
      list.reload()
    } catch (err) {
      toastError(err, `Could not remove ${s.name}`)
    }
  }

  if (list.error) return <Card><ErrorState error={list.error} retry={list.reload} feature="Exposed services" /></Card>

  return (
    <Card
      flush
      title="Exposed services"
      actions={
        canEdit && (
          <button class="btn btn-primary btn-sm" onClick={() => setModal({ kind: 'form' })}>
            <Icon name="plus" size={14} /> Expose a service
          </button>
        )
      }
    >
      {!list.data ? (
        <Loading />
      ) : list.data.length === 0 ? (
        <EmptyState icon="globe" title="No exposed services">
          Publish a container port of this device on its own subdomain, with TLS and optional sign-in.
        </EmptyState>
      ) : (
        <table class="table" data-testid="services-table">
          <thead>
            <tr>
              <th>Service</th>
              <th>Target</th>
              <th>Access</th>
              <th>URL</th>
              <th>State</th>
              {canEdit && <th />}
            </tr>
          </thead>
          <tbody>
            {list.data.map((s) => (
              <tr key={s.id} data-service={s.name}>
                <td class="mono strong">{s.name}</td>
                <td class="mono small">
                  {s.container_name}:{s.internal_port} <span class="muted">{s.protocol}</span>
                  {s.url_path && <span class="muted"> {s.url_path}</span>}
                </td>
                <td>{s.auth_required ? <Pill tone="violet">sign-in</Pill> : <Pill tone="amber">public</Pill>}</td>
                <td>
                  {s.url ? (
                    <a class="mono small link-external" href={s.url} target="_blank" rel="noopener noreferrer">
                      {s.url.replace(/^https?:\/\//, '')} <Icon name="external" size={13} />
                    </a>
                  ) : s.gateway_port ? (
                    <span class="mono small" title="The gateway's loopback port for this TCP service">
                      127.0.0.1:{s.gateway_port}
                    </span>
                  ) : (
                    <span class="muted">—</span>
                  )}
                </td>
                <td>
                  {!s.enabled ? (
                    <Pill>disabled</Pill>
                  ) : s.connected ? (
                    <Pill tone="green" title="The device forwards this service through its tunnel">
                      live
                    </Pill>
                  ) : (
                    <Pill tone="amber" title="Enabled; the device does not forward it right now">
                      enabled · not forwarded
                    </Pill>
                  )}
                </td>
                {canEdit && (
                  <td class="row-actions">
                    <button class="btn btn-ghost btn-sm" disabled={busy === s.id} onClick={() => void toggle(s)}>
                      {s.enabled ? 'Disable' : 'Enable'}
                    </button>
                    <button class="icon-btn" aria-label={`Edit ${s.name}`} onClick={() => setModal({ kind: 'form', service: s })}>
                      <Icon name="edit" size={15} />
                    </button>
                    <button class="icon-btn danger" aria-label={`Remove ${s.name}`} onClick={() => setModal({ kind: 'delete', service: s })}>
                      <Icon name="trash" size={15} />
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {modal?.kind === 'form' && (
        <ServiceFormModal
          deviceId={id}
          service={modal.service}
          onClose={() => setModal(null)}
          onSaved={(s) => {
            setModal(null)
            toast('success', modal.service ? 'Service saved' : 'Service exposed', s.url ?? s.name)
            list.reload()
          }}
        />
      )}
      {modal?.kind === 'delete' && (
        <ConfirmModal
          title="Remove service"
          message={`Stop publishing ${modal.service.name}? Its URL stops answering at once.`}
          confirmLabel="Remove"
          onClose={() => setModal(null)}
          onConfirm={() => void remove(modal.service)}
        />
      )}
    </Card>
  )
}
