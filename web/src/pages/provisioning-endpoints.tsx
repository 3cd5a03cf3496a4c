import type { ProvisioningEndpoints } from '../api/types'
import { formatBytes } from '../ui/format'
import { Icon } from '../ui/icons'
import { ErrorState, Loading } from '../ui/states'
import type { Resource } from '../ui/use-resource'

/**
 * What the device file will tell the device, shown before it is downloaded:
 * the server URL it registers with, the SSH endpoint its tunnel dials and the
 * agent it pins. A loopback address would make the device dial itself, so it
 * is called out here, with the setting to change; the API refuses such a
 * file unless the admin allows it for a lab test on this machine.
 */
export function EndpointSummary(props: { endpoints: Resource<ProvisioningEndpoints>; allowLoopback?: boolean; onAllowLoopback?(allow: boolean): void }) {
  const { data, error } = props.endpoints
  if (error) return <ErrorState error={error} feature="Gateway endpoints" retry={props.endpoints.reload} />
  if (!data) return <Loading />
  return (
    <div class="prov-endpoints" data-testid="provisioning-endpoints" data-loopback={data.loopback ? 'true' : 'false'}>
      <dl class="kv-grid">
        <div class="kv">
          <dt>Server URL</dt>
          <dd class="mono" data-testid="endpoint-server-url">
            {data.server_url}
          </dd>
        </div>
        <div class="kv">
          <dt>SSH endpoint</dt>
          <dd class="mono" data-testid="endpoint-ssh">
            {data.ssh.host}:{data.ssh.port}
          </dd>
        </div>
        {data.agent && (
          <div class="kv kv-wide">
            <dt>Agent (first-boot download)</dt>
            <dd class="mono small" data-testid="endpoint-agent" title={`sha512 ${data.agent.sha512}`}>
              {formatBytes(data.agent.size)} · sha512 {data.agent.sha512.slice(0, 16)}…
            </dd>
          </div>
        )}
      </dl>
      {data.loopback && (
        <div class="prov-warning" role="alert" data-testid="loopback-warning">
          <Icon name="alert" size={16} />
          <div>
            <strong>Devices could not reach this gateway.</strong> <span>{capitalised(data.problem ?? '')}</span>
            {props.onAllowLoopback && (
              <label class="prov-allow">
                <input
                  type="checkbox"
                  data-testid="allow-loopback"
                  checked={props.allowLoopback === true}
                  onChange={(e) => props.onAllowLoopback?.((e.target as HTMLInputElement).checked)}
                />{' '}
                Download anyway: a lab test with the device on this machine
              </label>
            )}
          </div>
        </div>
      )}
    </div>
  )
}

/** The API's sentence starts mid-thought ("devices would dial …"); here it follows a heading. */
function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}
