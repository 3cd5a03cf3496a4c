import { useEffect, useState } from 'preact/hooks'

/**
 * A path router over the History API. The gateway answers index.html for any
 * console path, so deep links and reloads work; links are plain <a href> and
 * one click listener turns same-origin ones into pushState navigations.
 */
export interface Location {
  path: string
  query: URLSearchParams
}

type Listener = (location: Location) => void
const listeners = new Set<Listener>()

function current(): Location {
  return { path: window.location.pathname.replace(/\/+$/, '') || '/', query: new URLSearchParams(window.location.search) }
}

function notify() {
  const location = current()
  for (const listener of listeners) listener(location)
}

export function navigate(to: string, options: { replace?: boolean } = {}) {
  if (to === window.location.pathname + window.location.search) return
  if (options.replace) window.history.replaceState(null, '', to)
  else window.history.pushState(null, '', to)
  window.scrollTo(0, 0)
  notify()
}

/** Replaces the query string without a history entry (search boxes, filters). */
export function setQuery(values: Record<string, string | undefined>) {
  const query = new URLSearchParams(window.location.search)
  for (const [key, value] of Object.entries(values)) {
    if (value) query.set(key, value)
    else query.delete(key)
  }
  const text = query.toString()
  window.history.replaceState(null, '', window.location.pathname + (text ? `?${text}` : ''))
  notify()
}

export function useLocation(): Location {
  const [location, setLocation] = useState(current)
  useEffect(() => {
    listeners.add(setLocation)
    return () => void listeners.delete(setLocation)
  }, [])
  return location
}

/** Matches `/devices/:id/:tab?` against a path; returns the params or null. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const names: string[] = []
  const source = pattern
    .split('/')
    .map((part) => {
      if (!part.startsWith(':')) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      const optional = part.endsWith('?')
      names.push(part.slice(1, optional ? -1 : undefined))
      return optional ? '?([^/]*)' : '([^/]+)'
    })
    .join('/')
  const match = new RegExp(`^${source}$`).exec(path)
  if (!match) return null
  const params: Record<string, string> = {}
  names.forEach((name, i) => {
    const value = match[i + 1]
    if (value) params[name] = decodeURIComponent(value)
  })
  return params
}

export function startRouter() {
  window.addEventListener('popstate', notify)
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return
    const anchor = (event.target as Element | null)?.closest?.('a')
    if (!anchor || anchor.target || anchor.hasAttribute('download') || anchor.origin !== window.location.origin) return
    if (anchor.pathname.startsWith('/api/')) return
    event.preventDefault()
    navigate(anchor.pathname + anchor.search)
  })
}
