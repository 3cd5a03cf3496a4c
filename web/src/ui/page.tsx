import type { ComponentChildren } from 'preact'

export function PageHeader(props: { title: ComponentChildren; subtitle?: ComponentChildren; crumbs?: { label: string; href: string }[]; actions?: ComponentChildren }) {
  return (
    <header class="page-header">
      <div class="page-heading">
        {props.crumbs && (
          <nav class="crumbs" aria-label="Breadcrumb">
            {props.crumbs.map((c, i) => (
              <span key={c.href}>
                {i > 0 && <span class="crumb-sep">/</span>}
                <a href={c.href}>
                  {i === 0 && '← '}
                  {c.label}
                </a>
              </span>
            ))}
          </nav>
        )}
        <h1>{props.title}</h1>
        {props.subtitle && <p class="page-subtitle">{props.subtitle}</p>}
      </div>
      {props.actions && <div class="page-actions">{props.actions}</div>}
    </header>
  )
}

export function Card(props: { title?: ComponentChildren; actions?: ComponentChildren; children: ComponentChildren; class?: string; flush?: boolean }) {
  return (
    <section class={`card ${props.flush ? 'card-flush' : ''} ${props.class ?? ''}`}>
      {(props.title || props.actions) && (
        <div class="card-header">
          {props.title && <h2>{props.title}</h2>}
          {props.actions && <div class="card-actions">{props.actions}</div>}
        </div>
      )}
      <div class="card-body">{props.children}</div>
    </section>
  )
}

/** Tabs as links, so each tab has a URL (reloadable, shareable). */
export function Tabs(props: { tabs: { id: string; label: string; href: string; hidden?: boolean }[]; active: string }) {
  return (
    <nav class="tabs" role="tablist">
      {props.tabs
        .filter((t) => !t.hidden)
        .map((t) => (
          <a key={t.id} href={t.href} role="tab" aria-selected={t.id === props.active} class={`tab ${t.id === props.active ? 'active' : ''}`}>
            {t.label}
          </a>
        ))}
    </nav>
  )
}

export function Pagination(props: { total: number; limit: number; offset: number; onChange(offset: number): void }) {
  const { total, limit, offset } = props
  if (total <= limit) return null
  const end = Math.min(offset + limit, total)
  return (
    <div class="pagination">
      <span>
        {offset + 1}–{end} of {total}
      </span>
      <div class="pagination-buttons">
        <button class="btn btn-secondary btn-sm" disabled={offset === 0} onClick={() => props.onChange(Math.max(0, offset - limit))}>
          Previous
        </button>
        <button class="btn btn-secondary btn-sm" disabled={end >= total} onClick={() => props.onChange(offset + limit)}>
          Next
        </button>
      </div>
    </div>
  )
}
