import { http, type Query } from './client'
import type {
  ApiToken,
  AuditEntry,
  Deployment,
  Device,
  DeviceLiveStatus,
  DeviceLogEntry,
  DeviceRelease,
  LogPage,
  ContainerState,
  DeviceMetricsHistory,
  EnvVar,
  ExposedService,
  Fleet,
  LoginResult,
  Me,
  NewRegistrationToken,
  Page,
  ProvisioningEndpoints,
  RegistrationToken,
  ResolvedEnv,
  Software,
  SoftwareVersion,
  SyncResult,
  User,
} from './types'

const enc = encodeURIComponent

/** Some routes answer `{items}`, some (still being built) may answer a bare array; the console accepts both. */
export function itemsOf<T>(value: unknown, key = 'items'): T[] {
  if (Array.isArray(value)) return value as T[]
  if (value && typeof value === 'object') {
    const inner = (value as Record<string, unknown>)[key] ?? (value as Record<string, unknown>).items
    if (Array.isArray(inner)) return inner as T[]
  }
  return []
}

export const auth = {
  login: (username: string, password: string) => http.post<LoginResult>('/api/auth/login', { username, password }),
  logout: () => http.post<void>('/api/auth/logout'),
  me: () => http.get<Me>('/api/auth/me'),
}

export const users = {
  list: (q?: Query) => http.get<Page<User>>('/api/users', q),
  create: (body: { username: string; email?: string | null; password: string; role: string }) => http.post<User>('/api/users', body),
  update: (id: string, body: Partial<{ email: string | null; password: string; role: string; disabled: boolean }>) => http.put<User>(`/api/users/${enc(id)}`, body),
  remove: (id: string) => http.delete(`/api/users/${enc(id)}`),
  tokens: (id: string) => http.get<{ items: ApiToken[] }>(`/api/users/${enc(id)}/tokens`),
  revokeToken: (id: string, tokenId: string) => http.delete(`/api/users/${enc(id)}/tokens/${enc(tokenId)}`),
}

export const tokens = {
  list: () => http.get<{ items: ApiToken[] }>('/api/tokens'),
  create: (body: { description?: string; expires_in_days?: number }) => http.post<ApiToken & { token: string }>('/api/tokens', body),
  revoke: (id: string) => http.delete(`/api/tokens/${enc(id)}`),
}

export const fleets = {
  list: (q?: Query) => http.get<Page<Fleet>>('/api/fleets', q),
  get: (id: string) => http.get<Fleet>(`/api/fleets/${enc(id)}`),
  create: (body: { name: string; description?: string | null }) => http.post<Fleet>('/api/fleets', body),
  update: (id: string, body: { name?: string; description?: string | null }) => http.put<Fleet>(`/api/fleets/${enc(id)}`, body),
  remove: (id: string) => http.delete(`/api/fleets/${enc(id)}`),
  devices: (id: string, q?: Query) => http.get<Page<Device>>(`/api/fleets/${enc(id)}/devices`, q),
  envVars: (id: string) => http.get<unknown>(`/api/fleets/${enc(id)}/env-vars`),
  putEnv: (id: string, container: string, vars: Record<string, EnvVar>) => http.put<unknown>(`/api/fleets/${enc(id)}/env-vars/${enc(container)}`, { vars }),
  deleteEnv: (id: string, container: string) => http.delete(`/api/fleets/${enc(id)}/env-vars/${enc(container)}`),
}

