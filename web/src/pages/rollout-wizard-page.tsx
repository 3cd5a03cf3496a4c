import { useState } from 'preact/hooks'
import { ApiError } from '../api/client'
import { fleets, software } from '../api/endpoints'
import { activeRolloutId } from '../api/error-text'
import { rollouts } from '../api/rollout-endpoints'
import type { FailureAction, NewRollout, RolloutStrategy } from '../api/rollout-types'
import { navigate, useLocation } from '../state/router'
import { Field, FormError, useForm } from '../ui/form'
import { Icon } from '../ui/icons'
import { Card, PageHeader } from '../ui/page'
import { failureActionWords, planWaves, strategyWords } from '../ui/rollout-wording'
import { ErrorState, Loading } from '../ui/states'
import { toast } from '../ui/toasts'
import { useResource } from '../ui/use-resource'
import { RolloutTarget, type TargetValue } from './rollout-target'

/** The gateway's defaults (docs/rollouts.md), prefilled so nobody has to know them. */
const DEFAULTS = {
  canary_percent: '10',
  wave_percent: '25',
  wave_size: '2',
  success_percent: '100',
  error_threshold_percent: '20',
  soak_seconds: '60',
  deadline_seconds: '3600',
}

type Numbers = typeof DEFAULTS
/** After a canary: the rest at once (the gateway's default), or in waves like a rolling rollout. */
type WaveMode = 'rest' | 'percent' | 'size'

const FIELDS = ['software_id', 'version', 'fleet_id', 'selector', 'devices', 'strategy', 'canary_percent', 'wave_size', 'wave_percent', 'doubling', 'success_percent', 'error_threshold_percent', 'failure_action', 'soak_seconds', 'deadline_seconds']

const num = (text: string) => (text.trim() === '' ? undefined : Number(text))

function NumberField(props: { name: keyof Numbers; label: string; unit?: string; hint?: string; values: Numbers; errors: Record<string, string>; onChange(name: keyof Numbers, value: string): void }) {
  return (
    <Field label={props.label} name={props.name} error={props.errors[props.name]} hint={props.hint}>
      <div class="input-unit">
        <input id={`f-${props.name}`} type="number" step="any" min="0" value={props.values[props.name]} onInput={(e) => props.onChange(props.name, e.currentTarget.value)} />
        {props.unit && <span class="muted small">{props.unit}</span>}
      </div>
    </Field>
  )
}

