// Compares the logits of a quantized model with the FP32 model's, sample by sample:
//   node bench/logits_compare.js FP_DIR Q_DIR N
// (each DIR holds logits/<i>.bin, float32, as dipoorlet-infer writes them). Prints
// "SQNR dB / agree %": 10 log10(sum x^2 / sum (x - y)^2) over all samples, and the share of
// samples whose arg-max (top-1 class) is the FP32 one. A paired measure, finer than top-1
// accuracy: docs/benchmarks.md, "Low-bit accuracy".
'use strict';
const fs = require('fs');
const [fp, q, n] = [process.argv[2], process.argv[3], Number(process.argv[4])];
if (!fp || !q || !(n > 0)) {
  console.error('usage: logits_compare.js FP_DIR Q_DIR N');
  process.exit(2);
}
const floats = (p) => {
  const b = fs.readFileSync(p);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
};
const argmax = (v) => v.reduce((best, x, i) => (x > v[best] ? i : best), 0);
let signal = 0, noise = 0, agree = 0;
for (let i = 0; i < n; i++) {
  const x = floats(`${fp}/logits/${i}.bin`), y = floats(`${q}/logits/${i}.bin`);
  if (x.length !== y.length) throw new Error(`sample ${i}: ${x.length} FP32 logits, ${y.length} quantized`);
  for (let k = 0; k < x.length; k++) {
    signal += x[k] * x[k];
    noise += (x[k] - y[k]) ** 2;
  }
  agree += argmax(x) === argmax(y);
}
console.log(`${(10 * Math.log10(signal / noise)).toFixed(2)} dB / ${((100 * agree) / n).toFixed(2)} %`);
