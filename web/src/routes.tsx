import type { ComponentType } from 'preact'
import type { Role } from './api/types'
import { matchPath, useLocation } from './state/router'
import { useSession, roleAllows } from './state/session'
import { Forbidden } from './ui/layout'
import { EmptyState } from './ui/states'
import { DashboardPage } from './pages/dashboard-page'
import { FleetsPage } from './pages/fleets-page'
import { FleetDetailPage } from './pages/fleet-detail-page'
import { DevicesPage } from './pages/devices-page'
import { DeviceDetailPage } from './pages/device-detail-page'
import { SoftwarePage } from './pages/software-page'
import { SoftwareDetailPage } from './pages/software-detail-page'
import { EnvPage } from './pages/env-page'
import { UsersPage } from './pages/users-page'
import { TokensPage } from './pages/tokens-page'
import { ActivityPage } from './pages/activity-page'
import { ProvisioningPage } from './pages/provisioning-page'
import { ProfilePage } from './pages/profile-page'
import { RolloutsPage } from './pages/rollouts-page'
import { RolloutWizardPage } from './pages/rollout-wizard-page'
import { RolloutProgressPage } from './pages/rollout-progress-page'

type Params = Record<string, string>

const routes: { pattern: string; page: ComponentType<{ params: Params }>; role?: Role }[] = [
  { pattern: '/', page: DashboardPage },
  { pattern: '/fleets', page: FleetsPage },
  { pattern: '/fleets/:id/:tab?', page: FleetDetailPage },
  { pattern: '/devices', page: DevicesPage },
  { pattern: '/devices/:id/:tab?', page: DeviceDetailPage },
  { pattern: '/software', page: SoftwarePage },
  { pattern: '/software/:id/:tab?', page: SoftwareDetailPage },
  { pattern: '/rollouts', page: RolloutsPage },
  { pattern: '/rollouts/new', page: RolloutWizardPage, role: 'admin' },
  { pattern: '/rollouts/:id', page: RolloutProgressPage },
  { pattern: '/env', page: EnvPage },
  { pattern: '/provisioning', page: ProvisioningPage, role: 'admin' },
  { pattern: '/users', page: UsersPage, role: 'admin' },
  { pattern: '/tokens', page: TokensPage },
  { pattern: '/profile', page: ProfilePage },
  { pattern: '/activity', page: ActivityPage, role: 'admin' },
]

export function Routes() {
  const { path } = useLocation()
  const { user } = useSession()
  for (const route of routes) {
    const params = matchPath(route.pattern, path)
    if (!params) continue
    if (route.role && !roleAllows(user.role, route.role)) return <Forbidden role={route.role} />
    const Page = route.page
    // Keyed by path so a page's state starts fresh when its id changes.
    return <Page key={route.pattern + (params.id ?? '')} params={params} />
  }
  return (
    <EmptyState icon="alert" title="Page not found" action={<a class="btn btn-secondary" href="/">Back to the dashboard</a>}>
      There is nothing at {path}.
    </EmptyState>
  )
}
