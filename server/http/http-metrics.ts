import type { RequestHandler } from 'express'
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** One registry per gateway (no global default), so tests can run several gateways in one process. */
export function createMetricsRegistry(): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'edgetainer_' })
  return registry
}

export function createHttpMetrics(registry: Registry): RequestHandler {
  const requests = new Counter({
    name: 'edgetainer_http_requests_total',
    help: 'HTTP requests served by the API and console, by route pattern and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'edgetainer_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  })
  return (req, res, next) => {
    const end = duration.startTimer()
    res.on('finish', () => {
      // The matched pattern, never the raw URL: ids in paths would explode the label set.
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched'
      requests.inc({ method: req.method, route, status: String(res.statusCode) })
      end({ method: req.method, route })
    })
    next()
  }
}
