/**
 * The device's command allow-list. Each entry is an argv written with
 * spaces: `uptime` allows exactly `uptime`; `docker logs *` allows
 * `docker logs` with any further arguments. Commands run without a shell,
 * so no quoting, globbing or chaining can widen an entry.
 */
export function parseAllowlist(entries: readonly string[]): string[][] {
  return entries.map((e) => e.trim().split(/\s+/)).filter((argv) => argv.length && argv[0] !== '' && argv[0] !== '*')
}

export function isAllowed(allowlist: readonly string[][], argv: readonly string[]): boolean {
  if (!argv.length) return false
  return allowlist.some((entry) => {
    const wildcard = entry.at(-1) === '*'
    const fixed = wildcard ? entry.slice(0, -1) : entry
    if (wildcard ? argv.length < fixed.length : argv.length !== fixed.length) return false
    return fixed.every((word, i) => argv[i] === word)
  })
}
