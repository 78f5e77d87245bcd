#!/usr/bin/env node
// Runs an ONNX model with ONNX Runtime (onnxruntime-node) on inputs in the calibration
// layout and writes every output like dipoorlet-infer does, so the two can be compared
// file by file (parity tests) and timed the same way (benchmark).
//
//   node tests/tools/ort_run.js -M model.onnx -I in_dir -N count -O out_dir
//        [--threads T] [--batch B] [--repeat R] [--input_shape NAME:D0,D1,...]
//        [--opt_level disabled|basic|extended|all]
//
// Inputs:  <in_dir>/<input name>/<i>.bin, raw little-endian data of the input's full shape
//          (batch included). A symbolic batch dimension reads one sample per file; one other
//          unknown dimension is taken from the file size; --input_shape fixes a shape.
// Outputs: <out_dir>/<output name, '/' -> '_'>/<i>.bin, the raw output of sample i.
// --repeat R: after the first (writing, warm-up) pass over all samples, times R more passes
// (reading the inputs, building the batches and running, like dipoorlet-infer) and prints
// "median_ms_per_sample <x>": the median over passes of pass time / number of samples.
// --opt_level: ONNX Runtime's graph optimization level (default all). With `disabled` every
// node runs as the ONNX operator definition says; from `basic` on, ORT rewrites the graph
// (constant folding, fusions; on QDQ models, DequantizeLinear -> op -> QuantizeLinear groups
// become its integer kernels such as QLinearConv, which round differently by design).
// Environment: ORT_PROFILE=PREFIX writes ONNX Runtime's per-node profile to PREFIX_<date>.json
// (for comparing its operators with ours: docs/benchmarks.md, road segmentation).
'use strict';

const fs = require('fs');
const path = require('path');

