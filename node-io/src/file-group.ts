import { readFileSync } from 'node:fs'

/** A group named in a config (`group:`), resolved on this machine: files are created 0640 and dirs 0750 for it. */
export interface FileGroup {
  /** As written in the config (a name, or a numeric id). */
  readonly name: string
  readonly gid: number
}

/**
 * Resolves a config's `group:` against the group database (`/etc/group`): a name must exist there; a number is
 * taken as a gid as is (a group from LDAP/NSS that /etc/group does not list can be given by its id). Undefined
 * when the name is unknown — the caller reports that at the config line.
 */
export function lookupGroup(spec: string, groupFile = '/etc/group'): FileGroup | undefined {
  if (/^\d{1,10}$/.test(spec) && Number(spec) <= 0xfffffffe) {
    return { name: spec, gid: Number(spec) }
  }
  let text: string
  try {
    text = readFileSync(groupFile, 'utf8')
  } catch {
    return undefined
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':')
    if (name === spec && gid !== undefined && /^\d+$/.test(gid)) {
      return { name, gid: Number(gid) }
    }
  }
  return undefined
}
