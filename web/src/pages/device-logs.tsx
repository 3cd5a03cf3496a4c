import { useEffect, useState } from 'preact/hooks'
import type { Device } from '../api/types'
import { setQuery, useLocation } from '../state/router'
import { FormError } from '../ui/form'
import { Icon } from '../ui/icons'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { describeRange, parseTimeRange, TimeRangePicker } from '../ui/time-range'
import { usePoll } from '../ui/use-poll'
import { LOG_MAX, LOG_PAGE, useLogWindow } from './device-log-window'
import { LogPanel } from './log-panel'

/**
 * Why a poll and not the live event stream: the gateway publishes no event
 * when a device's logs arrive (outbox ingest only writes rows; /api/events
 * carries device.status and device.changed), so a poll is the only way to see
 * new lines. 10 s, and only while the browser tab is visible.
 */
const POLL_MS = 10_000

/** What the device shipped: its containers' output, deploy results, container state changes, agent notices. */
export function DeviceLogs(props: { device: Device }) {
  const { query } = useLocation()
  const container = query.get('container') ?? undefined
  const range = parseTimeRange(query.get('since'), 'all')
  const logs = useLogWindow(props.device.id, { container, range })
  usePoll(logs.reload, POLL_MS)

  // The filter lists every container seen while the page is open, so picking one does not hide the others.
  const [containers, setContainers] = useState<string[]>([])
  useEffect(() => {
    const seen = new Set(containers)
    for (const e of logs.data?.items ?? []) if (e.container) seen.add(e.container)
    if (container) seen.add(container)
    if (seen.size !== containers.length) setContainers([...seen].sort())
  }, [logs.data, container])

  const filtered = Boolean(container) || range !== 'all'
  const data = logs.data
  const hidden = data ? data.offset : 0

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
          {data && (
            <span data-testid="log-count">
              {data.total === data.items.length ? `${data.total} ${data.total === 1 ? 'line' : 'lines'}` : `newest ${data.items.length} of ${data.total} lines`}
            </span>
          )}
          <span class="log-live" title="New lines appear every 10 seconds while this tab is open">
            <span class="dot" /> Auto-refresh
          </span>
          <button class="icon-btn" aria-label="Refresh now" title="Refresh now" onClick={logs.reload}>
            <Icon name="refresh" size={15} />
          </button>
        </span>
      </div>
      {/* A failed refresh keeps the lines on screen and says why they may be stale. */}
      {logs.error && data && (
        <div class="card-alert">
          <FormError error={logs.error} />
        </div>
      )}
      {logs.error && !data ? (
        <ErrorState error={logs.error} retry={logs.reload} feature="Device logs" />
      ) : !data ? (
        <Loading />
      ) : data.items.length === 0 ? (
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
          entries={data.items}
          top={
            hidden > 0 && (
              <div class="log-older">
                {logs.size < LOG_MAX ? (
                  <button class="btn btn-sm log-older-btn" disabled={logs.loading} onClick={logs.loadOlder}>
                    {logs.loading ? 'Loading…' : `Load ${Math.min(LOG_PAGE, hidden)} older lines`}
                  </button>
                ) : (
                  <span>The panel holds the newest {LOG_MAX} lines; pick a container to narrow them.</span>
                )}
                <span class="log-older-count">{hidden} older not shown</span>
              </div>
            )
          }
        />
      )}
    </section>
  )
}