export const devices = {
  list: (q?: Query) => http.get<Page<Device>>('/api/devices', q),
  get: (id: string) => http.get<Device>(`/api/devices/${enc(id)}`),
  create: (body: { name: string; device_id?: string; fleet_id?: string | null; subdomain?: string; public_key?: string | null }) => http.post<Device>('/api/devices', body),
  update: (id: string, body: Partial<{ name: string; subdomain: string; subdomain_enabled: boolean; public_key: string | null; labels: Record<string, string> }>) =>
    http.put<Device>(`/api/devices/${enc(id)}`, body),
  remove: (id: string) => http.delete(`/api/devices/${enc(id)}`),
  move: (id: string, fleetId: string | null) => http.post<Device>(`/api/devices/${enc(id)}/move`, { fleet_id: fleetId }),
  status: (id: string) => http.get<DeviceLiveStatus>(`/api/devices/${enc(id)}/status`),
  /** Oldest first; `since` is an ISO time, `limit` at most 1000. */
  logs: (id: string, q: { since?: string; container?: string; limit: number; offset: number }) => http.get<Page<DeviceLogEntry>>(`/api/devices/${enc(id)}/logs`, q),
  /** Newest first behind a cursor (`before: ''` starts at the newest); no ceiling on how far back. */
  logsBefore: (id: string, q: { before: string; since?: string; container?: string; limit: number }) => {
    // Built here rather than by withQuery, which leaves out empty values: an empty `before` means "from the newest".
    const params = new URLSearchParams({ before: q.before, limit: String(q.limit) })
    if (q.since) params.set('since', q.since)
    if (q.container) params.set('container', q.container)
    return http.get<LogPage>(`/api/devices/${enc(id)}/logs?${params}`)
  },
  /** The live stream's URL (Server-Sent Events; the session cookie authenticates it). */
  logStreamUrl: (id: string, q: { container?: string; since?: string; limit?: number }) => {
    const params = new URLSearchParams({ follow: '1' })
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v))
    return `/api/devices/${enc(id)}/logs?${params}`
  },
  release: (id: string) => http.get<DeviceRelease>(`/api/devices/${enc(id)}/release`),
  containerAction: (id: string, service: string, action: 'restart' | 'stop' | 'start', softwareId?: string) =>
    http.post<{ service: string; action: string; containers: ContainerState[] }>(`/api/devices/${enc(id)}/containers/${enc(service)}/${action}`, softwareId ? { software_id: softwareId } : {}),
  metrics: (id: string, q: { since?: string; limit?: number }) => http.get<DeviceMetricsHistory>(`/api/devices/${enc(id)}/metrics`, q),
  envVars: (id: string) => http.get<unknown>(`/api/devices/${enc(id)}/env-vars`),
  resolvedEnv: (id: string) => http.get<ResolvedEnv>(`/api/devices/${enc(id)}/env-vars`, { resolved: true }),
  putEnv: (id: string, container: string, vars: Record<string, EnvVar>) => http.put<unknown>(`/api/devices/${enc(id)}/env-vars/${enc(container)}`, { vars }),
  deleteEnv: (id: string, container: string) => http.delete(`/api/devices/${enc(id)}/env-vars/${enc(container)}`),
  restartContainer: (id: string, container: string) => http.post<unknown>(`/api/devices/${enc(id)}/env-vars/${enc(container)}/restart`),
}

export type ServiceInput = Omit<ExposedService, 'id' | 'url' | 'enabled'> & { enabled?: boolean }

export const services = {
  list: (deviceId: string) => http.get<unknown>(`/api/devices/${enc(deviceId)}/exposed-services`).then((v) => itemsOf<ExposedService>(v)),
  create: (deviceId: string, body: ServiceInput) => http.post<ExposedService>(`/api/devices/${enc(deviceId)}/exposed-services`, body),
  update: (deviceId: string, id: string, body: Partial<ServiceInput>) => http.put<ExposedService>(`/api/devices/${enc(deviceId)}/exposed-services/${enc(id)}`, body),
  remove: (deviceId: string, id: string) => http.delete(`/api/devices/${enc(deviceId)}/exposed-services/${enc(id)}`),
  setEnabled: (deviceId: string, id: string, enabled: boolean) =>
    http.post<ExposedService>(`/api/devices/${enc(deviceId)}/exposed-services/${enc(id)}/${enabled ? 'enable' : 'disable'}`),
}

