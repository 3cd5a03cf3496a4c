import { useState } from 'preact/hooks'
import type { Device } from '../api/types'
import { useCan } from '../state/session'
import { useLocation } from '../state/router'
import { terminalUrl } from '../terminal/terminal-protocol'
import { LazyTerminalView } from '../terminal/lazy-terminal'
import type { TerminalState } from '../terminal/terminal-view'
import { Icon } from '../ui/icons'
import { EmptyState } from '../ui/states'

const stateLabels: Record<TerminalState, string> = { connecting: 'Connecting', connected: 'Connected', closed: 'Disconnected' }

/** The device's shell (or a container's, with ?container=) in the browser, over the gateway's terminal WebSocket. */
export function DeviceTerminal(props: { device: Device }) {
  const allowed = useCan('operator')
  // ?container=web opens a shell in that compose service (the Release panel links here).
  const initial = useLocation().query.get('container') ?? ''
  const [container, setContainer] = useState(initial)
  const [session, setSession] = useState<{ n: number; container: string } | null>({ n: 1, container: initial })
  const [state, setState] = useState<TerminalState>('connecting')

  if (!allowed)
    return (
      <EmptyState icon="lock" title="Terminals need the operator role">
        Ask an administrator for operator access to open shells on devices.
      </EmptyState>
    )

  const connect = () => setSession((s) => ({ n: (s?.n ?? 0) + 1, container: container.trim() }))

  return (
    <div class="terminal-panel">
      <div class="terminal-toolbar">
        <span class={`term-state term-${state}`} data-terminal-state={session ? state : 'closed'}>
          <span class="dot" />
          {session ? stateLabels[state] : 'Disconnected'}
        </span>
        <span class="term-target mono">
          core@{props.device.device_id}
          {session?.container && <> › {session.container}</>}
        </span>
        {props.device.status !== 'online' && <span class="term-note">The device is {props.device.status}; the session may not open.</span>}
        <form
          class="term-controls"
          onSubmit={(e) => {
            e.preventDefault()
            connect()
          }}
        >
          <input class="mono select-sm" aria-label="Container" placeholder="service, e.g. web (optional)" value={container} onInput={(e) => setContainer(e.currentTarget.value)} />
          <button class="btn btn-secondary btn-sm" type="submit">
            <Icon name="terminal" size={14} /> {session && state !== 'closed' ? 'Reconnect' : 'Connect'}
          </button>
          {session && state !== 'closed' && (
            <button class="btn btn-ghost btn-sm" type="button" onClick={() => setSession(null)}>
              Disconnect
            </button>
          )}
        </form>
      </div>
      {session ? (
        <LazyTerminalView key={session.n} url={terminalUrl(props.device.id, session.container || undefined)} onState={setState} />
      ) : (
        <div class="terminal-box terminal-idle">
          <p>Session closed. Connect to open a new shell.</p>
        </div>
      )}
    </div>
  )
}
