import type { RetentionPolicyInput } from '@backstop/shared'
import { planCopies, resolveCheckedPolicy, type OwnedCopy } from '@backstop/agent/src/jobs/retention.ts'

/**
 * One location's copies of one kind of backup, kept by the agent's own GFS engine (agent/src/jobs/retention.ts
 * over shared/src/retention): each run adds one copy and prunes by the policy, as the agent's jobs do. Every node
 * takes its copies at the same instants, so one set serves all nodes and assets of a kind (names differ only by
 * node and asset), and the plan is computed once per run, not once per asset.
 */
export class RetainedSet {
  private copies: OwnedCopy[] = []
  private readonly policy

  constructor(
    readonly label: string,
    keep: RetentionPolicyInput['keep'],
  ) {
    this.policy = resolveCheckedPolicy({ keep }, 'UTC', label)
  }

  /** Adds the copy taken at `now` (named by its UTC time, like the agent's snapshot names) and prunes. */
  run(now: Date): { live: readonly OwnedCopy[]; destroyed: readonly { copy: OwnedCopy; rule: string }[] } {
    const name = now.toISOString().replace(/[-:]|\.\d+/g, '')
    this.copies.push({ id: name, name, createdAt: now, tags: undefined, held: false, successful: true })
    const plan = planCopies(this.copies, this.policy, now, this.label)
    this.copies = [...plan.keep].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
    return { live: this.copies, destroyed: plan.destroy.map((d) => ({ copy: d.snap, rule: d.rule })) }
  }
}
