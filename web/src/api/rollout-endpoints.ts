import { http, type Query } from './client'
import type { Page } from './types'
import type { NewRollout, RolloutDetail, RolloutOperation, RolloutSummary } from './rollout-types'

const enc = encodeURIComponent

/** The rollout routes (docs/rollouts.md): admins create, operators run them, viewers read. */
export const rollouts = {
  list: (q?: Query) => http.get<Page<RolloutSummary>>('/api/rollouts', q),
  get: (id: string) => http.get<RolloutDetail>(`/api/rollouts/${enc(id)}`),
  create: (body: NewRollout) => http.post<RolloutDetail>('/api/rollouts', body),
  operate: (id: string, op: RolloutOperation) => http.post<RolloutDetail>(`/api/rollouts/${enc(id)}/${op}`),
}
