import { useRef } from 'preact/hooks'
import { devices } from '../api/endpoints'
import type { DeviceLogEntry, Page } from '../api/types'
import { sinceOf, type TimeRange } from '../ui/time-range'
import { useResource, type Resource } from '../ui/use-resource'

/** Lines per "load older" step. */
export const LOG_PAGE = 200
/** The API's per-request ceiling, and the most one panel holds (a browser stays responsive with it). */
export const LOG_MAX = 1000

export interface LogWindow extends Resource<Page<DeviceLogEntry>> {
  /** Shows LOG_PAGE more lines before the first one shown. */
  loadOlder(): void
  /** How many lines the window is asked to hold. */
  size: number
}

/**
 * The newest `size` log lines of a device that match the filter, oldest
 * first (the API's order). The API pages from the oldest line, so the window
 * starts at `total - size`; the total from the previous answer is the guess,
 * which makes a refresh with nothing new one request, and a wrong guess costs
 * a second one.
 */
export function useLogWindow(deviceId: string, filter: { container?: string; range: TimeRange }): LogWindow {
  const key = `${deviceId}\n${filter.container ?? ''}\n${filter.range}`
  const state = useRef({ key, size: LOG_PAGE, total: 0 })
  if (state.current.key !== key) state.current = { key, size: LOG_PAGE, total: 0 }

  const resource = useResource(async () => {
    const s = state.current
    // "Last hour" slides with each refresh; the window below follows the new total either way.
    const query = { container: filter.container, since: sinceOf(filter.range) }
    let page = await devices.logs(deviceId, { ...query, offset: Math.max(0, s.total - s.size), limit: s.size })
    const start = Math.max(0, page.total - s.size)
    if (page.offset !== start) page = await devices.logs(deviceId, { ...query, offset: start, limit: s.size })
    s.total = page.total
    return page
  }, [deviceId, filter.container, filter.range])

  return {
    ...resource,
    size: state.current.size,
    loadOlder() {
      state.current.size = Math.min(LOG_MAX, state.current.size + LOG_PAGE)
      resource.reload()
    },
  }
}
