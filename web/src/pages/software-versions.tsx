import { useState } from 'preact/hooks'
import { software } from '../api/endpoints'
import type { Software } from '../api/types'
import { formatDate } from '../ui/format'
import { Card } from '../ui/page'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { useResource } from '../ui/use-resource'
import { CommitRef } from './software-git'
import { useCan } from '../state/session'

/** A unified diff, coloured by line kind. */
export function DiffView(props: { diff: string }) {
  if (!props.diff.trim()) return <p class="muted">These versions are identical.</p>
  return (
    <pre class="diff" data-testid="diff">
      {props.diff.split('\n').map((line, i) => {
        const kind = line.startsWith('+++') || line.startsWith('---') ? 'file' : line.startsWith('@@') ? 'hunk' : line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : 'ctx'
        return (
          <span key={i} class={`diff-${kind}`}>
            {line}
            {'\n'}
          </span>
        )
      })}
    </pre>
  )
}

export function SoftwareVersions(props: { software: Software }) {
  const id = props.software.id
  const versions = useResource(() => software.versions(id), [id])
  const isAdmin = useCan('admin')
  const [chosen, setPair] = useState<{ a: string; b: string } | null>(null)
  // Until one is picked, show what the newest version changed.
  const sorted = versions.data ? [...versions.data].sort((a, b) => (b.seq ?? 0) - (a.seq ?? 0)) : []
  const pair = chosen ?? (sorted.length > 1 ? { a: sorted[1]!.version, b: sorted[0]!.version } : null)
  const diff = useResource(() => (pair ? software.diff(id, pair.a, pair.b) : Promise.resolve(undefined)), [pair?.a, pair?.b])

  if (versions.error) return <Card><ErrorState error={versions.error} retry={versions.reload} feature="Version history" /></Card>
  if (!versions.data) return <Card><Loading /></Card>
  // Newest first (the API's order); seq, where given, settles it.
  const list = sorted
  if (!list.length) return <Card><EmptyState icon="software" title="No versions yet" /></Card>

  return (
    <div class="grid grid-sidebar">
      <Card title="Versions" flush>
        <ul class="version-list">
          {list.map((v, i) => {
            const previous = list[i + 1]
            const selected = pair?.b === v.version
            return (
              <li key={v.version} class={selected ? 'selected' : ''}>
                <div>
                  <span class="mono strong">{v.version}</span>
                  {(v.current ?? v.version === props.software.current_version) && <span class="badge pill tone-green">current</span>}
                  <div class="muted small">
                    {v.created_at ? formatDate(v.created_at) : ''}
                    {v.created_by && ` · ${v.created_by}`}
                  </div>
                  {v.commit_sha && (
                    <div class="small" data-testid="version-commit">
                      commit <CommitRef sha={v.commit_sha} url={v.commit_url} />
                      {v.commit_message && ` · ${v.commit_message.split('\n')[0]!.slice(0, 80)}`}
                      {v.commit_author && <span class="muted"> · {v.commit_author.replace(/ <[^>]*>$/, '')}</span>}
                    </div>
                  )}
                </div>
                <div class="version-actions">
                  {previous && (
                    <button class="btn btn-ghost btn-sm" onClick={() => setPair({ a: previous.version, b: v.version })}>
                      Diff with {previous.version}
                    </button>
                  )}
                  {isAdmin && (
                    <a class="btn btn-secondary btn-sm" href={`/rollouts/new?software_id=${id}&version=${encodeURIComponent(v.version)}`} data-rollout-version={v.version}>
                      Roll out
                    </a>
                  )}
                </div>
              </li>
            )
          })}
        </ul>
      </Card>
      <Card title={pair ? `Changes from ${pair.a} to ${pair.b}` : 'Changes'}>
        {!pair ? (
          <p class="muted">Pick a version to see what changed since the one before it.</p>
        ) : diff.error ? (
          <ErrorState error={diff.error} retry={diff.reload} feature="Version diffs" />
        ) : diff.data === undefined ? (
          <Loading />
        ) : (
          <DiffView diff={diff.data} />
        )}
      </Card>
    </div>
  )
}
