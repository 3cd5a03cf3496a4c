import { useEffect, useState } from 'preact/hooks'
import { ApiError, errorMessage } from '../api/client'

export type ToastKind = 'error' | 'success' | 'info'

interface Toast {
  id: number
  kind: ToastKind
  title: string
  detail?: string
}

let nextId = 1
let toasts: Toast[] = []
const listeners = new Set<(toasts: Toast[]) => void>()

function publish(next: Toast[]) {
  toasts = next
  for (const listener of listeners) listener(toasts)
}

export function dismissToast(id: number) {
  publish(toasts.filter((t) => t.id !== id))
}

export function toast(kind: ToastKind, title: string, detail?: string) {
  const id = nextId++
  publish([...toasts.slice(-2), { id, kind, title, detail }])
  // Errors stay until read (they may explain why something did not happen); the rest fade.
  if (kind !== 'error') setTimeout(() => dismissToast(id), 3000)
}

/** Shows an API failure with its code, so the user can tell "forbidden" from "conflict" from "down". */
export function toastError(err: unknown, title = 'Something went wrong') {
  const detail = err instanceof ApiError && err.code ? `${errorMessage(err)} (${err.code})` : errorMessage(err)
  toast('error', title, detail)
}

export function Toasts() {
  const [items, setItems] = useState(toasts)
  useEffect(() => {
    listeners.add(setItems)
    return () => void listeners.delete(setItems)
  }, [])
  return (
    <div class="toasts" role="status" aria-live="polite">
      {items.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : undefined}>
          <div class="toast-body">
            <strong>{t.title}</strong>
            {t.detail && <span>{t.detail}</span>}
          </div>
          <button class="toast-close" aria-label="Dismiss" onClick={() => dismissToast(t.id)}>
            ×
          </button>
        </div>
      ))}
    </div>
  )
}
