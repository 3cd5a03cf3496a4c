import { software } from '../api/endpoints'
import { navigate, setQuery, useLocation } from '../state/router'
import { useCan } from '../state/session'
import { Pill } from '../ui/badges'
import { formatDate } from '../ui/format'
import { Icon } from '../ui/icons'
import { Card, PageHeader } from '../ui/page'
import { SearchBox } from '../ui/search-box'
import { EmptyState, ErrorState, Loading } from '../ui/states'
import { toast } from '../ui/toasts'
import { useResource } from '../ui/use-resource'
import { SoftwareFormModal } from './software-form'

export function SoftwarePage() {
  const { query } = useLocation()
  const q = query.get('q') ?? ''
  const isAdmin = useCan('admin')
  const list = useResource(() => software.list({ q, limit: 200 }), [q])
  const unavailable = Boolean(list.error)

  return (
    <div class="page">
      <PageHeader
        title="Software"
        subtitle="Docker Compose stacks you deploy to fleets and devices. Every change is a new version."
        actions={
          isAdmin &&
          !unavailable && (
            <button class="btn btn-primary" onClick={() => setQuery({ new: '1' })}>
              <Icon name="plus" size={16} /> New software
            </button>
          )
        }
      />
      <Card flush>
        {list.error ? (
          <ErrorState error={list.error} retry={list.reload} feature="Software" />
        ) : (
          <>
            <div class="toolbar">
              <SearchBox value={q} placeholder="Search software" onSearch={(value) => setQuery({ q: value })} />
              {list.data && <span class="toolbar-count">{list.data.length} {list.data.length === 1 ? 'stack' : 'stacks'}</span>}
            </div>
            {!list.data ? (
              <Loading />
            ) : list.data.length === 0 ? (
              <EmptyState icon="software" title="No software yet">
                Paste or upload a docker-compose file to publish your first stack.
              </EmptyState>
            ) : (
              <table class="table">
                <thead>
                  <tr>
                    <th>Name</th>
                    <th>Source</th>
                    <th>Current version</th>
                    <th>Updated</th>
                  </tr>
                </thead>
                <tbody>
                  {list.data.map((s) => (
                    <tr key={s.id} class="clickable" onClick={() => navigate(`/software/${s.id}`)}>
                      <td>
                        <a class="strong" href={`/software/${s.id}`}>
                          {s.name}
                        </a>
                      </td>
                      <td>{s.source === 'git' ? <Pill tone="violet">git</Pill> : <Pill>manual</Pill>}</td>
                      <td class="mono">{s.current_version ?? '—'}</td>
                      <td class="muted">{formatDate(s.updated_at)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </Card>
      {query.get('new') === '1' && isAdmin && (
        <SoftwareFormModal
          onClose={() => setQuery({ new: undefined })}
          onSaved={(s) => {
            toast('success', 'Software created', s.name)
            navigate(`/software/${s.id}`)
          }}
        />
      )}
    </div>
  )
}
