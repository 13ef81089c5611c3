#!/usr/bin/env node
// Bundles the web app (web/app.ts + the SDK + socket.io-client, web/style.css) with esbuild into
// web/dist/: index.html (no-cache) and assets/ with content-hashed names (cached for a year by
// server/gateway/web-app.ts). Usage: node scripts/build-web.mjs [--dev]  (--dev: no minification).
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WEB = join(ROOT, 'web');

/** Builds into `outDir` (default web/dist); resolves with the paths it wrote, relative to the repo. */
export async function buildWeb({ outDir = join(WEB, 'dist'), minify = true } = {}) {
  const assets = join(outDir, 'assets');
  await rm(outDir, { recursive: true, force: true });
  await mkdir(assets, { recursive: true });

  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { app: join(WEB, 'app.ts'), style: join(WEB, 'style.css') },
    outdir: assets,
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    minify,
    sourcemap: true,
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });

  const byEntry = new Map();
  for (const [output, meta] of Object.entries(result.metafile.outputs)) {
    if (meta.entryPoint) byEntry.set(join(ROOT, meta.entryPoint), '/assets/' + relative(assets, join(ROOT, output)));
  }
  const script = byEntry.get(join(WEB, 'app.ts'));
  const style = byEntry.get(join(WEB, 'style.css'));
  if (!script || !style) throw new Error('build-web: esbuild produced no app or style bundle');

  const template = await readFile(join(WEB, 'index.html'), 'utf8');
  const html = replaceOnce(replaceOnce(template, '/assets/app.js', script), '/assets/style.css', style);
  await writeFile(join(outDir, 'index.html'), html);
  await copyFile(join(WEB, 'favicon.svg'), join(assets, 'favicon.svg'));
  return [join(outDir, 'index.html'), ...Object.keys(result.metafile.outputs).map((o) => join(ROOT, o))].map((p) => relative(ROOT, p));
}

function replaceOnce(text, from, to) {
  if (!text.includes(from)) throw new Error(`build-web: web/index.html must reference ${from}`);
  return text.replace(from, to);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = Date.now();
  const written = await buildWeb({ minify: !process.argv.includes('--dev') });
  console.log(`build-web: ${written.length} files in ${Date.now() - started} ms\n  ${written.join('\n  ')}`);
}
