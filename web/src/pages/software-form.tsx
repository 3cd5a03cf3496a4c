import { useState } from 'preact/hooks'
import { software } from '../api/endpoints'
import type { Software } from '../api/types'
import { Field, FormError, formValues, useForm } from '../ui/form'
import { Modal } from '../ui/modal'

const composeExample = `services:
  web:
    image: nginx:1.27
    ports: ["8080:80"]
`

/** Compose errors name a path inside the file (`services.web.image`); they belong under the compose field. */
export const composeField = (field: string) => (field === 'services' || field.startsWith('services.') || field === 'file' ? 'docker_compose_yaml' : undefined)

/** New software from a pasted or uploaded compose file, or a git repository recorded for a later import. */
export function SoftwareFormModal(props: { onClose(): void; onSaved(s: Software): void }) {
  const form = useForm(['name', 'description', 'source', 'docker_compose_yaml', 'repo_url', 'git_ref'], composeField)
  const [source, setSource] = useState<'manual' | 'git'>('manual')
  const [compose, setCompose] = useState('')

  async function loadFile(file: File | undefined) {
    if (file) setCompose(await file.text())
  }

  function onSubmit(event: Event) {
    const v = formValues(event)
    const body: Record<string, unknown> = { name: v.name?.trim() ?? '', description: v.description?.trim() || null, source }
    if (source === 'manual') body.docker_compose_yaml = compose
    else Object.assign(body, { repo_url: v.repo_url?.trim() ?? '', git_ref: v.git_ref?.trim() || null })
    void form.submit(async () => props.onSaved(await software.create(body)))
  }

  const composeError = form.fieldErrors.docker_compose_yaml
  return (
    <Modal title="New software" onClose={props.onClose} wide>
      <form class="form" onSubmit={onSubmit} noValidate>
        <Field label="Name" name="name" error={form.fieldErrors.name}>
          <input id="f-name" name="name" maxLength={100} placeholder="telemetry-stack" />
        </Field>
        <Field label="Description" name="description" error={form.fieldErrors.description}>
          <input id="f-description" name="description" maxLength={2000} placeholder="Optional" />
        </Field>
        <div class="segmented" role="group" aria-label="Source">
          <button type="button" class={source === 'manual' ? 'active' : ''} onClick={() => setSource('manual')}>
            Compose file
          </button>
          <button type="button" class={source === 'git' ? 'active' : ''} onClick={() => setSource('git')}>
            Git repository
          </button>
        </div>
        {source === 'manual' ? (
          <Field
            label="docker-compose.yml"
            name="docker_compose_yaml"
            error={composeError}
            hint={
              <>
                Paste it, or{' '}
                <label class="file-link">
                  load a file
                  <input type="file" accept=".yml,.yaml,text/yaml" onChange={(e) => void loadFile(e.currentTarget.files?.[0])} />
                </label>
                . Every service needs an image.
              </>
            }
          >
            <textarea id="f-docker_compose_yaml" class="mono code-input" rows={14} value={compose} placeholder={composeExample} onInput={(e) => setCompose(e.currentTarget.value)} spellcheck={false} />
          </Field>
        ) : (
          <div class="form-row">
            <Field label="Repository URL" name="repo_url" error={form.fieldErrors.repo_url}>
              <input id="f-repo_url" name="repo_url" class="mono" placeholder="https://github.com/acme/edge-stack.git" />
            </Field>
            <Field label="Ref" name="git_ref" error={form.fieldErrors.git_ref} hint="Branch, tag or commit">
              <input id="f-git_ref" name="git_ref" class="mono" placeholder="main" />
            </Field>
          </div>
        )}
        <FormError error={form.formError} />
        <div class="form-actions">
          <button type="button" class="btn btn-secondary" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" class="btn btn-primary" disabled={form.busy}>
            Create software
          </button>
        </div>
      </form>
    </Modal>
  )
}