/** New rollout: release, target (with the selector's live preview), strategy and thresholds; creates a draft or starts at once. */
export function RolloutWizardPage() {
  const { query } = useLocation()
  const softwareList = useResource(() => software.list(), [])
  const fleetList = useResource(() => fleets.list({ limit: 500 }), [])
  const [softwareId, setSoftwareId] = useState(query.get('software_id') ?? '')
  const [version, setVersion] = useState(query.get('version') ?? '')
  const versions = useResource(() => (softwareId ? software.versions(softwareId) : Promise.resolve([])), [softwareId])
  const [target, setTarget] = useState<TargetValue>({ mode: 'fleet', fleetId: query.get('fleet_id') ?? '', selector: '', devices: [] })
  const [matched, setMatched] = useState<number | undefined>(undefined)
  const [strategy, setStrategy] = useState<RolloutStrategy>('canary')
  const [waveMode, setWaveMode] = useState<WaveMode>('rest')
  const [doubling, setDoubling] = useState(false)
  const [failureAction, setFailureAction] = useState<FailureAction>('pause')
  const [values, setValues] = useState<Numbers>(DEFAULTS)
  const form = useForm(FIELDS)
  const setNumber = (name: keyof Numbers, value: string) => setValues((v) => ({ ...v, [name]: value }))

  if (softwareList.error || fleetList.error) return <div class="page"><ErrorState error={softwareList.error ?? fleetList.error} /></div>
  if (!softwareList.data || !fleetList.data) return <div class="page"><Loading /></div>
  const chosenSoftware = softwareList.data.find((s) => s.id === softwareId)

  function chooseStrategy(next: RolloutStrategy) {
    setStrategy(next)
    // "The rest" only follows a canary; the others need a wave size.
    if (next !== 'canary' && waveMode === 'rest') setWaveMode('percent')
    if (next === 'canary' && strategy !== 'canary') setWaveMode('rest')
  }

  const waves = matched
    ? planWaves(matched, strategy, {
        canary_percent: num(values.canary_percent) || 10,
        wave_size: waveMode === 'size' ? num(values.wave_size) || 1 : null,
        wave_percent: waveMode === 'rest' ? 100 : num(values.wave_percent) || 25,
        doubling,
      })
    : []

  function body(start: boolean): NewRollout {
    const waveFields = strategy === 'immediate' || waveMode === 'rest' ? {} : waveMode === 'size' ? { wave_size: num(values.wave_size), doubling } : { wave_percent: num(values.wave_percent), doubling }
    return {
      software_id: softwareId,
      version: version || undefined,
      ...(target.mode === 'fleet' ? { fleet_id: target.fleetId || undefined, selector: target.selector.trim() || undefined } : { devices: target.devices }),
      strategy,
      ...(strategy === 'canary' ? { canary_percent: num(values.canary_percent) } : {}),
      ...waveFields,
      success_percent: num(values.success_percent),
      error_threshold_percent: num(values.error_threshold_percent),
      failure_action: failureAction,
      soak_seconds: num(values.soak_seconds),
      deadline_seconds: num(values.deadline_seconds),
      start,
    }
  }

  function create(start: boolean) {
    void form.submit(async () => {
      const created = await rollouts.create(body(start))
      toast('success', start ? 'Rollout started' : 'Rollout saved as a draft', `${created.software_name} ${created.version}`)
      navigate(`/rollouts/${created.id}`)
    })
  }

  const numberProps = { values, errors: form.fieldErrors, onChange: setNumber }
  return (
    <div class="page rollout-wizard" data-testid="rollout-wizard">
      <PageHeader crumbs={[{ label: 'Rollouts', href: '/rollouts' }]} title="New rollout" subtitle="Send a version to devices in waves; it stops by itself when too many fail." />
      <form class="stack" noValidate onSubmit={(e) => (e.preventDefault(), create(true))}>
        <Card title="1. Release">
          <div class="form-row">
            <Field label="Software" name="software_id" error={form.fieldErrors.software_id}>
              <select id="f-software_id" value={softwareId} onChange={(e) => (setSoftwareId(e.currentTarget.value), setVersion(''))}>
                <option value="">Choose software…</option>
                {softwareList.data.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                  </option>
                ))}
              </select>
            </Field>
            <Field label="Version" name="version" error={form.fieldErrors.version}>
              <select id="f-version" value={version} onChange={(e) => setVersion(e.currentTarget.value)} disabled={!softwareId}>
                <option value="">The current version{chosenSoftware?.current_version ? ` (${chosenSoftware.current_version})` : ''}</option>
                {(versions.data ?? []).map((v) => (
                  <option key={v.version} value={v.version}>
                    Version {v.version}
                  </option>
                ))}
              </select>
            </Field>
          </div>
        </Card>
        <Card title="2. Target">
          <RolloutTarget value={target} fleets={fleetList.data.items} errors={form.fieldErrors} onChange={setTarget} onMatched={setMatched} />
        </Card>
        <Card title="3. Strategy">
          <div class="form">
            <div class="segmented" role="group" aria-label="Strategy">
              {(['canary', 'rolling', 'manual', 'immediate'] as const).map((s) => (
                <button key={s} type="button" class={strategy === s ? 'active' : ''} data-strategy={s} onClick={() => chooseStrategy(s)}>
                  {strategyWords[s].label}
                </button>
              ))}
            </div>
            <p class="muted small">{strategyWords[strategy].hint}</p>
            {strategy !== 'immediate' && (
              <div class="form-row">
                {strategy === 'canary' && <NumberField name="canary_percent" label="Canary size" unit="% of the devices (at least one)" {...numberProps} />}
                <Field label={strategy === 'canary' ? 'After the canary' : 'Waves'} name="wave_mode">
                  <select id="f-wave_mode" value={waveMode} onChange={(e) => setWaveMode(e.currentTarget.value as WaveMode)}>
                    {strategy === 'canary' && <option value="rest">All the rest at once</option>}
                    <option value="percent">Waves of a share of the devices</option>
                    <option value="size">Waves of a number of devices</option>
                  </select>
                </Field>
                {waveMode === 'percent' && <NumberField name="wave_percent" label="Wave size" unit="% of all devices" {...numberProps} />}
                {waveMode === 'size' && <NumberField name="wave_size" label="Wave size" unit="devices" {...numberProps} />}
                {waveMode !== 'rest' && (
                  <label class="check">
                    <input type="checkbox" checked={doubling} onChange={(e) => setDoubling(e.currentTarget.checked)} />
                    <span>
                      <strong>Doubling</strong>
                      <small>Each wave twice the size of the one before.</small>
                    </span>
                  </label>
                )}
              </div>
            )}
            <p class="wave-plan" data-testid="wave-plan">
              {matched === undefined
                ? 'The waves appear here once the target is known.'
                : matched === 0
                  ? 'No device matches the target yet: the rollout cannot start until one does.'
                  : `Today that is ${waves.length} wave${waves.length === 1 ? '' : 's'}: ${waves.length > 12 ? `${waves.slice(0, 10).join(', ')}, … ${waves.at(-1)}` : waves.join(', ')} device${matched === 1 ? '' : 's'}.`}
            </p>
          </div>
        </Card>
        <Card title="4. Thresholds">
          <div class="form">
            <div class="form-row">
              <NumberField name="success_percent" label="Advance when succeeded" unit="% of a wave" hint="A wave is done when this share of its devices succeeded." {...numberProps} />
              <NumberField name="soak_seconds" label="Soak time" unit="seconds" hint="A device succeeds once its release ran healthy this long." {...numberProps} />
              <NumberField name="error_threshold_percent" label="Error threshold" unit="% failed" hint="More failed devices than this share triggers the failure action." {...numberProps} />
              <Field label="Failure action" name="failure_action" error={form.fieldErrors.failure_action}>
                <select id="f-failure_action" value={failureAction} onChange={(e) => setFailureAction(e.currentTarget.value as FailureAction)}>
                  {(['pause', 'rollback', 'continue'] as const).map((a) => (
                    <option key={a} value={a}>
                      {failureActionWords[a]}
                    </option>
                  ))}
                </select>
              </Field>
              <NumberField name="deadline_seconds" label="Per-device deadline" unit="seconds" hint="A device offline this long after it was sent the release is skipped; it updates when it returns." {...numberProps} />
            </div>
          </div>
        </Card>
        <FormError error={form.formError} />
        {form.formError instanceof ApiError && activeRolloutId(form.formError.message) && (
          <a class="btn btn-ghost btn-sm" href={`/rollouts/${activeRolloutId(form.formError.message)}`} data-testid="active-rollout">
            Open the rollout that is still active
          </a>
        )}
        <div class="form-actions">
          <button type="button" class="btn btn-secondary" disabled={form.busy} onClick={() => create(false)} data-testid="create-draft">
            Save as draft
          </button>
          <button type="submit" class="btn btn-primary" disabled={form.busy} data-testid="create-start">
            <Icon name="rocket" size={16} /> Create and start
          </button>
        </div>
      </form>
    </div>
  )
}
