import Type from 'typebox'
import { BackstopError } from '@backstop/shared'
import type { SshEndpoint } from './ssh.ts'

/** Absolute path of a file the agent reads (identity key, pinned known_hosts). */
const AbsFile = Type.String({ minLength: 2, maxLength: 1024, pattern: '^/' })

/**
 * Config fields of a target on another host reached over ssh, for any kind whose far end is a path (btrfs; restic
 * over SFTP reuses the endpoint). ZFS targets have their own URL form (a dataset, jobs/zfs/ssh-config.ts).
 */
export const sshPathTargetFields = {
  /** `ssh://user@host[:port]/absolute/dir`: the directory on that host that receives. */
  url: Type.Optional(Type.String({ minLength: 8, maxLength: 512, pattern: '^ssh://' })),
  /** Private key the agent logs in with; its public key sits in the receiver's authorized_keys behind the gate. */
  identity: Type.Optional(AbsFile),
  /** The pinned known_hosts (`backstop-agent remote pin <host>`); a changed host key fails the target. */
  knownHosts: Type.Optional(AbsFile),
  /** Bandwidth limit of the stream in bytes per second (`pv -L`), e.g. `10M`, `512K`. */
  bandwidth: Type.Optional(Type.String({ pattern: '^[0-9]+[KMG]?$', maxLength: 16 })),
}

export interface SshPathTarget {
  readonly ssh: SshEndpoint
  /** Absolute directory on that host. */
  readonly path: string
}

const HOST = /^[A-Za-z0-9][A-Za-z0-9.-]*$|^\[[0-9A-Fa-f:.]+\]$/
const USER = /^[a-z_][a-z0-9_.-]*$/

/** Parses `ssh://user@host[:port]/abs/dir`; the error names the field and shows the expected form. */
export function parseSshPathUrl(
  t: { url: string; identity?: string | undefined; knownHosts?: string | undefined },
  where: string,
): SshPathTarget {
  const bad = (why: string): never => {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `${where}.url: "${t.url}" ${why}; expected ssh://user@host[:port]/absolute/dir ` +
        '(e.g. ssh://backstop@nas:22/mnt/backup/replicas)',
    )
  }
  const m = /^ssh:\/\/([^@/]+)@(\[[^\]]+\]|[^:/]+)(?::([0-9]{1,5}))?(\/.*)$/.exec(t.url)
  if (m === null) {
    return bad('is not an ssh URL with user, host and directory')
  }
  const [, user, host, port, path] = m as unknown as [string, string, string, string | undefined, string]
  if (!USER.test(user) || !HOST.test(host)) {
    bad(`has an invalid ${USER.test(user) ? 'host' : 'user'}`)
  }
  const p = port === undefined ? 22 : Number(port)
  if (p < 1 || p > 65535) {
    bad(`has port ${p} outside 1–65535`)
  }
  if (path === '/' || path.endsWith('/') || /\/\.\.?(\/|$)|\/\//.test(path) || !/^[A-Za-z0-9_.@:/+-]+$/.test(path)) {
    bad(`has the directory "${path}"; give a normal absolute directory other than /`)
  }
  if (t.identity === undefined || t.knownHosts === undefined) {
    throw new BackstopError(
      'BK_ERR_CONFIG_INVALID',
      `${where}: a target over ssh needs identity: (its private key) and knownHosts: (the pinned host key, ` +
        `written by \`backstop-agent remote pin ${host} --port ${p} --known-hosts <file>\`)`,
    )
  }
  return {
    ssh: { user, host: host.replace(/^\[|\]$/g, ''), port: p, identity: t.identity, knownHosts: t.knownHosts },
    path,
  }
}
