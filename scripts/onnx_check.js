// Runs the ONNX models that `go run ./scripts/onnx_dump --out DIR` wrote in
// onnxruntime (the npm package onnxruntime-node) on the same inputs, and
// compares the outputs with evoprune's. The error of a model is
// max|ort - evoprune| / max|evoprune|; any error above the tolerance, or a
// model that fails to load or run, makes the exit status 1.
//
//   node scripts/onnx_check.js DIR [--tol 1e-4]
//
// NODE_PATH (or a node_modules folder up the tree) must reach
// onnxruntime-node; scripts/onnx_check.sh arranges that.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

function readFloats(file) {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

async function main() {
  const args = process.argv.slice(2);
  const dir = args[0];
  let tol = 1e-4;
  const t = args.indexOf('--tol');
  if (t >= 0) tol = Number(args[t + 1]);
  if (!dir) {
    console.error('usage: node scripts/onnx_check.js DIR [--tol 1e-4]');
    process.exit(2);
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  let failed = 0;
  console.log(`onnxruntime-node ${require('onnxruntime-node/package.json').version}, tolerance ${tol}`);
  console.log('model'.padEnd(24) + 'KiB'.padStart(7) + '  output'.padEnd(14) + 'max rel err'.padStart(14) + '  result');
  for (const m of manifest) {
    let err, kib = '?', status;
    try {
      const session = await ort.InferenceSession.create(path.join(dir, m.onnx));
      const x = new ort.Tensor('float32', readFloats(path.join(dir, m.input)), m.input_shape);
      const res = await session.run({ [session.inputNames[0]]: x });
      const y = res[session.outputNames[0]];
      const want = readFloats(path.join(dir, m.output));
      if (y.dims.join(',') !== m.output_shape.join(',')) throw new Error(`output dims ${y.dims} want ${m.output_shape}`);
      let d = 0, s = 0;
      for (let i = 0; i < want.length; i++) {
        d = Math.max(d, Math.abs(y.data[i] - want[i]));
        s = Math.max(s, Math.abs(want[i]));
      }
      err = d / Math.max(s, 1e-30);
      status = err <= tol ? 'ok' : 'FAIL';
      kib = String(Math.round(fs.statSync(path.join(dir, m.onnx)).size / 1024));
    } catch (e) {
      status = 'ERROR ' + e.message;
    }
    if (status !== 'ok') failed++;
    console.log(m.name.padEnd(24) + kib.padStart(7) + ('  [' + m.output_shape.join(',') + ']').padEnd(14) +
      (err === undefined ? '-' : err.toExponential(2)).padStart(14) + '  ' + status);
  }
  console.log(`${manifest.length - failed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { console.error(e); process.exit(1); });
