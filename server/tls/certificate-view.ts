/**
 * One certificate as the admin API shows it.
 * - `pending`: wanted, never issued yet;
 * - `renewing`: an order is queued or running;
 * - `valid`: issued and current;
 * - `failing`: still valid, but the last renewal failed (see `last_error`, `next_attempt_at`);
 * - `failed`: no usable certificate and the last order failed;
 * - `expired`: past `not_after` (renewal keeps failing);
 * - `unused`: nothing the gateway serves needs it any more (not renewed);
 * - `manual`: from the configured files.
 */
export interface CertificateView {
  name: string
  hosts: string[]
  source: 'acme' | 'manual'
  status: 'pending' | 'renewing' | 'valid' | 'failing' | 'failed' | 'expired' | 'unused' | 'manual'
  issuer: string | null
  serial: string | null
  not_before: Date | null
  not_after: Date | null
  renew_after: Date | null
  failures: number
  last_error: string | null
  next_attempt_at: Date | null
}

/** What the certificate routes need from the TLS part, whatever its mode. */
export interface CertificateService {
  readonly mode: 'off' | 'acme' | 'manual'
  list(): Promise<CertificateView[]>
  renew(host: string): Promise<CertificateView>
}
