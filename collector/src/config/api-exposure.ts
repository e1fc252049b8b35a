import { BlockList, isIP } from 'node:net'
import { BackstopError } from '@backstop/shared'
import { OFF_ON_NETWORK, type AuthMode } from './schema.ts'

const loopback = new BlockList()
loopback.addSubnet('127.0.0.0', 8, 'ipv4')
loopback.addAddress('::1', 'ipv6')
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6')

/** Only this machine can connect: a loopback address or `localhost`. Wildcards (0.0.0.0, ::) are not. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') {
    return true
  }
  const family = isIP(host)
  return family !== 0 && loopback.check(host, family === 4 ? 'ipv4' : 'ipv6')
}

/**
 * Whether the API may start with this auth setting on this address: authentication off on an address other
 * machines can reach needs the unmistakable value (OFF_ON_NETWORK). Returns the warning to log when auth is off,
 * undefined when it is on; throws when the setting is refused.
 */
export function checkApiExposure(api: { readonly host: string; readonly auth: AuthMode }): string | undefined {
  if (api.auth === 'required') {
    return undefined
  }
  if (api.auth === 'off' && !isLoopbackHost(api.host)) {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `api.auth is off but api.host ${api.host} is reachable from other machines: anyone there could create admin ` +
        `tokens and make nodes run commands. Remove api.auth (tokens are required by default; create the first ` +
        `one on this host with "backstop-collector apitoken create --name admin --role admin"), or bind api.host ` +
        `to 127.0.0.1, or, if everyone on that network may write, set api.auth: ${OFF_ON_NETWORK}`,
    )
  }
  return api.auth === 'off'
    ? `API authentication is off (api.auth: off): anyone with a shell on this host can read and write the API`
    : `API authentication is off on ${api.host} (api.auth: ${OFF_ON_NETWORK}): anyone who can reach it can ` +
        `create admin tokens and make nodes run commands`
}
