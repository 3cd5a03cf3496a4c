import { useMemo, useState } from 'preact/hooks'
import { deployments, devices, fleets, software } from '../api/endpoints'
import type { Deployment, Device, Fleet, Software } from '../api/types'
import { useCan } from '../state/session'
import { Pill } from '../ui/badges'
import { Field, FormError, formValues, useForm } from '../ui/form'
import { Icon } from '../ui/icons'
import { ConfirmModal } from '../ui/modal'
import { Card } from '../ui/page'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { toast, toastError } from '../ui/toasts'
import { useResource } from '../ui/use-resource'

type Tone = 'green' | 'blue' | 'amber' | 'red' | 'neutral'
const tones: Record<string, Tone> = { running: 'green', deploying: 'blue', downloading: 'blue', installing: 'blue', verifying: 'blue', pending: 'amber', failed: 'red', rolled_back: 'red' }

function StatusPill(props: { status: string | undefined }) {
  const status = props.status ?? 'pending'
  return <Pill tone={tones[status] ?? 'neutral'}>{status.replace('_', ' ')}</Pill>
}

function DeployForm(props: { software: Software; fleets: Fleet[]; devices: Device[]; onDeployed(): void }) {
  const form = useForm(['fleet_id', 'device_id', 'version', 'pinned'])
  const [target, setTarget] = useState<'fleet' | 'device'>('fleet')
  const versions = useResource(() => software.versions(props.software.id), [props.software.id])

  function onSubmit(event: Event) {
    const v = formValues(event)
    const body = {
      ...(target === 'fleet' ? { fleet_id: v.target } : { device_id: v.target }),
      version: v.version || undefined,
      // Naming a version pins it on the gateway; the box pins a deployment that follows current_version at today's.
      pinned: v.pinned === 'on' ? true : undefined,
    }
    void form.submit(async () => {
      await software.deploy(props.software.id, body)
      toast('success', 'Deployed', `${props.software.name} to ${target === 'fleet' ? 'the fleet' : 'the device'}`)
      props.onDeployed()
    })
  }

  const options = target === 'fleet' ? props.fleets.map((f) => ({ id: f.id, label: f.name })) : props.devices.map((d) => ({ id: d.id, label: `${d.name} (${d.device_id})` }))
  return (
    <form class="form" onSubmit={onSubmit} noValidate>
      <div class="segmented" role="group" aria-label="Deploy to">
        <button type="button" class={target === 'fleet' ? 'active' : ''} onClick={() => setTarget('fleet')}>
          A fleet
        </button>
        <button type="button" class={target === 'device' ? 'active' : ''} onClick={() => setTarget('device')}>
          One device
        </button>
      </div>
      <Field
        label={target === 'fleet' ? 'Fleet' : 'Device'}
        name="target"
        error={form.fieldErrors.fleet_id ?? form.fieldErrors.device_id}
        hint={target === 'fleet' ? 'Devices that join the fleet later get it too.' : "Overrides its fleet's deployment of this software."}
      >
        <select id="f-target" name="target">
          {options.map((o) => (
            <option key={o.id} value={o.id}>
              {o.label}
            </option>
          ))}
        </select>
      </Field>
      <Field label="Version" name="version" error={form.fieldErrors.version}>
        <select id="f-version" name="version">
          <option value="">Follow the current version ({props.software.current_version ?? 'latest'})</option>
          {(versions.data ?? []).map((v) => (
            <option key={v.version} value={v.version}>
              Version {v.version}
            </option>
          ))}
        </select>
      </Field>
      <label class="check">
        <input type="checkbox" name="pinned" />
        <span>
          <strong>Pin this version</strong>
          <small>Stay on this version when the software moves on. Choosing a version above pins it too.</small>
        </span>
      </label>
      <FormError error={form.formError} />
      <div class="form-actions">
        <button class="btn btn-primary" type="submit" disabled={form.busy || !options.length}>
          <Icon name="rocket" size={16} /> Deploy
        </button>
      </div>
    </form>
  )
}

