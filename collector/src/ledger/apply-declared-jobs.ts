import {
  alertAfter,
  alertKey,
  BackstopError,
  validateExpectation,
  type DeclaredJob,
  type ExpectationSchedule,
  type ExpectationState,
} from '@backstop/shared'
import { createDeclaredJobsRepo } from '../store/declared-jobs-repo.ts'
import type { ExpectationRow } from '../store/expectations-repo.ts'
import type { LedgerContext } from './context.ts'

/** A declared job's schedule as an expectation schedule; null for a job without one (run by hand only). */
export function declaredSchedule(job: DeclaredJob): ExpectationSchedule | null {
  return job.schedule === undefined ? null : { kind: 'cron', cron: job.schedule, timezone: job.timezone ?? 'UTC' }
}

const sameSchedule = (a: ExpectationSchedule, b: ExpectationSchedule): boolean =>
  JSON.stringify(a) === JSON.stringify(b)

/**
 * A node's job declaration, applied: every declared asset of a scheduled job is expected from the job's first
 * slot (a job that never runs goes down at slot + grace and raises missed-backup), an automatic expectation takes
 * the declared schedule, and the expectations of a job the node no longer declares are retired — their
 * missed-backup alerts resolved, one audit entry per job. Expectations an operator set (source `api`) keep their
 * schedule.
 */
export function createDeclaredJobsApplier(ctx: LedgerContext) {
  const repo = createDeclaredJobsRepo(ctx.db)

  const expect = (node: string, job: DeclaredJob, schedule: ExpectationSchedule, now: number): void => {
    const graceS = ctx.config.defaultGraceS
    for (const a of job.assets) {
      const k = { node, job: job.name, assetKind: a.kind, assetId: a.id }
      const e = ctx.expectations.get(k)
      if (e === undefined) {
        const state: ExpectationState = { schedule, graceS, status: 'new', createdAt: now }
        ctx.expectations.create(k, schedule, graceS, now, alertAfter(state), 'auto')
      } else if (e.source === 'auto' && !sameSchedule(e.state.schedule, schedule)) {
        ctx.expectations.declaredSchedule(e.id, schedule, alertAfter({ ...e.state, schedule }))
      }
    }
  }

  const retire = (node: string, job: string, rows: readonly ExpectationRow[], hash: string, now: number): void => {
    for (const e of rows) {
      ctx.expectations.retire(e.id)
      ctx.alerts.raise(
        {
          key: alertKey('missed-backup', node, `${job}/${e.assetKind}/${e.assetId}`),
          kind: 'missed-backup',
          node,
          severity: 'info',
          firing: false,
          summary:
            `${e.assetKind} ${e.assetId} on ${node}: job ${job} is no longer configured; ` +
            'nothing is expected of it',
        },
        now,
      )
    }
    ctx.audit(
      'job.retire',
      `${node}/${job}`,
      { node, job, declarationHash: hash, expectations: rows.map((e) => `${e.assetKind}/${e.assetId}`) },
      now,
    )
  }

  return (node: string, msgId: string, now: number): void => {
    const body = repo.bodyOf(node, msgId)
    if (body === undefined || repo.replace(node, body, now) === null) {
      return
    }
    for (const job of body.jobs) {
      const schedule = declaredSchedule(job)
      if (schedule === null) {
        continue
      }
      try {
        validateExpectation(schedule, ctx.config.defaultGraceS)
      } catch (e) {
        if (!(e instanceof BackstopError)) {
          throw e
        }
        // The agent refuses such a config, so this is an agent from elsewhere: expect nothing rather than fail.
        ctx.log.warn({ node, job: job.name, err: e.message }, 'declared schedule not understood; no expectation')
        continue
      }
      expect(node, job, schedule, now)
    }
    const declared = new Set(body.jobs.map((j) => j.name))
    const gone = new Map<string, ExpectationRow[]>()
    for (const e of ctx.expectations.ofNode(node)) {
      if (!declared.has(e.job)) {
        gone.set(e.job, [...(gone.get(e.job) ?? []), e])
      }
    }
    for (const [job, rows] of gone) {
      retire(node, job, rows, body.hash, now)
    }
  }
}
