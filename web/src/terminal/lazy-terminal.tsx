import { useEffect, useState } from 'preact/hooks'
import { ErrorState, Loading } from '../ui/states'
import type { TerminalState } from './terminal-view'

type TerminalModule = typeof import('./terminal-view')
let loading: Promise<TerminalModule> | undefined

/** xterm.js is most of the console's weight; it loads only when a terminal is opened. */
export function LazyTerminalView(props: { url: string; onState(state: TerminalState): void }) {
  const [mod, setMod] = useState<TerminalModule | null>(null)
  const [error, setError] = useState<unknown>(undefined)
  useEffect(() => {
    loading ??= import('./terminal-view')
    loading.then(
      (m) => setMod(() => m),
      (err: unknown) => {
        loading = undefined
        setError(err)
      },
    )
  }, [])
  if (error) return <ErrorState error={error} />
  if (!mod) return <div class="terminal-box terminal-idle"><Loading label="Loading the terminal…" /></div>
  return <mod.TerminalView url={props.url} onState={props.onState} />
}
