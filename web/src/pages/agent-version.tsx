import { useState } from 'preact/hooks'
import { agentReleases } from '../api/agent-releases'
import { useCan } from '../state/session'
import { timeAgo } from '../ui/format'
import { Card } from '../ui/page'
import { ErrorState, Loading } from '../ui/states'
import { toast, toastError } from '../ui/toasts'
import { useResource } from '../ui/use-resource'

/** Picks a released version (or none) and sets it as the target; the agent updates itself to it. */
function UpdateAgent(props: { current: string | null; onSet: (version: string | null) => Promise<void> }) {
  const releases = useResource(() => agentReleases.list(), [])
  const [choice, setChoice] = useState(props.current ?? '')
  const [busy, setBusy] = useState(false)
  const versions = [...new Set((releases.data?.items ?? []).map((r) => r.version))]
  async function apply() {
    setBusy(true)
    try {
      await props.onSet(choice === '' ? null : choice)
    } finally {
      setBusy(false)
    }
  }
  return (
    <div class="form-row agent-update">
      <select aria-label="Agent version" value={choice} onChange={(e) => setChoice((e.target as HTMLSelectElement).value)}>
        <option value="">No target (keep what it runs)</option>
        {versions.map((v) => (
          <option key={v} value={v}>
            {v}
          </option>
        ))}
      </select>
      <button class="btn btn-primary btn-sm" disabled={busy || choice === (props.current ?? '')} onClick={() => void apply()}>
        Update agent
      </button>
    </div>
  )
}

/** The agent a device runs, the one it should run, and a warning when it is older than the gateway supports. */
export function DeviceAgentCard(props: { deviceId: string }) {
  const isAdmin = useCan('admin')
  const agent = useResource(() => agentReleases.device(props.deviceId), [props.deviceId])
  const a = agent.data
  return (
    <Card title="Agent">
      {agent.error ? (
        <ErrorState error={agent.error} retry={agent.reload} />
      ) : !a ? (
        <Loading />
      ) : (
        <>
          {a.outdated && (
            <p class="text-red agent-outdated" role="alert">
              This device runs agent {a.version}, older than this gateway supports ({a.min_supported_version} or newer). Update its agent.
            </p>
          )}
          <dl class="kv-grid">
            <div class="kv">
              <dt>Running</dt>
              <dd class="mono">{a.version ? `${a.version} (${a.arch ?? 'x64'})` : 'not reported yet'}</dd>
            </div>
            <div class="kv">
              <dt>Target</dt>
              <dd class="mono">{a.target ? `${a.target} (${a.target_from === 'fleet' ? "fleet's" : 'this device'})` : 'none'}</dd>
            </div>
            <div class="kv">
              <dt>Reported</dt>
              <dd>{a.reported_at ? timeAgo(a.reported_at) : '—'}</dd>
            </div>
          </dl>
          {isAdmin && (
            <UpdateAgent
              current={a.target_from === 'device' ? a.target : null}
              onSet={async (version) => {
                try {
                  agent.setData(await agentReleases.setDeviceTarget(props.deviceId, version))
                  toast('success', version ? `Agent ${version} targeted` : 'Agent target cleared', 'The agent updates itself at its next check and rolls back if the new one fails.')
                } catch (err) {
                  toastError(err, 'Could not set the agent version')
                }
              }}
            />
          )}
        </>
      )}
    </Card>
  )
}

/** How many of a fleet's devices run which agent, and the fleet's target. */
export function FleetAgentCard(props: { fleetId: string }) {
  const isAdmin = useCan('admin')
  const agents = useResource(() => agentReleases.fleet(props.fleetId), [props.fleetId])
  const f = agents.data
  return (
    <Card title="Agent versions">
      {agents.error ? (
        <ErrorState error={agents.error} retry={agents.reload} />
      ) : !f ? (
        <Loading />
      ) : (
        <>
          <table class="table agent-versions">
            <thead>
              <tr>
                <th>Agent version</th>
                <th>Devices</th>
              </tr>
            </thead>
            <tbody>
              {f.versions.map((v) => (
                <tr key={v.version ?? 'none'}>
                  <td class="mono">
                    {v.version ?? 'not reported yet'}
                    {v.outdated && <span class="text-red"> — older than the gateway supports ({f.min_supported_version})</span>}
                  </td>
                  <td>{v.devices}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <p class="muted">Target: {f.target ?? 'none'}</p>
          {isAdmin && (
            <UpdateAgent
              current={f.target}
              onSet={async (version) => {
                try {
                  await agentReleases.setFleetTarget(props.fleetId, version)
                  agents.reload()
                  toast('success', version ? `Fleet targeted at agent ${version}` : 'Fleet agent target cleared', 'Devices update at their next check; a device target overrides it.')
                } catch (err) {
                  toastError(err, 'Could not set the agent version')
                }
              }}
            />
          )}
        </>
      )}
    </Card>
  )
}
