import { useEffect, useMemo, useState } from 'preact/hooks'
import { ApiError, onUnauthorized } from './api/client'
import { auth } from './api/endpoints'
import type { Me } from './api/types'
import { connectLiveEvents, disconnectLiveEvents } from './state/live-events'
import { navigate, useLocation } from './state/router'
import { SessionContext, type Session } from './state/session'
import { Layout } from './ui/layout'
import { Loading, ErrorState } from './ui/states'
import { Toasts, toast } from './ui/toasts'
import { LoginPage } from './pages/login-page'
import { Routes } from './routes'

/**
 * Back to where sign-in was asked for: a console page, or the gateway's
 * hand-off to a device service (a server route, so a full navigation). Only
 * same-origin paths: `next` comes from the address bar and must not become an
 * open redirect.
 */
function goNext(next: string | null) {
  const safe = next && next.startsWith('/') && !next.startsWith('//') ? next : '/'
  if (safe.startsWith('/api/')) window.location.assign(safe)
  else navigate(safe, { replace: true })
}

/** Boot: ask the gateway who we are (the cookie decides), then show the console or the login form. */
export function App() {
  const [user, setUser] = useState<Me | null | undefined>(undefined)
  const [bootError, setBootError] = useState<unknown>(undefined)
  const location = useLocation()

  function loadMe() {
    setBootError(undefined)
    auth
      .me()
      .then(setUser)
      .catch((err) => (err instanceof ApiError && err.status === 401 ? setUser(null) : setBootError(err)))
  }

  useEffect(loadMe, [])

  useEffect(
    () =>
      onUnauthorized(() => {
        setUser((current) => {
          if (current) toast('info', 'Your session ended', 'Sign in again to continue.')
          return null
        })
      }),
    [],
  )

  useEffect(() => {
    if (user) connectLiveEvents()
    else disconnectLiveEvents()
  }, [user])

  // Keep the address bar honest: /login while signed out (remembering where to go back), never /login when signed in.
  useEffect(() => {
    if (user === null && location.path !== '/login') {
      const here = location.path + (location.query.size ? `?${location.query}` : '')
      navigate(here === '/' ? '/login' : `/login?next=${encodeURIComponent(here)}`, { replace: true })
    } else if (user && location.path === '/login') goNext(location.query.get('next'))
  }, [user, location.path])

  const session = useMemo<Session | null>(
    () =>
      user
        ? {
            user,
            async logout() {
              await auth.logout().catch(() => undefined)
              setUser(null)
              navigate('/login')
            },
          }
        : null,
    [user],
  )

  let content
  if (bootError) content = <div class="boot"><ErrorState error={bootError} retry={loadMe} /></div>
  else if (user === undefined) content = <div class="boot"><Loading label="Starting the console…" /></div>
  else if (!session) {
    content = (
      <LoginPage
        onLogin={(me) => {
          setUser(me)
          goNext(location.query.get('next'))
        }}
      />
    )
  } else {
    content = (
      <SessionContext.Provider value={session}>
        <Layout>
          <Routes />
        </Layout>
      </SessionContext.Provider>
    )
  }

  return (
    <>
      {content}
      <Toasts />
    </>
  )
}
