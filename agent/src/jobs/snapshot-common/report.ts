import { isBackstopError, type Copy, type DeletedCopy, type ErrorCode } from '@backstop/shared'
import type { JobResult, PlanLine } from '../job.ts'

/**
 * What one run of a snapshot job found and did, filled in step by step. A step that fails records a coded
 * error and the run goes on with what does not depend on it (an absent target never stops local pruning);
 * `result()` turns it into the job's status: failed when no new snapshot could be taken, partial when the
 * snapshot exists but a later step failed, success otherwise. Warnings never change the status.
 */
export class RunReport {
  readonly copies: Copy[] = []
  readonly deleted: DeletedCopy[] = []
  readonly warnings: string[] = []
  readonly errors: { code: ErrorCode; message: string }[] = []
  readonly lines: PlanLine[] = []
  bytes = 0
  /** Set when the run's main product (the new snapshot) is missing. */
  fatal = false

  error(code: ErrorCode, message: string, fatal = false): void {
    this.errors.push({ code, message })
    this.fatal ||= fatal
  }

  /** Records a thrown error under `fallback` unless it already carries a code. */
  caught(e: unknown, fallback: ErrorCode, fatal = false): void {
    if (isBackstopError(e)) {
      this.error(e.code, e.message, fatal)
    } else {
      this.error(fallback, e instanceof Error ? e.message : String(e), fatal)
    }
  }

  result(): JobResult {
    const first = this.errors[0]
    const status = this.fatal ? 'failed' : first === undefined ? 'success' : 'partial'
    const more =
      this.errors.length > 1
        ? ` (+${this.errors.length - 1} more: ${this.errors
            .slice(1)
            .map((e) => e.code)
            .join(', ')})`
        : ''
    return {
      status,
      copies: this.copies,
      deleted: this.deleted,
      warnings: [...this.warnings, ...this.errors.slice(1).map((e) => `${e.code}: ${e.message}`)],
      ...(this.bytes > 0 ? { bytes: this.bytes } : {}),
      ...(first !== undefined
        ? { error: { code: first.code, message: `${first.message}${more}`.slice(0, 4000) } }
        : {}),
    }
  }
}
