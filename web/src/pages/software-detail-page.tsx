import { useState } from 'preact/hooks'
import { software } from '../api/endpoints'
import type { Software } from '../api/types'
import { navigate } from '../state/router'
import { useCan } from '../state/session'
import { Pill } from '../ui/badges'
import { FormError, useForm } from '../ui/form'
import { formatDate } from '../ui/format'
import { Icon } from '../ui/icons'
import { ConfirmModal } from '../ui/modal'
import { Card, PageHeader, Tabs } from '../ui/page'
import { ErrorState, Loading } from '../ui/states'
import { toast, toastError } from '../ui/toasts'
import { useResource } from '../ui/use-resource'
import { SoftwareDeploy } from './software-deploy'
import { composeField } from './software-form'
import { SoftwareEnv } from './software-env'
import { SoftwareVersions } from './software-versions'
import { GitSourceCard } from './software-git'
import { RolloutHistory } from './rollout-history'

function ComposeCard(props: { software: Software; onSaved(s: Software): void }) {
  const canEdit = useCan('admin')
  const [draft, setDraft] = useState<string | null>(null)
  const form = useForm(['docker_compose_yaml'], composeField)
  const yaml = props.software.docker_compose_yaml ?? ''

  function save() {
    void form.submit(async () => {
      props.onSaved(await software.update(props.software.id, { docker_compose_yaml: draft ?? '' }))
      setDraft(null)
    })
  }

  return (
    <Card
      title="docker-compose.yml"
      actions={
        canEdit &&
        (draft === null ? (
          <button class="btn btn-secondary btn-sm" onClick={() => setDraft(yaml)}>
            <Icon name="edit" size={14} /> Edit
          </button>
        ) : (
          <>
            <button class="btn btn-ghost btn-sm" onClick={() => setDraft(null)}>
              Cancel
            </button>
            <button class="btn btn-primary btn-sm" disabled={form.busy} onClick={save}>
              Save as new version
            </button>
          </>
        ))
      }
    >
      {draft === null ? (
        yaml ? <pre class="code">{yaml}</pre> : <p class="muted">No compose file stored{props.software.repo_url ? `; it is imported from ${props.software.repo_url}` : ''}.</p>
      ) : (
        <>
          <textarea class="mono code-input" rows={20} value={draft} spellcheck={false} onInput={(e) => setDraft(e.currentTarget.value)} aria-label="Compose YAML" />
          {form.fieldErrors.docker_compose_yaml && <FormError error={new Error(form.fieldErrors.docker_compose_yaml)} />}
          <FormError error={form.formError} />
        </>
      )}
    </Card>
  )
}

export function SoftwareDetailPage(props: { params: Record<string, string> }) {
  const id = props.params.id!
  const tab = props.params.tab ?? 'compose'
  const isAdmin = useCan('admin')
  const item = useResource(() => software.get(id), [id])
  const [deleting, setDeleting] = useState(false)

  if (item.error) return <div class="page"><ErrorState error={item.error} retry={item.reload} feature="Software" /></div>
  if (!item.data) return <div class="page"><Loading /></div>
  const s = item.data
  const base = `/software/${id}`

  return (
    <div class="page">
      <PageHeader
        crumbs={[{ label: 'Software', href: '/software' }]}
        title={s.name}
        subtitle={
          <>
            {s.source === 'git' ? <Pill tone="violet">git</Pill> : <Pill>manual</Pill>} <span>{s.current_version ? `version ${s.current_version}` : 'no version'}</span> · updated {formatDate(s.updated_at)}
            {s.repo_url && (
              <span class="mono">
                {' '}
                · {s.repo_url}
                {s.git_ref && `@${s.git_ref}`}
              </span>
            )}
            {s.description && <span class="subtitle-line">{s.description}</span>}
          </>
        }
        actions={
          isAdmin && (
            <button class="btn btn-secondary danger" onClick={() => setDeleting(true)}>
              <Icon name="trash" size={16} /> Delete
            </button>
          )
        }
      />
      <Tabs
        active={tab}
        tabs={[
          { id: 'compose', label: 'Compose', href: base },
          { id: 'versions', label: 'Versions', href: `${base}/versions` },
          { id: 'env', label: 'Default variables', href: `${base}/env` },
          { id: 'deploy', label: 'Deployments', href: `${base}/deploy` },
          { id: 'rollouts', label: 'Rollouts', href: `${base}/rollouts` },
        ]}
      />
      {tab === 'versions' ? (
        <SoftwareVersions software={s} />
      ) : tab === 'env' ? (
        <SoftwareEnv software={s} />
      ) : tab === 'deploy' ? (
        <SoftwareDeploy software={s} />
      ) : tab === 'rollouts' ? (
        <Card
          flush
          title="Rollouts of this software"
          actions={isAdmin && <a class="btn btn-secondary btn-sm" href={`/rollouts/new?software_id=${id}`} data-testid="new-rollout"><Icon name="plus" size={14} /> New rollout</a>}
        >
          <RolloutHistory softwareId={id} hideSoftware />
        </Card>
      ) : (
        <>
          {s.git && <GitSourceCard software={s} git={s.git} onChanged={item.reload} />}
          <ComposeCard
            software={s}
            onSaved={(next) => {
              item.setData(next)
              toast('success', 'New version saved', next.current_version ? `Version ${next.current_version}` : next.name)
            }}
          />
        </>
      )}
      {deleting && (
        <ConfirmModal
          title="Delete software"
          message={`Delete ${s.name}? Devices running it stop receiving it in their deployment plan.`}
          confirmLabel="Delete software"
          onClose={() => setDeleting(false)}
          onConfirm={() =>
            software.remove(id).then(
              () => {
                toast('success', 'Software deleted', s.name)
                navigate('/software')
              },
              (err) => {
                setDeleting(false)
                toastError(err, 'Could not delete the software')
              },
            )
          }
        />
      )}
    </div>
  )
}
