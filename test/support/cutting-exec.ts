import { spawnSync } from 'node:child_process'
import type { Exec } from '../../agent/src/exec/exec.ts'

/** An Exec that kills the sshd's per-connection children once, `afterMs` into the first pipeline (a cut link). */
export class CuttingExec implements Exec {
  cut = false
  constructor(
    private readonly inner: Exec,
    private readonly sshdPid: number,
    private readonly afterMs: number,
  ) {}
  run: Exec['run'] = (argv, opts) => this.inner.run(argv, opts)
  pipeline: Exec['pipeline'] = (stages, opts) => {
    if (!this.cut) {
      this.cut = true
      setTimeout(() => {
        const kids = spawnSync('ps', ['-o', 'pid=', '--ppid', String(this.sshdPid)], { encoding: 'utf8' })
        for (const pid of kids.stdout
          .split('\n')
          .map((l) => Number(l.trim()))
          .filter((n) => n > 0)) {
          process.kill(pid, 'SIGKILL')
        }
      }, this.afterMs)
    }
    return this.inner.pipeline(stages, opts)
  }
}
