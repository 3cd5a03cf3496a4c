import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError } from '../api/client'
import { auth } from '../api/endpoints'
import type { LiveEvent } from '../api/types'

type Listener = (event: LiveEvent) => void
export type LiveState = 'connecting' | 'live' | 'reconnecting'

const listeners = new Set<Listener>()
const stateListeners = new Set<(state: LiveState) => void>()
let source: EventSource | undefined
let state: LiveState = 'connecting'
let retry: ReturnType<typeof setTimeout> | undefined

function setState(next: LiveState) {
  state = next
  for (const listener of stateListeners) listener(next)
}

function scheduleRetry() {
  clearTimeout(retry)
  retry = setTimeout(() => {
    auth.me().then(
      () => connectLiveEvents(),
      (err) => {
        if (!(err instanceof ApiError && err.status === 401)) scheduleRetry()
      },
    )
  }, 5000)
}

function dispatch(type: LiveEvent['type'], message: MessageEvent<string>) {
  let data: Record<string, unknown>
  try {
    data = JSON.parse(message.data) as Record<string, unknown>
  } catch {
    return
  }
  const event = { ...data, type } as LiveEvent
  for (const listener of listeners) listener(event)
}

/**
 * One EventSource per signed-in console, on the session cookie. EventSource
 * reconnects by itself (the server sends `retry: 3000`); pages refetch when the
 * stream comes back, since events sent while it was down are lost.
 */
export function connectLiveEvents() {
  if (source) return
  if (state !== 'reconnecting') setState('connecting')
  source = new EventSource('/api/events', { withCredentials: true })
  source.addEventListener('open', () => {
    const wasDown = state === 'reconnecting'
    setState('live')
    if (wasDown) for (const listener of listeners) listener({ type: 'device.changed', id: '', device_id: '' })
  })
  source.addEventListener('error', () => {
    setState('reconnecting')
    // A refused stream (401, 5xx) is not retried by the browser: check the session (a 401 signs out), then retry.
    if (source?.readyState === EventSource.CLOSED) {
      source = undefined
      scheduleRetry()
    }
  })
  source.addEventListener('device.status', (m) => dispatch('device.status', m as MessageEvent<string>))
  source.addEventListener('device.changed', (m) => dispatch('device.changed', m as MessageEvent<string>))
}

export function disconnectLiveEvents() {
  clearTimeout(retry)
  source?.close()
  source = undefined
  setState('connecting')
}

/** Calls `handler` for each event; the latest handler is used without resubscribing. */
export function useLiveEvents(handler: Listener) {
  const ref = useRef(handler)
  ref.current = handler
  useEffect(() => {
    const listener: Listener = (event) => ref.current(event)
    listeners.add(listener)
    return () => void listeners.delete(listener)
  }, [])
}

export function useLiveState(): LiveState {
  const [value, setValue] = useState(state)
  useEffect(() => {
    stateListeners.add(setValue)
    setValue(state)
    return () => void stateListeners.delete(setValue)
  }, [])
  return value
}
