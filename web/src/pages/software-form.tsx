import { useState } from 'preact/hooks'
import { software } from '../api/endpoints'
import type { Software } from '../api/types'
import { Field, FormActions, FormError, formValues, useForm } from '../ui/form'
import { Modal } from '../ui/modal'

const composeExample = `services:
  web:
    image: nginx:1.27
    ports: ["8080:80"]
`

/** Compose errors name a path inside the file (`services.web.image`); they belong under the compose field. */
export const composeField = (field: string) => (field === 'services' || field.startsWith('services.') || field === 'file' ? 'docker_compose_yaml' : undefined)

/** New software from a pasted or uploaded compose file, or from a git repository the gateway imports it from. */
export function SoftwareFormModal(props: { onClose(): void; onSaved(s: Software): void }) {
  const form = useForm(['name', 'description', 'source', 'docker_compose_yaml', 'repo_url', 'git_ref', 'compose_path', 'defaults_path', 'git_token', 'poll_interval_seconds'], composeField)
  const [source, setSource] = useState<'manual' | 'git'>('manual')
  const [compose, setCompose] = useState('')

  async function loadFile(file: File | undefined) {
    if (file) setCompose(await file.text())
  }

  function onSubmit(event: Event) {
    const v = formValues(event)
    const body: Record<string, unknown> = { name: v.name?.trim() ?? '', description: v.description?.trim() || null, source }
    if (source === 'manual') body.docker_compose_yaml = compose
    else {
      Object.assign(body, { repo_url: v.repo_url?.trim() ?? '', git_ref: v.git_ref?.trim() || null, compose_path: v.compose_path?.trim() || null, defaults_path: v.defaults_path?.trim() || null })
      if (v.git_token?.trim()) body.git_token = v.git_token.trim()
      const minutes = Number(v.poll_minutes ?? '')
      if (v.poll_minutes?.trim() && Number.isFinite(minutes)) body.poll_interval_seconds = Math.round(minutes * 60)
    }
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
          <>
            <div class="form-row">
              <Field label="Repository URL" name="repo_url" error={form.fieldErrors.repo_url} hint="https://… (token below) or git@host:path / ssh://… (the gateway makes a deploy key)">
                <input id="f-repo_url" name="repo_url" class="mono" placeholder="https://github.com/acme/edge-stack.git" />
              </Field>
              <Field label="Ref" name="git_ref" error={form.fieldErrors.git_ref} hint="Branch or tag">
                <input id="f-git_ref" name="git_ref" class="mono" placeholder="main" />
              </Field>
            </div>
            <div class="form-row">
              <Field label="Compose file" name="compose_path" error={form.fieldErrors.compose_path} hint="Default: compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml">
                <input id="f-compose_path" name="compose_path" class="mono" placeholder="compose.yaml" />
              </Field>
              <Field label="Defaults file" name="defaults_path" error={form.fieldErrors.defaults_path} hint="dotenv; default .edgetainer/defaults.env when present">
                <input id="f-defaults_path" name="defaults_path" class="mono" placeholder=".edgetainer/defaults.env" />
              </Field>
            </div>
            <div class="form-row">
              <Field label="Access token (https)" name="git_token" error={form.fieldErrors.git_token} hint="Read-only token; stored encrypted, never shown again">
                <input id="f-git_token" name="git_token" type="password" autocomplete="off" class="mono" placeholder="Optional" />
              </Field>
              <Field label="Poll every (minutes)" name="poll_interval_seconds" error={form.fieldErrors.poll_interval_seconds} hint="0 turns polling off; webhooks and Sync now still work">
                <input id="f-poll_interval_seconds" name="poll_minutes" type="number" min={0} step="any" placeholder="5" />
              </Field>
            </div>
          </>
        )}
        <FormError error={form.formError} />
        <FormActions onCancel={props.onClose} busy={form.busy}>
          Create software
        </FormActions>
      </form>
    </Modal>
  )
}
