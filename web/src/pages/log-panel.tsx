import type { ComponentChildren } from 'preact'
import { useLayoutEffect, useRef } from 'preact/hooks'
import type { DeviceLogEntry } from '../api/types'
import { formatDate, formatLogTime } from '../ui/format'

/** What each log_type is called in the level column. */
const levels: Record<string, string> = { stdout: 'out', stderr: 'err', deploy: 'deploy', container: 'state', agent: 'agent', dropped: 'dropped' }

function LogLine(props: { entry: DeviceLogEntry }) {
  const e = props.entry
  const type = e.log_type in levels ? e.log_type : 'other'
  // A failed deploy reads as an error even though it is not container output.
  const failed = e.log_type === 'deploy' && /: (failed|rolled_back)\b/.test(e.message)
  return (
    <div class={`log-line log-${type} ${failed ? 'log-failed' : ''}`} data-testid="log-line" data-type={e.log_type} data-source={e.container ?? ''}>
      <time class="log-time" dateTime={e.created_at} title={formatDate(e.created_at)}>
        {formatLogTime(e.created_at)}
      </time>
      <span class={`log-level level-${failed ? 'failed' : type}`}>{levels[e.log_type] ?? e.log_type}</span>
      <span class={`log-source ${e.container ? '' : 'log-source-agent'}`} title={e.container ?? 'the agent itself'}>
        {e.container ?? 'agent'}
      </span>
      <span class="log-message">{e.message}</span>
    </div>
  )
}

/**
 * Log lines, newest last, in a scrolling monospace panel. It sticks to the
 * bottom while the reader is there (new lines scroll into view), stays put
 * when they have scrolled up, and keeps the same lines in view when older
 * ones are added above.
 */
export function LogPanel(props: { entries: DeviceLogEntry[]; top?: ComponentChildren }) {
  const box = useRef<HTMLDivElement>(null)
  const follow = useRef(true)
  const before = useRef<{ first: string | undefined; height: number }>({ first: undefined, height: 0 })

  useLayoutEffect(() => {
    const el = box.current
    if (!el) return
    const first = props.entries[0]?.id
    if (follow.current) el.scrollTop = el.scrollHeight
    else if (before.current.first && first !== before.current.first) el.scrollTop += el.scrollHeight - before.current.height
    before.current = { first, height: el.scrollHeight }
  }, [props.entries])

  return (
    <div
      class="log-panel"
      ref={box}
      data-testid="log-panel"
      role="log"
      onScroll={(e) => {
        const el = e.currentTarget
        follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24
      }}
    >
      {props.top}
      {props.entries.map((e) => (
        <LogLine key={e.id} entry={e} />
      ))}
    </div>
  )
}
