#!/usr/bin/env node
// Stand-in for the native `solc` CLI, backed by the pinned npm `solc` (solcjs) in ./node_modules.
// It implements only what py-solc-x calls: `--version` and `--standard-json` (JSON on stdin).
// Other flags py-solc-x may pass (--allow-paths, --base-path, ...) are accepted and used only to
// resolve imports that are not already given as source content.
'use strict';

const fs = require('fs');
const path = require('path');

const HERE = __dirname;
const NODE_MODULES = path.join(HERE, 'node_modules');
const solc = require(path.join(NODE_MODULES, 'solc'));

const FLAGS_WITH_VALUE = new Set(['--allow-paths', '--base-path', '--include-path', '--output-dir', '--evm-version']);

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: null, includePaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--version') opts.version = true;
    else if (arg === '--standard-json') opts.standardJson = true;
    else if (FLAGS_WITH_VALUE.has(arg)) {
      const value = argv[++i];
      if (arg === '--base-path') opts.basePath = value;
      if (arg === '--include-path') opts.includePaths.push(value);
    } else if (arg === '--overwrite' || arg === '-') {
      // accepted, no effect here
    } else {
      process.stderr.write(`unrecognised option '${arg}'\n`);
      process.exit(1);
    }
  }
  return opts;
}

function readStdin() {
  return fs.readFileSync(0, 'utf8');
}

// Resolve an import the way `solc --base-path B --include-path node_modules` would, but never
// outside the allowed roots.
function makeImportCallback(opts) {
  const roots = [opts.basePath || HERE, ...opts.includePaths, NODE_MODULES].map((p) => path.resolve(p));
  return function findImports(name) {
    for (const root of roots) {
      const full = path.resolve(root, name);
      if (!full.startsWith(root + path.sep)) continue;
      if (fs.existsSync(full) && fs.statSync(full).isFile()) {
        return { contents: fs.readFileSync(full, 'utf8') };
      }
    }
    return { error: `File not found: ${name}` };
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!opts.standardJson) {
    process.stderr.write('only --version and --standard-json are supported by this shim\n');
    process.exit(1);
  }
  const output = solc.compile(readStdin(), { import: makeImportCallback(opts) });
  process.stdout.write(output);
}

main();
