import { locatorOf, storageSpecOf } from '../jobs/job-storage.ts'
import type { StorageProber } from '../storage/probe.ts'
import type { ResolvedAgentConfig } from './schema.ts'

/**
 * configcheck lines about failure domains. The typed `offsite`/`offline`/`immutable` booleans are still accepted
 * (old configs load), but the verdict trusts only what the agent probes: sites from `site:`, attach state from the
 * device, immutability from the storage.
 */
export function storageConfigHints(config: ResolvedAgentConfig): string[] {
  const out: string[] = []
  if ((config.site ?? 'default') === 'default') {
    out.push(
      'hint: site: is not set, so this node and all its targets are at site "default"; set site: on the node ' +
        'and on targets kept elsewhere, or no copy counts as offsite',
    )
  }
  const typed = (where: string, c: { offsite?: boolean; offline?: boolean; immutable?: boolean }): void => {
    for (const key of ['offsite', 'offline', 'immutable'] as const) {
      if (c[key] === true) {
        out.push(`warning: ${where}.${key}: true is ignored by the verdict; ${why[key]}`)
      }
    }
  }
  for (const j of config.jobs) {
    if ('offsite' in j) {
      typed(`jobs.${j.name}`, j)
    }
    if ('targets' in j) {
      for (const t of j.targets) {
        typed(`jobs.${j.name}.targets.${t.name}`, t)
      }
    }
  }
  return out
}

const why = {
  offsite: "a copy is offsite when its site: differs from the node's site",
  offline: 'a removable disk is offline when the agent finds it detached',
  immutable:
    'only storage that refuses deletion by this node, as probed, counts (a zfs hold or a read-only snapshot does not)',
} as const

/**
 * `media:` that contradicts the devices beneath a destination (ssd called nvme), probed now. A removable disk
 * without a known filesystem UUID is left to the runs: unplugged, its mountpoint is on the root disk, which says
 * nothing about the disk. Each run reports the same warning with what it found then.
 */
export async function mediaContradictions(config: ResolvedAgentConfig, prober: StorageProber): Promise<string[]> {
  const out: string[] = []
  for (const job of config.jobs) {
    for (const rule of storageSpecOf(job).targets) {
      const at = locatorOf({ kind: rule.kind, target: rule.at })
      if (
        rule.hints.media === undefined ||
        at.kind === 'remote' ||
        (rule.hints.media === 'usb' && !rule.hints.fsUuid)
      ) {
        continue
      }
      const probed = await prober.probe(at, rule.hints).catch(() => null)
      out.push(...(probed?.warnings ?? []).map((w) => `warning: jobs.${job.name}: ${w}`))
    }
  }
  return out
}
