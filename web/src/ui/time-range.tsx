/** The "since" choice of history views (logs, metrics): a segmented control and the ISO time it stands for. */

export type TimeRange = '1h' | '24h' | '7d' | 'all'

const ranges: { id: TimeRange; label: string; title: string; ms: number | null }[] = [
  { id: '1h', label: '1 h', title: 'Last hour', ms: 3_600_000 },
  { id: '24h', label: '24 h', title: 'Last 24 hours', ms: 86_400_000 },
  { id: '7d', label: '7 days', title: 'Last 7 days', ms: 7 * 86_400_000 },
  { id: 'all', label: 'All', title: 'Everything stored', ms: null },
]

export function parseTimeRange(value: string | null | undefined, fallback: TimeRange): TimeRange {
  return ranges.some((r) => r.id === value) ? (value as TimeRange) : fallback
}

/** The range's start as the API's `since`, or undefined for everything. */
export function sinceOf(range: TimeRange, now = Date.now()): string | undefined {
  const ms = ranges.find((r) => r.id === range)?.ms
  return ms ? new Date(now - ms).toISOString() : undefined
}

/** "in the last hour" / "stored", for empty states. */
export function describeRange(range: TimeRange): string {
  return range === 'all' ? 'at all' : `in the ${ranges.find((r) => r.id === range)!.title.toLowerCase()}`
}

export function TimeRangePicker(props: { value: TimeRange; onChange(range: TimeRange): void; label?: string }) {
  return (
    <div class="segmented" role="group" aria-label={props.label ?? 'Time range'} data-testid="time-range">
      {ranges.map((r) => (
        <button key={r.id} type="button" title={r.title} class={props.value === r.id ? 'active' : ''} aria-pressed={props.value === r.id} onClick={() => props.onChange(r.id)}>
          {r.label}
        </button>
      ))}
    </div>
  )
}
