import type { ComponentChildren } from 'preact'
import { ApiError, errorMessage } from '../api/client'
import { Icon, type IconName } from './icons'

export function Loading(props: { label?: string }) {
  return (
    <div class="state state-loading" aria-busy="true">
      <span class="spinner" />
      <span>{props.label ?? 'Loading…'}</span>
    </div>
  )
}

export function EmptyState(props: { icon?: IconName; title: string; children?: ComponentChildren; action?: ComponentChildren }) {
  return (
    <div class="state state-empty">
      <div class="state-icon">
        <Icon name={props.icon ?? 'layers'} size={22} />
      </div>
      <h3>{props.title}</h3>
      {props.children && <p>{props.children}</p>}
      {props.action}
    </div>
  )
}

/** A feature whose API is not on this gateway yet: said plainly, not as an error. */
export function NotAvailable(props: { feature: string }) {
  return (
    <div class="state state-unavailable" data-testid="not-available">
      <div class="state-icon">
        <Icon name="rocket" size={22} />
      </div>
      <h3>{props.feature} is not available yet</h3>
      <p>This gateway does not serve this feature's API yet. It appears here as soon as the gateway is upgraded; nothing needs configuring.</p>
    </div>
  )
}

/** A failed load: the API's message and code, and a way to retry. Never swallowed. */
export function ErrorState(props: { error: unknown; retry?: () => void; feature?: string }) {
  if (props.error instanceof ApiError && props.error.notAvailable) return <NotAvailable feature={props.feature ?? 'This feature'} />
  const code = props.error instanceof ApiError ? props.error.code : undefined
  return (
    <div class="state state-error" role="alert">
      <div class="state-icon">
        <Icon name="alert" size={22} />
      </div>
      <h3>Could not load this</h3>
      <p title={code}>{errorMessage(props.error)}</p>
      {props.retry && (
        <button class="btn btn-secondary" onClick={props.retry}>
          <Icon name="refresh" size={15} /> Try again
        </button>
      )}
    </div>
  )
}
