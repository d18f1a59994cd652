#!/usr/bin/env node
// Entry of the `kubectl-jade` kubectl plugin (`kubectl jade ...` once it is on PATH): registers tsx
// so the TypeScript sources run without a build step, like `jade`.
import { register } from 'tsx/esm/api';
register();
await import('../src/plugin/main.ts');
