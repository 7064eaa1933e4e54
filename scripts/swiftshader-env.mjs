#!/usr/bin/env node
/**
 * The environment the WebGPU test suite (test/webgpu) runs in: where Dawn (the `webgpu` package)
 * finds a Vulkan driver. The one place that knows these paths; src/ knows none of them.
 *
 * Without a GPU the driver is SwiftShader, the CPU implementation of Vulkan that Debian's
 * `chromium` package ships (/usr/lib/chromium: vk_swiftshader_icd.json, libvk_swiftshader.so and
 * a Vulkan loader libvulkan.so.1). Dawn dlopens libvulkan.so.1, so LD_LIBRARY_PATH has to be set
 * before the process starts: vitest.config.ts gives the `webgpu` project this environment, which
 * its worker processes are started with.
 *
 * Order: VK_ICD_FILENAMES / VK_DRIVER_FILES already set (your choice, e.g. a real GPU's driver)
 * > SwiftShader from $CIRCUITSCOPE_SWIFTSHADER_DIR or a Chromium install > the system's Vulkan
 * drivers (/usr/share/vulkan/icd.d, ...) > none (the suite skips, or fails when CI=true).
 * macOS and Windows need no Vulkan: Dawn uses Metal / D3D12 there.
 *
 *   import { findVulkan, webgpuTestEnv } from './scripts/swiftshader-env.mjs';
 *   node scripts/swiftshader-env.mjs                  # prints what was found and the variables
 *   node scripts/swiftshader-env.mjs npx circuitscope backends   # runs a command under them
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SWIFTSHADER_ICD = 'vk_swiftshader_icd.json';
const CHROMIUM_DIRS = ['/usr/lib/chromium', '/usr/lib64/chromium', '/usr/lib/chromium-browser', '/opt/google/chrome'];
const SYSTEM_ICD_DIRS = ['/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/share/vulkan/icd.d'];

/** LD_LIBRARY_PATH with `dir` in front when a Vulkan loader sits there and it is not on it yet. */
function withLoader(dir, ldPath) {
  if (!existsSync(join(dir, 'libvulkan.so.1'))) return ldPath;
  const parts = (ldPath ?? '').split(delimiter).filter(Boolean);
  return parts.includes(dir) ? ldPath : [dir, ...parts].join(delimiter);
}

/**
 * @typedef {{ kind: 'explicit' | 'swiftshader' | 'system' | 'native' | 'none', icd: string | null,
 *   env: Record<string, string>, note: string }} VulkanSetup
 * `env` holds only the variables to add; `note` is one line saying what was found (or not).
 */

/** @param {NodeJS.ProcessEnv} [env] @returns {VulkanSetup} */
export function findVulkan(env = process.env) {
  if (process.platform !== 'linux') {
    return { kind: 'native', icd: null, env: {}, note: `${process.platform}: Dawn uses the native GPU API, no Vulkan driver needed` };
  }
  const given = env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES;
  if (given) {
    // A loader beside the (first) driver file, as in chromium's folder, must be on the path too.
    const dir = dirname(given.split(delimiter)[0]);
    const ld = withLoader(dir, env.LD_LIBRARY_PATH);
    return { kind: 'explicit', icd: given, env: ld !== env.LD_LIBRARY_PATH ? { LD_LIBRARY_PATH: ld } : {}, note: `Vulkan driver from the environment: ${given}` };
  }
  const dirs = [env.CIRCUITSCOPE_SWIFTSHADER_DIR, ...CHROMIUM_DIRS].filter((d) => !!d);
  for (const dir of dirs) {
    const icd = join(dir, SWIFTSHADER_ICD);
    if (!existsSync(icd)) continue;
    // The ICD names its library relative to itself; the loader may sit beside it (chromium) or
    // be the system's (libvulkan1).
    const ld = withLoader(dir, env.LD_LIBRARY_PATH);
    return {
      kind: 'swiftshader', icd,
      env: { VK_ICD_FILENAMES: icd, ...(ld ? { LD_LIBRARY_PATH: ld } : {}) },
      note: `SwiftShader (CPU Vulkan): ${icd}`,
    };
  }
  for (const dir of SYSTEM_ICD_DIRS) {
    let files = [];
    try { files = readdirSync(dir).filter((f) => f.endsWith('.json')); } catch { continue; }
    if (files.length) return { kind: 'system', icd: join(dir, files[0]), env: {}, note: `system Vulkan drivers in ${dir}: ${files.join(', ')}` };
  }
  return {
    kind: 'none', icd: null, env: {},
    note: `no Vulkan driver found (no ${SWIFTSHADER_ICD} in ${CHROMIUM_DIRS.join(', ')}, none in ${SYSTEM_ICD_DIRS.join(', ')}; ` +
      'install Debian\'s chromium, or set VK_ICD_FILENAMES or CIRCUITSCOPE_SWIFTSHADER_DIR)',
  };
}

/**
 * The environment of the WebGPU test processes: the driver's variables plus
 * CIRCUITSCOPE_VULKAN (kind) and CIRCUITSCOPE_VULKAN_NOTE (the one line) for the suite's gate.
 * @param {NodeJS.ProcessEnv} [env] @returns {Record<string, string>}
 */
export function webgpuTestEnv(env = process.env) {
  const v = findVulkan(env);
  return { ...v.env, CIRCUITSCOPE_VULKAN: v.kind, CIRCUITSCOPE_VULKAN_NOTE: v.note };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const extra = webgpuTestEnv();
  const cmd = process.argv.slice(2);
  if (!cmd.length) {
    console.log(extra.CIRCUITSCOPE_VULKAN_NOTE);
    for (const [k, v] of Object.entries(extra)) if (!k.startsWith('CIRCUITSCOPE_')) console.log(`export ${k}=${JSON.stringify(v)}`);
    process.exit(extra.CIRCUITSCOPE_VULKAN === 'none' ? 1 : 0);
  }
  const r = spawnSync(cmd[0], cmd.slice(1), { stdio: 'inherit', env: { ...process.env, ...extra } });
  process.exit(r.status ?? 1);
}
