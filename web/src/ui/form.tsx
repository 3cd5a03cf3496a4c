import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import { ApiError, errorMessage } from '../api/client'
import { fieldSentence } from '../api/error-text'
import { Icon } from './icons'

export interface FormState {
  busy: boolean
  /** The API's message for a field it named, without the `field: ` prefix. */
  fieldErrors: Record<string, string>
  /** An error that names no field of this form: shown above the buttons. */
  formError: unknown
  submit(action: () => Promise<void>): Promise<void>
  clear(field?: string): void
}

/**
 * Runs a form's write and routes the API's answer to the field it names, or to
 * the form. `alias` maps a deeper field onto a control (`services.web.image` →
 * the compose textarea); such messages keep their field path, which says where.
 */
export function useForm(fields: readonly string[], alias?: (field: string) => string | undefined): FormState {
  const [busy, setBusy] = useState(false)
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({})
  const [formError, setFormError] = useState<unknown>(undefined)

  async function submit(action: () => Promise<void>) {
    setBusy(true)
    setFieldErrors({})
    setFormError(undefined)
    try {
      await action()
    } catch (err) {
      const field = err instanceof ApiError ? err.field?.replace(/^body\./, '') : undefined
      const target = field && (fields.includes(field) ? field : alias?.(field))
      if (field && target && fields.includes(target)) {
        // Next to its own field the error needs no field name; next to an alias field (a compose file's
        // `services.web.image`) it keeps the path it names, as written.
        setFieldErrors({ [target]: fieldSentence((err as ApiError).message, target === field ? field : '') })
      } else setFormError(err)
    } finally {
      setBusy(false)
    }
  }

  function clear(field?: string) {
    if (!field) {
      setFieldErrors({})
      setFormError(undefined)
    } else if (fieldErrors[field]) setFieldErrors(({ [field]: _, ...rest }) => rest)
  }

  return { busy, fieldErrors, formError, submit, clear }
}

export function Field(props: { label: string; name: string; error?: string; hint?: ComponentChildren; children: ComponentChildren; class?: string }) {
  return (
    <div class={`field ${props.error ? 'has-error' : ''} ${props.class ?? ''}`} data-field={props.name}>
      <label for={`f-${props.name}`}>{props.label}</label>
      {props.children}
      {props.error ? (
        <p class="field-error" role="alert">
          {props.error}
        </p>
      ) : (
        props.hint && <p class="field-hint">{props.hint}</p>
      )}
    </div>
  )
}

export function FormError(props: { error: unknown }) {
  if (!props.error) return null
  const code = props.error instanceof ApiError ? props.error.code : undefined
  return (
    <div class="form-error" role="alert">
      <Icon name="alert" size={16} />
      <span title={code}>{errorMessage(props.error)}</span>
    </div>
  )
}

/** A modal form's footer: Cancel, and the submit button (disabled while the form is busy). */
export function FormActions(props: { onCancel: () => void; busy: boolean; children: ComponentChildren }) {
  return (
    <div class="form-actions">
      <button type="button" class="btn btn-secondary" onClick={props.onCancel}>
        Cancel
      </button>
      <button type="submit" class="btn btn-primary" disabled={props.busy}>
        {props.children}
      </button>
    </div>
  )
}

/** Reads a form's named controls as strings (checkboxes as "on" / absent). */
export function formValues(event: Event): Record<string, string> {
  event.preventDefault()
  const data = new FormData(event.currentTarget as HTMLFormElement)
  const values: Record<string, string> = {}
  for (const [key, value] of data.entries()) if (typeof value === 'string') values[key] = value
  return values
}
