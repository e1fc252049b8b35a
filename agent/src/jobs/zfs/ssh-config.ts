import Type from 'typebox'
import { BackstopError } from '@backstop/shared'
import type { SshEndpoint } from '../../remote/ssh.ts'

/** Absolute path of a file the agent reads (identity key, pinned known_hosts). */
const AbsPath = Type.String({ minLength: 2, maxLength: 1024, pattern: '^/' })
/** `10M`, `512K`, `1G` or plain bytes per second, as pv -L takes it. */
const Rate = Type.String({ pattern: '^[0-9]+[KMG]?$', maxLength: 16 })

/** Fields of a ZFS replication target on another host, reached over ssh (push), and the stream options. */
export const sshTargetFields = {
  /** `ssh://user@host[:port]/pool/path`: receive below `pool/path` on that host. */
  url: Type.Optional(Type.String({ minLength: 8, maxLength: 512, pattern: '^ssh://' })),
  /** Private key the agent logs in with; its public key sits in the receiver's authorized_keys behind the gate. */
  identity: Type.Optional(AbsPath),
  /** The pinned known_hosts (written by `backstop-agent remote pin`); a changed host key fails the target. */
  knownHosts: Type.Optional(AbsPath),
  /** Bandwidth limit in bytes per second (`pv -L`), e.g. `10M`. */
  bandwidth: Type.Optional(Rate),
  /** ssh compression of the stream (zfs-fuse has no `send -c`; OpenZFS blocks already compressed travel as such). */
  compress: Type.Optional(Type.Boolean()),
  /** `zfs send -w`: an encrypted dataset arrives still encrypted (OpenZFS ≥ 0.8; a warning where the CLI lacks it). */
  raw: Type.Optional(Type.Boolean()),
}

export interface ResolvedSshTarget {
  readonly ssh?: SshEndpoint
  /** `pv -L` rate, or null for no limit. */
  readonly bandwidth: string | null
  readonly compress: boolean
  readonly raw: boolean
}

interface SshTargetInput {
  url?: string | undefined
  identity?: string | undefined
  knownHosts?: string | undefined
  bandwidth?: string | undefined
  compress?: boolean | undefined
  raw?: boolean | undefined
}

const HOST = /^[A-Za-z0-9][A-Za-z0-9.-]*$|^\[[0-9A-Fa-f:.]+\]$/
const USER = /^[a-z_][a-z0-9_.-]*$/
const DATASET = /^[A-Za-z0-9][A-Za-z0-9_.:-]*(\/[A-Za-z0-9_.:-]+)*$/

/** Parses `ssh://user@host[:port]/pool/path` into the endpoint and the dataset on that host. */
export function parseSshUrl(url: string, where: string): { user: string; host: string; port: number; path: string } {
  const m = /^ssh:\/\/([^@/]+)@(\[[^\]]+\]|[^:/]+)(?::([0-9]{1,5}))?\/(.+)$/.exec(url)
  const bad = (why: string): never => {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `${where}.url: "${url}" ${why}; expected ssh://user@host[:port]/pool/path (e.g. ` +
        `ssh://backstop@nas:22/tank/replicas)`,
    )
  }
  if (m === null) {
    return bad('is not an ssh URL with user, host and dataset')
  }
  const [, user, host, port, path] = m as unknown as [string, string, string, string | undefined, string]
  if (!USER.test(user)) {
    bad(`has an invalid user "${user}"`)
  }
  if (!HOST.test(host)) {
    bad(`has an invalid host "${host}"`)
  }
  const p = port === undefined ? 22 : Number(port)
  if (p < 1 || p > 65535) {
    bad(`has port ${p} outside 1–65535`)
  }
  if (!DATASET.test(path)) {
    bad(`has "${path}", which is not a ZFS dataset name`)
  }
  return { user, host: host.replace(/^\[|\]$/g, ''), port: p, path }
}

/** Resolves the ssh part of a target; `dataset` is the path of the URL when there is one. */
export function resolveSshTarget(
  t: SshTargetInput,
  where: string,
): { ssh?: SshEndpoint; dataset?: string; resolved: ResolvedSshTarget } {
  const stream = { bandwidth: t.bandwidth ?? null, compress: t.compress ?? false, raw: t.raw ?? false }
  if (t.url === undefined) {
    for (const k of ['identity', 'knownHosts'] as const) {
      if (t[k] !== undefined) {
        throw new BackstopError('BK_ERR_CONFIG_INVALID', `${where}.${k}: only a target with url: ssh://… uses ${k}`)
      }
    }
    return { resolved: stream }
  }
  const u = parseSshUrl(t.url, where)
  if (t.identity === undefined || t.knownHosts === undefined) {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `${where}: a target over ssh needs identity: (its private key) and knownHosts: (the pinned host key, ` +
        `written by \`backstop-agent remote pin ${u.host}\`)`,
    )
  }
  const ssh: SshEndpoint = {
    user: u.user,
    host: u.host,
    port: u.port,
    identity: t.identity,
    knownHosts: t.knownHosts,
    compress: stream.compress,
  }
  return { ssh, dataset: u.path, resolved: { ...stream, ssh } }
}
