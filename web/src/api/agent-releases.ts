import { http } from './client'

const enc = encodeURIComponent

export interface AgentRelease {
  sha512: string
  version: string
  arch: 'x64' | 'arm64'
  size: number
  min_gateway_version: string
  created_at: string
}

export interface AgentReleases {
  release_key: string
  gateway_version: string
  min_agent_version: string
  items: AgentRelease[]
}

export interface DeviceAgent {
  version: string | null
  arch: 'x64' | 'arm64' | null
  reported_at: string | null
  target: string | null
  target_from: 'device' | 'fleet' | null
  outdated: boolean
  min_supported_version: string
}

export interface FleetAgents {
  target: string | null
  min_supported_version: string
  versions: { version: string | null; devices: number; outdated: boolean }[]
}

/** Agent releases and targets (docs/agent-releases.md). */
export const agentReleases = {
  list: () => http.get<AgentReleases>('/api/agent-releases'),
  device: (id: string) => http.get<DeviceAgent>(`/api/devices/${enc(id)}/agent`),
  setDeviceTarget: (id: string, version: string | null) => http.put<DeviceAgent>(`/api/devices/${enc(id)}/agent-target`, { version }),
  fleet: (id: string) => http.get<FleetAgents>(`/api/fleets/${enc(id)}/agent`),
  setFleetTarget: (id: string, version: string | null) => http.put<{ target: string | null }>(`/api/fleets/${enc(id)}/agent-target`, { version }),
}
