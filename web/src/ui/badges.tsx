import type { ComponentChildren } from 'preact'
import type { DeviceStatus, Role } from '../api/types'

const statusLabels: Record<DeviceStatus, string> = { online: 'Online', offline: 'Offline', updating: 'Updating', error: 'Error' }

/** The device status pill; data-status lets tests and styles read the state without parsing text. */
export function StatusBadge(props: { status: DeviceStatus }) {
  return (
    <span class={`badge status status-${props.status}`} data-status={props.status}>
      <span class="dot" />
      {statusLabels[props.status] ?? props.status}
    </span>
  )
}

export function RoleBadge(props: { role: Role }) {
  return <span class={`badge role role-${props.role}`}>{props.role}</span>
}

export function Pill(props: { tone?: 'neutral' | 'green' | 'blue' | 'amber' | 'red' | 'violet'; children: ComponentChildren; title?: string }) {
  return (
    <span class={`badge pill tone-${props.tone ?? 'neutral'}`} title={props.title}>
      {props.children}
    </span>
  )
}
