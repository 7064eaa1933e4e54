import { configDefaults, defineConfig } from 'vitest/config';
import { webgpuTestEnv } from './scripts/swiftshader-env.mjs';

/** The browser app on WebGPU (Chromium's SwiftShader): in the `webgpu` project, not `main`. */
const WEBGPU_PAGE = 'test/browser/app-webgpu.test.ts';

export default defineConfig({
  test: {
    // (include / exclude are per project: `extends` would concatenate them with these.)
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs backends are process-global; one file per worker, two workers for the two cores.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [...configDefaults.exclude, 'test/webgpu/**', WEBGPU_PAGE] } },
      {
        // The WebGPU suite: its own worker processes, started with the Vulkan driver's
        // environment (SwiftShader without a GPU; scripts/swiftshader-env.mjs), after the main
        // project (groupOrder), one file at a time (SwiftShader already uses every core).
        extends: true,
        test: {
          name: 'webgpu',
          // (and the page on WebGPU: Chromium's own SwiftShader, as busy)
          include: ['test/webgpu/**/*.test.ts', WEBGPU_PAGE],
          env: webgpuTestEnv(),
          globalSetup: ['test/webgpu/global-setup.ts'],
          sequence: { groupOrder: 1 },
          maxWorkers: 1,
        },
      },
    ],
  },
});
