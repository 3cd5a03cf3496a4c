import { useState } from 'preact/hooks'
import { devices } from '../api/endpoints'
import type { Device } from '../api/types'
import { LevelVarsPanel } from '../env/level-vars'
import { ResolvedEnvView } from '../env/resolved-view'
import { useCan } from '../state/session'
import { Card } from '../ui/page'

/** What the device's containers get (inherited view) and the variables set on the device itself. */
export function DeviceEnv(props: { device: Device }) {
  const canEdit = useCan('operator')
  const id = props.device.id
  const [revision, setRevision] = useState(0)
  return (
    <div class="stack">
      <Card title="Effective environment">
        <ResolvedEnvView key={revision} deviceId={id} />
      </Card>
      <Card title="Device variables">
        <LevelVarsPanel
          level="device"
          canEdit={canEdit}
          load={() => devices.envVars(id)}
          save={(container, vars) => devices.putEnv(id, container, vars)}
          remove={(container) => devices.deleteEnv(id, container)}
          onChanged={() => setRevision((n) => n + 1)}
        />
      </Card>
    </div>
  )
}
