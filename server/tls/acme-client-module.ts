/**
 * acme-client, loaded on first use. With node-forge, axios and @peculiar/x509 it is a fifth of the
 * gateway's bundled code, and a gateway with no ACME directory configured never needs it: every
 * start (and every CLI command) would otherwise parse it for nothing, about 0.1 CPU-s.
 */
type AcmeClientModule = typeof import('acme-client')

let loading: Promise<AcmeClientModule> | undefined

export function acmeClientModule(): Promise<AcmeClientModule> {
  // A CommonJS package: what import() gives is its module.exports as `default` (bundled, only that).
  loading ??= import('acme-client')
    .then((loaded) => (loaded as { default?: AcmeClientModule }).default ?? loaded)
    .catch((err: unknown) => {
      loading = undefined
      throw err
    })
  return loading
}
