import type { ComponentChildren } from 'preact'
import type { Role } from '../api/types'
import { useLiveState } from '../state/live-events'
import { useLocation } from '../state/router'
import { roleAllows, useSession } from '../state/session'
import { Icon, type IconName } from './icons'

interface NavItem {
  href: string
  label: string
  icon: IconName
  role?: Role
}

const sections: { title: string; items: NavItem[] }[] = [
  {
    title: 'Fleet',
    items: [
      { href: '/', label: 'Dashboard', icon: 'dashboard' },
      { href: '/fleets', label: 'Fleets', icon: 'fleets' },
      { href: '/devices', label: 'Devices', icon: 'devices' },
    ],
  },
  {
    title: 'Deploy',
    items: [
      { href: '/software', label: 'Software', icon: 'software' },
      { href: '/rollouts', label: 'Rollouts', icon: 'rollout' },
      { href: '/env', label: 'Environment', icon: 'env' },
      { href: '/provisioning', label: 'Provisioning', icon: 'rocket', role: 'admin' },
    ],
  },
  {
    title: 'Access',
    items: [
      { href: '/users', label: 'Users', icon: 'users', role: 'admin' },
      { href: '/tokens', label: 'API tokens', icon: 'key' },
      { href: '/activity', label: 'Activity', icon: 'activity', role: 'admin' },
    ],
  },
]

function isActive(href: string, path: string): boolean {
  return href === '/' ? path === '/' : path === href || path.startsWith(`${href}/`)
}

function LiveIndicator() {
  const state = useLiveState()
  const label = state === 'live' ? 'Live' : state === 'connecting' ? 'Connecting' : 'Reconnecting'
  return (
    <span class={`live live-${state}`} title="Device status updates stream in without reloading" data-live={state}>
      <span class="dot" />
      {label}
    </span>
  )
}

/** The signed-in frame: sidebar navigation (items hidden for roles that cannot use them) and the page. */
export function Layout(props: { children: ComponentChildren }) {
  const { user, logout } = useSession()
  const { path } = useLocation()
  return (
    <div class="shell">
      <aside class="sidebar">
        <a class="brand" href="/">
          <svg viewBox="0 0 32 32" width="30" height="30" aria-hidden="true">
            <rect width="32" height="32" rx="8" fill="#6366f1" />
            <path d="M9 11.5 16 7.5l7 4v9l-7 4-7-4z" fill="none" stroke="#fff" stroke-width="2.2" stroke-linejoin="round" />
            <circle cx="16" cy="16" r="2.6" fill="#fff" />
          </svg>
          <span>Edgetainer</span>
        </a>
        <nav class="nav" aria-label="Main">
          {sections.map((section) => {
            const items = section.items.filter((item) => !item.role || roleAllows(user.role, item.role))
            if (!items.length) return null
            return (
              <div class="nav-section" key={section.title}>
                <div class="nav-title">{section.title}</div>
                {items.map((item) => (
                  <a key={item.href} href={item.href} class={`nav-item ${isActive(item.href, path) ? 'active' : ''}`} data-nav={item.label}>
                    <Icon name={item.icon} />
                    <span>{item.label}</span>
                  </a>
                ))}
              </div>
            )
          })}
        </nav>
        <div class="sidebar-footer">
          <LiveIndicator />
          <div class="user-chip">
            <div class="avatar">{user.username.slice(0, 1).toUpperCase()}</div>
            <a class="user-meta" href="/profile" title="Your profile and SSH keys" data-nav="Profile">
              <strong data-testid="current-user">{user.username}</strong>
              <span>{user.role}</span>
            </a>
            <button class="icon-btn" title="Sign out" aria-label="Sign out" onClick={() => void logout()}>
              <Icon name="logout" size={17} />
            </button>
          </div>
        </div>
      </aside>
      <main class="main">{props.children}</main>
    </div>
  )
}

/** Shown for a page the role may not open (the API refuses it too; this says so before asking). */
export function Forbidden(props: { role: Role }) {
  return (
    <div class="state state-error forbidden" data-testid="forbidden">
      <div class="state-icon">
        <Icon name="lock" size={22} />
      </div>
      <h3>You do not have access to this page</h3>
      <p>It needs the {props.role} role. Ask an administrator if you need it.</p>
      <a class="btn btn-secondary" href="/">
        Back to the dashboard
      </a>
    </div>
  )
}
