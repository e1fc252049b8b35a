import { lookupGroup, type FileGroup } from '@backstop/node-io'
import type { DataDirAccess } from '../store/data-dir.ts'

type Report = (path: (string | number)[], message: string) => void

/**
 * `group:` — a group that may read the data directory (a backup reader, a monitoring user): dataDir becomes 0750
 * and the database files 0640, owned by that group (implies `dataDirAccess: group-read`). Keys stay 0600.
 * Without it, dataDirAccess decides alone (default owner-only: 0700 / 0600). An unknown group is refused here, at
 * configcheck, rather than when the collector first creates a file.
 */
export function resolveFileAccess(
  input: { readonly group?: string | undefined; readonly dataDirAccess?: DataDirAccess | undefined },
  report: Report,
  groupFile?: string,
): { readonly dataDirAccess: DataDirAccess; readonly group: FileGroup | undefined } {
  if (input.group === undefined) {
    return { dataDirAccess: input.dataDirAccess ?? 'owner-only', group: undefined }
  }
  const group = lookupGroup(input.group, groupFile)
  if (group === undefined) {
    report(
      ['group'],
      `no group ${JSON.stringify(input.group)} on this machine (${groupFile ?? '/etc/group'}); create it ` +
        `(groupadd ${input.group}), give its numeric id, or remove group: to keep the data directory owner-only`,
    )
  }
  if (input.dataDirAccess === 'owner-only') {
    report(
      ['dataDirAccess'],
      `owner-only contradicts group: ${input.group} (which lets that group read dataDir); remove one of the two`,
    )
  }
  return { dataDirAccess: 'group-read', group }
}
