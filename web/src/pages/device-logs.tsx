import { useEffect, useState } from 'preact/hooks'
import type { Device } from '../api/types'
import { setQuery, useLocation } from '../state/router'
import { FormError } from '../ui/form'
import { Icon } from '../ui/icons'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { describeRange, parseTimeRange, TimeRangePicker } from '../ui/time-range'
import { LOG_PAGE, useLogWindow } from './device-log-window'
import { LogPanel } from './log-panel'

/** What the device shipped: its containers' output, deploy results, container state changes, agent notices. Live by default. */
export function DeviceLogs(props: { device: Device }) {
  const { query } = useLocation()
  const container = query.get('container') ?? undefined
  const range = parseTimeRange(query.get('since'), 'all')
  const live = query.get('live') !== '0'
  const logs = useLogWindow(props.device.id, { container, range, live })

  // The filter lists every container seen while the page is open, so picking one does not hide the others.
  const [containers, setContainers] = useState<string[]>([])
  useEffect(() => {
    const seen = new Set(containers)
    for (const e of logs.entries) if (e.container) seen.add(e.container)
    if (container) seen.add(container)
    if (seen.size !== containers.length) setContainers([...seen].sort())
  }, [logs.entries, container])

  const filtered = Boolean(container) || range !== 'all'
  const hidden = Math.max(0, logs.total - logs.entries.length)

  return (
    <section class="card card-flush log-card">
      <div class="toolbar">
        <select
          id="log-container"
          class="select-sm"
          aria-label="Filter by container"
          value={container ?? ''}
          onChange={(e) => setQuery({ container: e.currentTarget.value || undefined })}
        >
          <option value="">All containers</option>
          {containers.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
        <TimeRangePicker value={range} onChange={(r) => setQuery({ since: r === 'all' ? undefined : r })} />
        <span class="toolbar-count">
          {!logs.loading || logs.entries.length ? (
            <span data-testid="log-count">
              {logs.total === logs.entries.length ? `${logs.total} ${logs.total === 1 ? 'line' : 'lines'}` : `newest ${logs.entries.length} of ${logs.total} lines`}
            </span>
          ) : null}
          <button
            class={`btn btn-sm ${live ? 'btn-secondary' : 'btn-ghost'}`}
            data-testid="log-live"
            data-stream={logs.stream}
            title={live ? 'New lines appear as the device sends them; click to pause' : 'Paused; click to follow new lines live'}
            onClick={() => setQuery({ live: live ? '0' : undefined })}
          >
            <span class={`log-live ${logs.stream === 'live' ? '' : 'log-live-off'}`}>
              <span class="dot" /> {live ? (logs.stream === 'live' ? 'Live' : 'Connecting…') : 'Paused'}
            </span>
          </button>
          <button class="icon-btn" aria-label="Reload" title="Reload" onClick={logs.reload}>
            <Icon name="refresh" size={15} />
          </button>
        </span>
      </div>
      {/* A failed load keeps the lines on screen and says why they may be stale. */}
      {logs.error !== undefined && logs.entries.length > 0 && (
        <div class="card-alert">
          <FormError error={logs.error} />
        </div>
      )}
      {logs.error !== undefined && !logs.entries.length ? (
        <ErrorState error={logs.error} retry={logs.reload} feature="Device logs" />
      ) : logs.loading && !logs.entries.length ? (
        <Loading />
      ) : logs.entries.length === 0 ? (
        filtered ? (
          <EmptyState
            icon="search"
            title="No log lines match"
            action={
              <button class="btn btn-secondary" onClick={() => setQuery({ container: undefined, since: undefined })}>
                Show all logs
              </button>
            }
          >
            Nothing {container ? `from ${container} ` : ''}was shipped {describeRange(range)}.
          </EmptyState>
        ) : (
          <EmptyState icon="activity" title="No logs from this device yet">
            The agent on the device ships its containers' output, the results of deploys and container state changes here, through its tunnel. A device that was offline
            sends what it buffered as soon as it reconnects.
          </EmptyState>
        )
      ) : (
        <LogPanel
          entries={logs.entries}
          top={
            logs.hasOlder && (
              <div class="log-older">
                <button class="btn btn-sm log-older-btn" disabled={logs.loading} onClick={logs.loadOlder}>
                  {logs.loading ? 'Loading…' : `Load ${Math.min(LOG_PAGE, hidden || LOG_PAGE)} older lines`}
                </button>
                {hidden > 0 && <span class="log-older-count">{hidden} older not shown</span>}
              </div>
            )
          }
        />
      )}
    </section>
  )
}
