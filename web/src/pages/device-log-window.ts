import { useCallback, useEffect, useRef, useState } from 'preact/hooks'
import { devices } from '../api/endpoints'
import type { DeviceLogEntry } from '../api/types'
import { sinceOf, type TimeRange } from '../ui/time-range'

/** Lines per "load older" step. */
export const LOG_PAGE = 200
/** Lines the live stream sends first, overlapping the first page so nothing falls between the two. */
const STREAM_BACKFILL = 50
/** The most lines one panel holds while following; the oldest go first (a browser stays responsive with it). */
export const LOG_MAX = 10_000

export interface LogWindow {
  /** Oldest first. */
  entries: DeviceLogEntry[]
  /** Everything that matches the filter, on the gateway. */
  total: number
  /** True when older lines can be loaded. */
  hasOlder: boolean
  loading: boolean
  error: unknown
  /** live: the stream is open; connecting: it is (re)connecting; off: paused by the reader. */
  stream: 'live' | 'connecting' | 'off'
  loadOlder(): void
  reload(): void
}

/**
 * A device's log lines that match the filter: the newest page first, then,
 * while `live`, each new line as the gateway's Server-Sent Events stream
 * delivers it; older pages come on demand through the `before` cursor, with
 * no ceiling. Lines are keyed by id, so the stream's backfill and the page
 * overlap without doubling. EventSource reconnects by itself and sends
 * Last-Event-ID, so the gateway resumes where the stream broke.
 */
export function useLogWindow(deviceId: string, filter: { container?: string; range: TimeRange; live: boolean }): LogWindow {
  const [entries, setEntries] = useState<DeviceLogEntry[]>([])
  const [total, setTotal] = useState(0)
  const [nextBefore, setNextBefore] = useState<string | null>(null)
  const [loading, setLoading] = useState(true)
  const [error, setError] = useState<unknown>(undefined)
  const [stream, setStream] = useState<LogWindow['stream']>('off')
  const [generation, setGeneration] = useState(0)
  const ids = useRef(new Set<string>())
  const since = sinceOf(filter.range)

  const merge = useCallback((incoming: DeviceLogEntry[], where: 'older' | 'newer') => {
    const fresh = incoming.filter((e) => !ids.current.has(e.id))
    if (!fresh.length) return
    for (const e of fresh) ids.current.add(e.id)
    setEntries((old) => {
      const next = where === 'older' ? [...fresh, ...old] : [...old, ...fresh]
      return next.length > LOG_MAX ? next.slice(next.length - LOG_MAX) : next
    })
    if (where === 'newer') setTotal((n) => n + fresh.length)
  }, [])

  // The newest page, whenever the filter changes or the reader asks again.
  useEffect(() => {
    let stale = false
    ids.current = new Set()
    setEntries([])
    setLoading(true)
    devices.logsBefore(deviceId, { before: '', container: filter.container, since, limit: LOG_PAGE }).then(
      (page) => {
        if (stale) return
        for (const e of page.items) ids.current.add(e.id)
        setEntries((old) => [...[...page.items].reverse(), ...old.filter((e) => !page.items.some((p) => p.id === e.id))])
        setTotal(page.total)
        setNextBefore(page.next_before)
        setError(undefined)
        setLoading(false)
      },
      (err: unknown) => {
        if (stale) return
        setError(err)
        setLoading(false)
      },
    )
    return () => {
      stale = true
    }
  }, [deviceId, filter.container, filter.range, generation])

  // The live stream, while the reader wants it.
  useEffect(() => {
    if (!filter.live || typeof EventSource === 'undefined') {
      setStream('off')
      return
    }
    const source = new EventSource(devices.logStreamUrl(deviceId, { container: filter.container, since, limit: STREAM_BACKFILL }))
    setStream('connecting')
    source.onopen = () => setStream('live')
    source.onerror = () => setStream(source.readyState === EventSource.CLOSED ? 'off' : 'connecting')
    source.addEventListener('log', (event) => {
      try {
        merge([JSON.parse((event as MessageEvent<string>).data) as DeviceLogEntry], 'newer')
      } catch {
        // A frame that is not an entry is not shown.
      }
    })
    source.addEventListener('access.revoked', () => {
      source.close()
      setStream('off')
    })
    return () => source.close()
  }, [deviceId, filter.container, filter.range, filter.live, generation])

  return {
    entries,
    total,
    hasOlder: nextBefore !== null,
    loading,
    error,
    stream,
    loadOlder() {
      if (!nextBefore) return
      setLoading(true)
      devices.logsBefore(deviceId, { before: nextBefore, container: filter.container, since, limit: LOG_PAGE }).then(
        (page) => {
          merge([...page.items].reverse(), 'older')
          setNextBefore(page.next_before)
          setLoading(false)
        },
        (err: unknown) => {
          setError(err)
          setLoading(false)
        },
      )
    },
    reload: () => setGeneration((n) => n + 1),
  }
}
