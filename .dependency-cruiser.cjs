/**
 * Import boundaries, checked in CI by `pnpm run cycles` (scripts/test.sh). Folder cycles are the ones a reader
 * feels: when `api/` imports `auth/` and `auth/` imports `api/`, neither can be understood or tested alone.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-module-cycle',
      severity: 'error',
      comment: 'Two modules import each other (directly or around a loop); break it with an interface or a port.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycle',
      severity: 'error',
      scope: 'folder',
      comment:
        'Two folders import each other (directly or around a loop); move the shared piece into the lower folder ' +
        'or pass it in through the composition root (collector/src/main.ts, agent daemon assembly).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'shared-is-the-bottom',
      severity: 'error',
      comment: 'shared/ is the wire contract and pure domain core: it imports nothing from the agent or collector.',
      from: { path: '^shared/' },
      to: { path: '^(agent|collector|test|bench)/' },
    },
    {
      name: 'agent-not-collector',
      severity: 'error',
      comment: 'The agent and the collector only share @backstop/shared; they never import each other.',
      from: { path: '^agent/' },
      to: { path: '^collector/' },
    },
    {
      name: 'collector-not-agent',
      severity: 'error',
      comment: 'The agent and the collector only share @backstop/shared; they never import each other.',
      from: { path: '^collector/' },
      to: { path: '^agent/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    combinedDependencies: true,
  },
}
