import { useCallback, useEffect, useRef, useState } from 'preact/hooks'

export interface Resource<T> {
  data: T | undefined
  error: unknown
  loading: boolean
  /** Refetches; keeps showing the old data meanwhile (no flicker on live refreshes). */
  reload(): void
  /**
   * Replaces the data locally, e.g. after a live event or a write that answered the new row. An update
   * given as a function is applied again to the answer of a reload that was under way meanwhile: that
   * answer was read before the change, and would otherwise undo it (a badge turned online by an event,
   * put back to offline by a list fetched a moment earlier).
   */
  setData(update: T | ((old: T | undefined) => T | undefined)): void
}

/** Loads `load()` when `deps` change. Later answers win; an answer for stale deps is dropped; see setData for live updates. */
export function useResource<T>(load: () => Promise<T>, deps: unknown[]): Resource<T> {
  const [data, setDataState] = useState<T | undefined>(undefined)
  const [error, setError] = useState<unknown>(undefined)
  const [loading, setLoading] = useState(true)
  const generation = useRef(0)
  /** Function updates made while the newest load is under way, to apply to its answer; undefined when none is. */
  const sinceLoad = useRef<((old: T | undefined) => T | undefined)[] | undefined>(undefined)
  const loadRef = useRef(load)
  loadRef.current = load

  const run = useCallback(() => {
    const mine = ++generation.current
    sinceLoad.current = []
    setLoading(true)
    loadRef.current().then(
      (value) => {
        if (mine !== generation.current) return
        const updates = sinceLoad.current ?? []
        sinceLoad.current = undefined
        setDataState(() => updates.reduce<T | undefined>((data, update) => update(data), value))
        setError(undefined)
        setLoading(false)
      },
      (err: unknown) => {
        if (mine !== generation.current) return
        sinceLoad.current = undefined
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
    if (typeof update === 'function') {
      const apply = update as (old: T | undefined) => T | undefined
      sinceLoad.current?.push(apply)
      setDataState(apply)
    } else setDataState(() => update)
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
