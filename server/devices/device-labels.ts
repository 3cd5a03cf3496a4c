/**
 * Device ids made from names. A device id doubles as the SSH user name of the
 * tunnel and as the device's DNS label (`web.<label>.<base>`), so one made
 * from a name must be a DNS label (which also fits the tunnel's device-id
 * pattern): lowercase a–z, 0–9 and hyphens, at most 63 characters, no hyphen
 * at either end.
 *
 * The rule, in one line: lowercase the name, turn every run of other
 * characters into one hyphen, drop hyphens at the ends, cut to 63.
 * `Lab North 1` → `lab-north-1`, `pump_7.b` → `pump-7-b`, `Ölpumpe 3` → `lpumpe-3`.
 *
 * On collision the label takes the first free suffix `-2`, `-3`, … (`lab-1`
 * → `lab-1-2`): the number stays the token's use number, so a suffix never
 * makes one device look like another use of the same token.
 */

export const MAX_LABEL_LENGTH = 63

/** The DNS label a name gives, or '' when nothing usable is left (the caller then picks a random id). */
export function deviceLabel(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, MAX_LABEL_LENGTH)
    .replace(/-+$/, '')
}

/** `base` with suffix `-k` (k ≥ 2), cutting `base` so the whole stays within 63 characters. */
export function suffixedLabel(base: string, k: number): string {
  if (k < 2) return base
  const suffix = `-${k}`
  return `${base.slice(0, MAX_LABEL_LENGTH - suffix.length).replace(/-+$/, '')}${suffix}`
}

/**
 * The first of `base`, `base-2`, `base-3`, … that `taken` does not hold. `taken`
 * holds every device id, subdomain and reserved label that starts like `base`;
 * a device's id and its subdomain are the same label, so both count.
 */
export function firstFreeLabel(base: string, taken: ReadonlySet<string>): string {
  for (let k = 1; ; k++) {
    const candidate = suffixedLabel(base, k)
    if (!taken.has(candidate)) return candidate
  }
}

/**
 * A prefix every candidate for `base` keeps, up to a suffix of 10 digits: the
 * labels starting with it are all that `firstFreeLabel` can collide with.
 */
export function labelPrefix(base: string): string {
  return base.slice(0, MAX_LABEL_LENGTH - 11).replace(/-+$/, '')
}
