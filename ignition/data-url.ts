/**
 * RFC 2397 data URLs, the way Ignition embeds a file's contents in the config
 * itself. Base64 keeps any byte (YAML, unit files, newlines) intact without
 * percent-encoding rules to get wrong.
 */
export function toDataUrl(contents: string | Uint8Array): string {
  const bytes = typeof contents === 'string' ? Buffer.from(contents, 'utf8') : Buffer.from(contents)
  return `data:;base64,${bytes.toString('base64')}`
}

/**
 * Decodes the data URLs Ignition accepts: `data:[<mediatype>][;base64],<data>`,
 * base64 or percent-encoded. Throws on anything else, so a test that decodes a
 * config never mistakes a remote source for inline contents.
 */
export function fromDataUrl(url: string): Buffer {
  const match = /^data:([^,]*),(.*)$/s.exec(url)
  if (!match) throw new Error(`not a data URL: ${url.slice(0, 40)}`)
  const [, meta = '', data = ''] = match
  if (meta.split(';').includes('base64')) return Buffer.from(data, 'base64')
  return Buffer.from(decodeURIComponent(data), 'utf8')
}