function usage(msg) {
  if (msg) process.stderr.write(`error: ${msg}\n`);
  process.stderr.write(
    'usage: ort_run.js -M model -I input_dir -N count -O output_dir [--threads T] [--batch B] [--repeat R] ' +
      '[--input_shape NAME:D0,D1,...] [--opt_level disabled|basic|extended|all]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const a = { threads: 1, batch: 1, repeat: 0, shapes: {}, optLevel: 'all' };
  const names = {
    '-M': 'model', '--model': 'model', '-I': 'input', '--input_dir': 'input', '-N': 'count', '--data_num': 'count',
    '-O': 'output', '--output_dir': 'output', '--threads': 'threads', '--batch': 'batch', '--repeat': 'repeat',
    '--input_shape': 'shape', '--opt_level': 'optLevel',
  };
  for (let i = 0; i < argv.length; ++i) {
    let flag = argv[i];
    let value;
    const eq = flag.indexOf('=');
    if (flag.startsWith('--') && eq > 0) {
      value = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    }
    const key = names[flag];
    if (!key) usage(`unknown argument '${flag}'`);
    if (value === undefined) {
      if (i + 1 >= argv.length) usage(`${flag} needs a value`);
      value = argv[++i];
    }
    if (key === 'shape') {
      const colon = value.lastIndexOf(':');
      if (colon <= 0) usage(`--input_shape '${value}' is not NAME:D0,D1,...`);
      const dims = value.slice(colon + 1).split(',').map(Number);
      if (dims.some((d) => !Number.isInteger(d) || d <= 0)) usage(`--input_shape '${value}': bad dimension`);
      a.shapes[value.slice(0, colon)] = dims;
    } else if (key === 'optLevel') {
      if (!['disabled', 'basic', 'extended', 'all'].includes(value))
        usage(`--opt_level '${value}' is not one of disabled, basic, extended, all`);
      a.optLevel = value;
    } else if (['count', 'threads', 'batch', 'repeat'].includes(key)) {
      const n = Number(value);
      if (!Number.isInteger(n) || n < (key === 'repeat' ? 0 : 1)) usage(`${flag} '${value}' is not a valid number`);
      a[key] = n;
    } else {
      a[key] = value;
    }
  }
  for (const k of ['model', 'input', 'count', 'output']) if (a[k] === undefined) usage(`missing --${k}`);
  return a;
}

const TYPES = {
  float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array, int16: Int16Array,
  int8: Int8Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array,
  bool: Uint8Array,
};

function loadOrt() {
  try {
    return require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    process.stderr.write(`error: onnxruntime-node is not installed in ${__dirname}/node_modules ` +
                         `(run scripts/install_deps.sh): ${e.message}\n`);
    process.exit(3);
  }
}

const safeName = (n) => n.replace(/\//g, '_');
const samplePath = (dir, input, i) => path.join(dir, safeName(input), `${i}.bin`);
const numel = (dims) => dims.reduce((p, d) => p * d, 1);

// Resolves every input's per-file shape as dipoorlet-infer does.
function resolveSpecs(session, args) {
  const meta = session.inputMetadata;
  return session.inputNames.map((name, k) => {
    const m = Array.isArray(meta) ? meta[k] : meta[name];
    const type = (m && m.type) || 'float32';
    if (!TYPES[type]) throw new Error(`input '${name}' has element type ${type}, which this script cannot feed`);
    let dims = (m && m.shape ? m.shape : []).map((d) => (typeof d === 'number' && d > 0 ? d : -1));
    if (args.shapes[name]) dims = args.shapes[name].slice();
    if (dims.length > 0 && dims[0] < 0) dims[0] = 1;
    const unknown = dims.filter((d) => d < 0).length;
    if (unknown > 1) throw new Error(`input '${name}' has several unknown dimensions: give --input_shape`);
    const esz = TYPES[type].BYTES_PER_ELEMENT;
    for (let i = 0; i < args.count; ++i) {
      const p = samplePath(args.input, name, i);
      if (!fs.existsSync(p)) throw new Error(`sample file ${p} is missing`);
      const size = fs.statSync(p).size;
      if (unknown === 1 && i === 0) {
        const known = numel(dims.map((d) => (d < 0 ? 1 : d))) * esz;
        if (size % known !== 0) throw new Error(`sample file ${p} has ${size} bytes, not a multiple of ${known}`);
        dims = dims.map((d) => (d < 0 ? size / known : d));
      }
      const want = numel(dims) * esz;
      if (size !== want) throw new Error(`sample file ${p} has ${size} bytes, expected ${want} (shape [${dims}])`);
    }
    return { name, type, dims };
  });
}

function readBatch(ort, dir, spec, first, n) {
  const Arr = TYPES[spec.type];
  const per = numel(spec.dims);
  const buf = Buffer.alloc(per * n * Arr.BYTES_PER_ELEMENT);
  for (let k = 0; k < n; ++k) {
    const data = fs.readFileSync(samplePath(dir, spec.name, first + k));
    data.copy(buf, k * data.length);
  }
  const arr = new Arr(buf.buffer, buf.byteOffset, per * n);
  const dims = spec.dims.slice();
  dims[0] *= n;
  return new ort.Tensor(spec.type, arr, dims);
}

function writeOutputs(outDir, outputs, first, n) {
  for (const [name, t] of Object.entries(outputs)) {
    const dir = path.join(outDir, safeName(name));
    fs.mkdirSync(dir, { recursive: true });
    const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (n > 1 && (t.dims.length === 0 || t.dims[0] % n !== 0))
      throw new Error(`output '${name}' of shape [${t.dims}] does not have the batch as its first dimension`);
    const rowBytes = bytes.length / n;
    for (let k = 0; k < n; ++k) {
      const file = path.join(dir, `${first + k}.bin`);
      const tmp = `${file}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, bytes.subarray(k * rowBytes, (k + 1) * rowBytes));
      fs.renameSync(tmp, file);
    }
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(args.model, {
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: args.optLevel,
    executionMode: 'sequential',
    // ORT_PROFILE=PREFIX: ONNX Runtime's own per-node profile (PREFIX_<date>.json), for
    // comparing its operators with ours (bench/node_profile.sh).
    ...(process.env.ORT_PROFILE ? { enableProfiling: true, profileFilePrefix: process.env.ORT_PROFILE } : {}),
  });
  const specs = resolveSpecs(session, args);
  fs.mkdirSync(args.output, { recursive: true });

  const runAll = async (write) => {
    for (let first = 0; first < args.count; first += args.batch) {
      const n = Math.min(args.batch, args.count - first);
      const feeds = {};
      for (const s of specs) feeds[s.name] = readBatch(ort, args.input, s, first, n);
      const outs = await session.run(feeds);
      if (write) writeOutputs(args.output, outs, first, n);
    }
  };
  await runAll(true);  // also the warm-up for timing
  if (args.repeat > 0) {
    const ms = [];
    for (let r = 0; r < args.repeat; ++r) {
      const t0 = process.hrtime.bigint();
      await runAll(false);
      const t1 = process.hrtime.bigint();
      ms.push(Number(t1 - t0) / 1e6 / args.count);
    }
    ms.sort((x, y) => x - y);
    console.log(`median_ms_per_sample ${ms[Math.floor(ms.length / 2)]}`);
  }
  if (process.env.ORT_PROFILE) session.endProfiling();
  await session.release();
}

main().catch((e) => {
  process.stderr.write(`error: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
