import { useCallback, useEffect, useRef, useState } from 'preact/hooks'

export interface Resource<T> {
  data: T | undefined
  error: unknown
  loading: boolean
  /** Refetches; keeps showing the old data meanwhile (no flicker on live refreshes). */
  reload(): void
  /** Replaces the data locally, e.g. after a live event or a write that answered the new row. */
  setData(update: T | ((old: T | undefined) => T | undefined)): void
}

/** Loads `load()` when `deps` change. Later answers win; an answer for stale deps is dropped. */
export function useResource<T>(load: () => Promise<T>, deps: unknown[]): Resource<T> {
  const [data, setDataState] = useState<T | undefined>(undefined)
  const [error, setError] = useState<unknown>(undefined)
  const [loading, setLoading] = useState(true)
  const generation = useRef(0)
  const loadRef = useRef(load)
  loadRef.current = load

  const run = useCallback(() => {
    const mine = ++generation.current
    setLoading(true)
    loadRef.current().then(
      (value) => {
        if (mine !== generation.current) return
        setDataState(() => value)
        setError(undefined)
        setLoading(false)
      },
      (err: unknown) => {
        if (mine !== generation.current) return
        setError(err)
        setLoading(false)
      },
    )
  }, [])

  useEffect(() => {
    setDataState(undefined)
    run()
  }, deps)

  const setData = useCallback((update: T | ((old: T | undefined) => T | undefined)) => {
    setDataState((old) => (typeof update === 'function' ? (update as (o: T | undefined) => T | undefined)(old) : update))
  }, [])

  return { data, error, loading, reload: run, setData }
}

/** Runs `fn` at most once per `ms`, trailing: bursts of live events become one refetch. */
export function useDebounced(fn: () => void, ms: number): () => void {
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  const fnRef = useRef(fn)
  fnRef.current = fn
  useEffect(() => () => clearTimeout(timer.current), [])
  return useCallback(() => {
    clearTimeout(timer.current)
    timer.current = setTimeout(() => fnRef.current(), ms)
  }, [ms])
}
