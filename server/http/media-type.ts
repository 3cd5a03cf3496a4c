/**
 * Media-type checks on a Content-Type header. Only the type/subtype before
 * any parameter counts (`application/json; charset=utf-8` is JSON); the
 * comparison is case-insensitive, as RFC 9110 says.
 */
function mediaTypeOf(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined
  return contentType.split(';', 1)[0]!.trim().toLowerCase() || undefined
}

/** `application/json` or a structured `application/*+json` type. */
export function isJsonMediaType(contentType: string | undefined): boolean {
  const type = mediaTypeOf(contentType)
  return type === 'application/json' || (type !== undefined && /^application\/[a-z0-9!#$&^_.-]+\+json$/.test(type))
}

export function isMultipartFormData(contentType: string | undefined): boolean {
  return mediaTypeOf(contentType) === 'multipart/form-data'
}
