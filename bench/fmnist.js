#!/usr/bin/env node
// Fashion-MNIST for the low-bit bench (bench/run_lowbit_bench.sh), from the Debian package
// dataset-fashion-mnist (IDX files under /usr/share/datasets/fashion-mnist, or $FMNIST):
//
//   node bench/fmnist.js samples SPLIT FIRST COUNT OUT_DIR
//       images FIRST..FIRST+COUNT-1 of SPLIT (train | t10k), preprocessed as the fmnist-dev
//       models expect ((x/255 - 0.2860) / 0.3530, [1,1,28,28] float32), written as
//       OUT_DIR/input/<i>.bin, i from 0 (dipoorlet's -I layout, docs/spec.md 3)
//   (with RAW=1 in the environment: pixel values 0..255, as the MNIST model of
//   ../shared/models/mnist-wonnx expects; FMNIST=../shared/data/mnist-test reads MNIST)
//   node bench/fmnist.js top1 SPLIT FIRST COUNT LOGITS_DIR
//       top-1 accuracy (percent) of LOGITS_DIR/<i>.bin ([1,10] float32, dipoorlet-infer's
//       output) against the labels of images FIRST..FIRST+COUNT-1 of SPLIT
'use strict';

const fs = require('fs');
const path = require('path');
const zlib = require('zlib');

const DIR = process.env.FMNIST || '/usr/share/datasets/fashion-mnist';

function fail(msg) {
  process.stderr.write(`fmnist.js: ${msg}\n`);
  process.exit(1);
}

function idx(file, header) {
  const p = path.join(DIR, file);
  if (!fs.existsSync(p)) fail(`${p} is missing (Debian package dataset-fashion-mnist)`);
  return zlib.gunzipSync(fs.readFileSync(p)).subarray(header);
}

const [cmd, split, firstArg, countArg, dir] = process.argv.slice(2);
const first = Number(firstArg), count = Number(countArg);
if (!['samples', 'top1'].includes(cmd) || !['train', 't10k'].includes(split) || !Number.isInteger(first) ||
    !Number.isInteger(count) || first < 0 || count < 1 || !dir) {
  fail('usage: fmnist.js samples|top1 train|t10k FIRST COUNT DIR');
}

if (cmd === 'samples') {
  const img = idx(`${split}-images-idx3-ubyte.gz`, 16);
  if ((first + count) * 784 > img.length) fail(`${split} has only ${img.length / 784} images`);
  fs.mkdirSync(path.join(dir, 'input'), { recursive: true });
  const x = new Float32Array(784);
  for (let i = 0; i < count; ++i) {
    const o = (first + i) * 784;
    for (let k = 0; k < 784; ++k) x[k] = process.env.RAW === '1' ? img[o + k] : (img[o + k] / 255 - 0.2860) / 0.3530;
    fs.writeFileSync(path.join(dir, 'input', `${i}.bin`), Buffer.from(x.buffer));
  }
} else {
  const labels = idx(`${split}-labels-idx1-ubyte.gz`, 8);
  if (first + count > labels.length) fail(`${split} has only ${labels.length} labels`);
  let right = 0;
  for (let i = 0; i < count; ++i) {
    const buf = fs.readFileSync(path.join(dir, `${i}.bin`));
    const y = new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4);
    let best = 0;
    for (let k = 1; k < y.length; ++k) if (y[k] > y[best]) best = k;
    right += best === labels[first + i];
  }
  console.log((100 * right / count).toFixed(2));
}
