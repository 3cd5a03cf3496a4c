import { DomainError } from '../errors.js'

/** The repository's content cannot become a version (no compose file, a symlink leaving it, a file too large, invalid compose). */
export class GitImportError extends DomainError {
  constructor(message: string) {
    super('GIT_IMPORT_REFUSED', message)
  }
}

/** The remote could not be fetched (unreachable, refused credentials, unknown ref, over the size or time limit). */
export class GitFetchError extends DomainError {
  constructor(message: string) {
    super('GIT_FETCH_FAILED', message)
  }
}