/** Where this software runs, each device's state, and (for admins) a new deployment. */
export function SoftwareDeploy(props: { software: Software }) {
  const isAdmin = useCan('admin')
  const list = useResource(() => deployments.list({ software_id: props.software.id, limit: 200 }), [props.software.id])
  const fleetList = useResource(() => fleets.list({ limit: 500 }), [])
  const deviceList = useResource(() => devices.list({ limit: 500 }), [])
  const fleetNames = useMemo(() => new Map((fleetList.data?.items ?? []).map((f) => [f.id, f.name])), [fleetList.data])
  const deviceNames = useMemo(() => new Map((deviceList.data?.items ?? []).map((d) => [d.id, d.name])), [deviceList.data])
  const [removing, setRemoving] = useState<Deployment | null>(null)

  function targetOf(d: Deployment) {
    if (d.fleet_id) return <a href={`/fleets/${d.fleet_id}`}>{fleetNames.get(d.fleet_id) ?? 'fleet'}</a>
    if (d.device_id) return <a href={`/devices/${d.device_id}`}>{deviceNames.get(d.device_id) ?? 'device'}</a>
    return '—'
  }

  return (
    <div class={isAdmin ? 'grid grid-sidebar-right' : ''}>
      <Card title="Deployments" flush>
        {list.error ? (
          <ErrorState error={list.error} retry={list.reload} feature="Deployments" />
        ) : !list.data ? (
          <Loading />
        ) : !list.data.length ? (
          <EmptyState icon="rocket" title="Not deployed anywhere yet">
            Deploy it to a fleet, and every device of the fleet runs it.
          </EmptyState>
        ) : (
          <table class="table" data-testid="deployments-table">
            <thead>
              <tr>
                <th>Target</th>
                <th>Version</th>
                <th>Devices</th>
                {isAdmin && <th />}
              </tr>
            </thead>
            <tbody>
              {list.data.map((d) => (
                <tr key={d.id}>
                  <td>
                    <span class="muted small">{d.fleet_id ? 'Fleet' : 'Device'}</span>
                    <div class="strong">{targetOf(d)}</div>
                  </td>
                  <td class="mono">
                    {d.effective_version ?? d.version} {d.pinned ? <Pill tone="violet">pinned</Pill> : <Pill>follows current</Pill>}
                  </td>
                  <td>
                    {d.devices?.length ? (
                      <ul class="plain">
                        {d.devices.map((s) => (
                          <li key={s.id} data-deployed={s.device_id}>
                            <a class="small" href={`/devices/${s.id}`}>
                              {s.name ?? s.device_id}
                            </a>{' '}
                            {s.online === false ? (
                              // What an offline device said last is not what runs now: say offline, and what it said in the title.
                              <span title={`last reported: ${(s.status ?? 'pending').replace('_', ' ')}`} data-testid="deployed-offline">
                                <Pill tone="neutral">offline</Pill>
                              </span>
                            ) : (
                              <StatusPill status={s.status} />
                            )}
                            {s.error && <div class="small text-red">{s.error}</div>}
                          </li>
                        ))}
                      </ul>
                    ) : (
                      <span class="muted small">No devices yet</span>
                    )}
                  </td>
                  {isAdmin && (
                    <td class="row-actions">
                      <button class="icon-btn danger" aria-label="Remove deployment" onClick={() => setRemoving(d)}>
                        <Icon name="trash" size={15} />
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      {isAdmin && (
        <Card title="Deploy">
          {fleetList.data && deviceList.data ? (
            <DeployForm software={props.software} fleets={fleetList.data.items} devices={deviceList.data.items} onDeployed={list.reload} />
          ) : fleetList.error || deviceList.error ? (
            <ErrorState error={fleetList.error ?? deviceList.error} />
          ) : (
            <Loading />
          )}
        </Card>
      )}
      {removing && (
        <ConfirmModal
          title="Remove deployment"
          message="Its devices stop being told to run this software; their agents stop it on their next sync."
          confirmLabel="Remove deployment"
          onClose={() => setRemoving(null)}
          onConfirm={() => {
            const d = removing
            setRemoving(null)
            deployments.remove(d.id).then(
              () => {
                toast('success', 'Deployment removed')
                list.reload()
              },
              (err) => toastError(err, 'Could not remove the deployment'),
            )
          }}
        />
      )}
    </div>
  )
}
