#!/usr/bin/env node
// Cosine similarity between two output folders in dipoorlet-infer's layout
// (<dir>/<output name>/<i>.bin, raw float32), for samples 0..N-1:
//
//   node bench/output_cosine.js DIR_A DIR_B N
//
// Prints one line per output folder of DIR_A:
//   <output> cosine <over all samples> mean_sample_cosine <mean of per-sample cosines> min_sample_cosine <x>
//            sqnr_db <10 log10(sum a^2 / sum (a - b)^2) over all samples>
// (the cosine over all samples weighs each value equally; the per-sample ones show spread;
// SQNR takes DIR_A as the signal and the difference as the noise).
// An output X of DIR_A is compared with X_dq of DIR_B when DIR_B has no X: platforms that
// quantize the network outputs rename them so (docs/spec.md 7).
'use strict';

const fs = require('fs');
const path = require('path');

function fail(msg) {
  process.stderr.write(`output_cosine.js: ${msg}\n`);
  process.exit(1);
}

const [a, b, nArg] = process.argv.slice(2);
const n = Number(nArg);
if (!a || !b || !Number.isInteger(n) || n < 1) fail('usage: output_cosine.js DIR_A DIR_B N');

function floats(file) {
  if (!fs.existsSync(file)) fail(`${file} is missing`);
  const buf = fs.readFileSync(file);
  return new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
}

const outputs = fs.readdirSync(a).filter((d) => fs.statSync(path.join(a, d)).isDirectory()).sort();
if (outputs.length === 0) fail(`${a} holds no output folders`);
for (const out of outputs) {
  const outB = fs.existsSync(path.join(b, out)) || !fs.existsSync(path.join(b, `${out}_dq`)) ? out : `${out}_dq`;
  let dot = 0, na = 0, nb = 0, sum = 0, min = Infinity, noise = 0;
  for (let i = 0; i < n; ++i) {
    const x = floats(path.join(a, out, `${i}.bin`));
    const y = floats(path.join(b, outB, `${i}.bin`));
    if (x.length !== y.length) fail(`${out}/${i}.bin: ${x.length} values in ${a}, ${y.length} in ${b}/${outB}`);
    let d = 0, sa = 0, sb = 0;
    for (let k = 0; k < x.length; ++k) {
      d += x[k] * y[k];
      sa += x[k] * x[k];
      sb += y[k] * y[k];
      noise += (x[k] - y[k]) * (x[k] - y[k]);
    }
    // An all-zero sample on one side only (e.g. a quantized map that rounds to 0) has cosine 0.
    const c = sa === 0 || sb === 0 ? (sa === sb ? 1 : 0) : d / Math.sqrt(sa * sb);
    sum += c;
    min = Math.min(min, c);
    dot += d;
    na += sa;
    nb += sb;
  }
  const cos = na === 0 && nb === 0 ? 1 : dot / Math.sqrt(na * nb);
  const sqnr = noise === 0 ? Infinity : 10 * Math.log10(na / noise);
  console.log(`${out} cosine ${cos.toFixed(6)} mean_sample_cosine ${(sum / n).toFixed(6)} ` +
              `min_sample_cosine ${min.toFixed(6)} sqnr_db ${sqnr.toFixed(2)}`);
}
