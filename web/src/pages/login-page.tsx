import { auth } from '../api/endpoints'
import type { Me } from '../api/types'
import { Field, FormError, formValues, useForm } from '../ui/form'

/** Signs in with the login route; the gateway sets the HttpOnly session cookie and the JWT in the answer is not kept. */
export function LoginPage(props: { onLogin(user: Me): void }) {
  const form = useForm(['username', 'password'])

  function onSubmit(event: Event) {
    const values = formValues(event)
    void form.submit(async () => {
      const result = await auth.login(values.username ?? '', values.password ?? '')
      props.onLogin(result.user)
    })
  }

  return (
    <div class="login">
      <div class="login-panel">
        <div class="login-brand">
          <svg viewBox="0 0 32 32" width="40" height="40" aria-hidden="true">
            <rect width="32" height="32" rx="8" fill="#6366f1" />
            <path d="M9 11.5 16 7.5l7 4v9l-7 4-7-4z" fill="none" stroke="#fff" stroke-width="2.2" stroke-linejoin="round" />
            <circle cx="16" cy="16" r="2.6" fill="#fff" />
          </svg>
          <span>Edgetainer</span>
        </div>
        <h1>Sign in to your gateway</h1>
        <p class="login-lead">Manage fleets, deploy software and open terminals on devices behind NAT.</p>
        <form class="form" onSubmit={onSubmit} noValidate>
          <Field label="Username" name="username" error={form.fieldErrors.username}>
            <input id="f-username" name="username" autocomplete="username" required autofocus />
          </Field>
          <Field label="Password" name="password" error={form.fieldErrors.password}>
            <input id="f-password" name="password" type="password" autocomplete="current-password" required />
          </Field>
          <FormError error={form.formError} />
          <button class="btn btn-primary btn-block" type="submit" disabled={form.busy}>
            {form.busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      </div>
      <div class="login-aside" aria-hidden="true">
        <div class="login-aside-inner">
          <h2>Your edge, one console.</h2>
          <ul>
            <li>Reverse SSH tunnels from every device, no inbound ports</li>
            <li>Container services on their own subdomains, with TLS</li>
            <li>Compose deployments with layered environments</li>
            <li>Browser terminals, audited</li>
          </ul>
        </div>
      </div>
    </div>
  )
}
