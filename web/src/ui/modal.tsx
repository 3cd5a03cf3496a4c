import type { ComponentChildren } from 'preact'
import { useEffect, useRef } from 'preact/hooks'

/** A dialog over a dimmed page. Escape and the backdrop close it; the first field gets focus. */
export function Modal(props: { title: string; onClose(): void; children: ComponentChildren; footer?: ComponentChildren; wide?: boolean }) {
  const ref = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && props.onClose()
    document.addEventListener('keydown', onKey)
    ref.current?.querySelector<HTMLElement>('input:not([type=hidden]), select, textarea')?.focus()
    return () => document.removeEventListener('keydown', onKey)
  }, [])
  return (
    <div class="modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && props.onClose()}>
      <div class={`modal ${props.wide ? 'modal-wide' : ''}`} role="dialog" aria-modal="true" aria-label={props.title} ref={ref}>
        <div class="modal-header">
          <h2>{props.title}</h2>
          <button class="icon-btn" aria-label="Close" onClick={props.onClose}>
            ×
          </button>
        </div>
        <div class="modal-body">{props.children}</div>
        {props.footer && <div class="modal-footer">{props.footer}</div>}
      </div>
    </div>
  )
}

/** "Are you sure?" for destructive actions, with the consequence spelled out. */
export function ConfirmModal(props: { title: string; message: ComponentChildren; confirmLabel: string; busy?: boolean; onConfirm(): void; onClose(): void }) {
  return (
    <Modal
      title={props.title}
      onClose={props.onClose}
      footer={
        <>
          <button class="btn btn-secondary" onClick={props.onClose}>
            Cancel
          </button>
          <button class="btn btn-danger" disabled={props.busy} onClick={props.onConfirm}>
            {props.confirmLabel}
          </button>
        </>
      }
    >
      <p class="confirm-message">{props.message}</p>
    </Modal>
  )
}
