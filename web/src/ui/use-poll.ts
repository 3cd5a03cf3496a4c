import { useEffect, useRef } from 'preact/hooks'

/**
 * Calls `fn` every `ms` while the page is visible, and once as soon as it
 * becomes visible again: a background tab costs the gateway nothing, and a
 * tab brought back shows fresh data at once.
 */
export function usePoll(fn: () => void, ms: number) {
  const fnRef = useRef(fn)
  fnRef.current = fn
  useEffect(() => {
    let timer: ReturnType<typeof setInterval> | undefined
    const start = () => {
      clearInterval(timer)
      timer = setInterval(() => fnRef.current(), ms)
    }
    const onVisibility = () => {
      if (document.hidden) clearInterval(timer)
      else {
        fnRef.current()
        start()
      }
    }
    if (!document.hidden) start()
    document.addEventListener('visibilitychange', onVisibility)
    return () => {
      clearInterval(timer)
      document.removeEventListener('visibilitychange', onVisibility)
    }
  }, [ms])
}
