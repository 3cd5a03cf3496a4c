/**
 * What the gateway and the agent agree on. Both import this module; keep it
 * to wire constants and wire types, nothing else.
 */

/** The agent reaches the gateway API by opening `direct-tcpip` to this host and port inside its tunnel. */
export const AGENT_API_HOST = 'edgetainer-api'
export const AGENT_API_PORT = 80

/**
 * The agent asks for a remote forward with this bind name and port; the
 * gateway opens `forwarded-tcpip` channels to it to send commands. No TCP
 * port is bound on either side.
 */
export const AGENT_CONTROL_NAME = 'edgetainer-agent'
export const AGENT_CONTROL_PORT = 1
