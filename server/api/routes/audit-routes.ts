import { z } from 'zod'
import type { AuditLog } from '../../audit/audit-log.js'
import type { RouteRegistry } from '../route-registry.js'
import { page, paginationQuery } from '../validation.js'

const auditQuery = paginationQuery.extend({
  action: z.string().max(100).optional(),
  target_type: z.string().max(50).optional(),
  target_id: z.string().max(100).optional(),
  actor_user_id: z.uuid().optional(),
})

export function registerAuditRoutes(api: RouteRegistry, deps: { auditLog: AuditLog }) {
  api.route({
    method: 'get',
    path: '/api/audit',
    summary: 'The audit log, newest first; filter by action, target or actor',
    tag: 'audit',
    access: 'admin',
    query: auditQuery,
    async handler({ query }) {
      const { items, total } = await deps.auditLog.list({
        action: query.action,
        targetType: query.target_type,
        targetId: query.target_id,
        actorUserId: query.actor_user_id,
        limit: query.limit,
        offset: query.offset,
      })
      return page(items, total, query)
    },
  })
}