export const software = {
  list: (q?: Query) => http.get<unknown>('/api/software', q).then((v) => itemsOf<Software>(v)),
  get: (id: string) => http.get<Software>(`/api/software/${enc(id)}`),
  create: (body: Record<string, unknown>) => http.post<Software>('/api/software', body),
  update: (id: string, body: Record<string, unknown>) => http.put<Software>(`/api/software/${enc(id)}`, body),
  remove: (id: string) => http.delete(`/api/software/${enc(id)}`),
  versions: (id: string) =>
    http.get<unknown>(`/api/software/${enc(id)}/versions`).then((v) =>
      itemsOf<SoftwareVersion | string>(v, 'versions').map((item) => (typeof item === 'string' ? { version: item } : item)),
    ),
  diff: (id: string, a: string, b: string) =>
    http.get<unknown>(`/api/software/${enc(id)}/versions/${enc(a)}/diff/${enc(b)}`).then((v) =>
      typeof v === 'string' ? v : String((v as { diff?: string } | undefined)?.diff ?? ''),
    ),
  envVars: (id: string) => http.get<unknown>(`/api/software/${enc(id)}/env-vars`),
  putEnv: (id: string, body: { vars: Record<string, EnvVar>; services?: Record<string, { vars: Record<string, EnvVar> }> }) =>
    http.put<unknown>(`/api/software/${enc(id)}/env-vars`, body),
  deploy: (id: string, body: { fleet_id?: string; device_id?: string; version?: string; pinned?: boolean }) => http.post<Deployment>(`/api/software/${enc(id)}/deploy`, body),
  sync: (id: string) => http.post<SyncResult>(`/api/software/${enc(id)}/sync`, {}),
  webhookSecret: (id: string) => http.post<{ webhook_secret: string }>(`/api/software/${enc(id)}/webhook-secret`, {}),
  rotateDeployKey: (id: string) => http.post<{ deploy_key_public: string }>(`/api/software/${enc(id)}/deploy-key`, {}),
}

export const deployments = {
  list: (q?: Query) => http.get<unknown>('/api/deployments', q).then((v) => itemsOf<Deployment>(v)),
  remove: (id: string) => http.delete(`/api/deployments/${enc(id)}`),
}

export const audit = {
  list: (q?: Query) => http.get<Page<AuditEntry>>('/api/audit', q),
}

export const provisioning = {
  tokens: (q?: Query) => http.get<{ items: RegistrationToken[] }>('/api/provision/tokens', q),
  createToken: (body: NewRegistrationToken) => http.post<RegistrationToken & { token: string }>('/api/provision/tokens', body),
  revokeToken: (id: string) => http.delete(`/api/provision/tokens/${enc(id)}`),
  /** Where a device (or an admin) fetches the rendered config; the token value is the credential. */
  configUrl: (token: string, format: 'ignition' | 'butane' = 'ignition', allowLoopback = false) => {
    const query = [...(format === 'butane' ? ['format=butane'] : []), ...(allowLoopback ? ['allow_loopback=1'] : [])].join('&')
    return `/api/provision/config/${enc(token)}${query ? `?${query}` : ''}`
  },
  /** The server URL and SSH endpoint a config rendered now would use, and whether they are loopback. */
  endpoints: () => http.get<ProvisioningEndpoints>('/api/provision/endpoints'),
}

export interface SshKey {
  id: string
  user_id: string
  name: string
  public_key: string
  fingerprint: string
  last_used_at: string | null
  created_at: string
}

/** The signed-in user's SSH keys for the jump host (`me`; admins reach others' by id through the same routes). */
export const sshKeys = {
  list: () => http.get<{ items: SshKey[] }>('/api/users/me/ssh-keys'),
  add: (body: { public_key: string; name?: string }) => http.post<SshKey>('/api/users/me/ssh-keys', body),
  remove: (id: string) => http.delete(`/api/users/me/ssh-keys/${enc(id)}`),
}
