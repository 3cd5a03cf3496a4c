import { useState } from 'preact/hooks'
import { rollouts } from '../api/rollout-endpoints'
import type { RolloutDetail, RolloutOperation } from '../api/rollout-types'
import { useSession } from '../state/session'
import { Icon } from '../ui/icons'
import { ConfirmModal } from '../ui/modal'
import { actionWords, rolloutActions } from '../ui/rollout-wording'
import { toast, toastError } from '../ui/toasts'

/**
 * The buttons a rollout offers now: only operations valid in its state, and only for operators and
 * admins (the API refuses the rest anyway). Cancel and roll back ask first, saying what they do.
 */
export function RolloutControls(props: { rollout: RolloutDetail; onChanged(next: RolloutDetail): void }) {
  const { user } = useSession()
  const [busy, setBusy] = useState<RolloutOperation | null>(null)
  const [confirming, setConfirming] = useState<RolloutOperation | null>(null)
  const actions = rolloutActions(props.rollout, user.role)
  if (!actions.length) return null

  async function run(op: RolloutOperation) {
    setConfirming(null)
    setBusy(op)
    try {
      props.onChanged(await rollouts.operate(props.rollout.id, op))
      toast('success', actionWords[op].done, `${props.rollout.software_name} ${props.rollout.version}`)
    } catch (err) {
      toastError(err, `Could not ${actionWords[op].label.toLowerCase()}`)
    } finally {
      setBusy(null)
    }
  }

  const style = (op: RolloutOperation) => (op === 'start' || op === 'resume' || op === 'advance' ? 'btn-primary' : op === 'cancel' || op === 'rollback' ? 'btn-secondary danger' : 'btn-secondary')
  return (
    <div class="rollout-controls" data-testid="rollout-controls">
      {actions.map((op) => (
        <button
          key={op}
          class={`btn ${style(op)}`}
          data-op={op}
          disabled={busy !== null}
          onClick={() => (actionWords[op].confirm ? setConfirming(op) : void run(op))}
        >
          {op === 'start' || op === 'resume' ? <Icon name="rocket" size={15} /> : op === 'retry' ? <Icon name="refresh" size={15} /> : null}
          {busy === op ? `${actionWords[op].label}…` : actionWords[op].label}
        </button>
      ))}
      {confirming && (
        <ConfirmModal
          title={actionWords[confirming].label}
          message={actionWords[confirming].confirm}
          confirmLabel={actionWords[confirming].label}
          onClose={() => setConfirming(null)}
          onConfirm={() => void run(confirming)}
        />
      )}
    </div>
  )
}
