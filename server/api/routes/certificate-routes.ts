import { NotFoundError } from '../../errors.js'
import type { CertificateService } from '../../tls/certificate-view.js'
import type { RouteRegistry } from '../route-registry.js'

const hostParam = /^(\*\.)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/

export function registerCertificateRoutes(api: RouteRegistry, deps: { certificates: CertificateService }) {
  const { certificates } = deps

  // Viewers may read this: host names and expiry dates are public anyway (Certificate Transparency logs).
  api.route({
    method: 'get',
    path: '/api/certificates',
    summary: 'List the TLS certificates the gateway serves, with issuer, expiry and renewal status',
    tag: 'certificates',
    access: 'viewer',
    async handler() {
      return { mode: certificates.mode, items: await certificates.list() }
    },
  })

  api.route({
    method: 'post',
    path: '/api/certificates/:host/renew',
    summary: 'Renew the certificate that carries a host now (queued; poll the list for the result)',
    tag: 'certificates',
    access: 'admin',
    status: 202,
    async handler({ params, audit }) {
      const host = (params.host ?? '').toLowerCase().replace(/\.$/, '')
      if (!hostParam.test(host)) throw new NotFoundError('CERTIFICATE_NOT_FOUND', 'certificate')
      const view = await certificates.renew(host)
      await audit('certificate.renew', 'certificate', view.name, { host })
      return view
    },
  })
}
