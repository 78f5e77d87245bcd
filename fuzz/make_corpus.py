#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into OUT/<target>/ (docs/fuzzing.md).

model:   every conformance model of Debian's libonnx-testdata, the shared models under 1 MB
         (../shared/models beside the checkout), and the hand-written edge cases of
         fuzz/seeds/model/*.txtpb encoded with protoc;
image:   the small photographs of ../shared/data and tiny images written here in every format
         stb decodes (PNG gray/RGB/RGBA/16-bit/palette, BMP 24/8-bit, PGM/PPM, TGA, GIF, HDR);
samples: the range-file and sample-folder selectors with a few payloads;
quant:   deterministic pseudo-random byte strings (the target builds its graph from them);
config:  --quant_config files in YAML and JSON naming the target's model (every section and
         key, globs, fixed ranges) and a few broken ones.
Only the standard library; absent sources are skipped with a line saying so.
"""
import pathlib, random, shutil, struct, subprocess, sys, zlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
TESTDATA = pathlib.Path("/usr/share/libonnx-testdata/data/node")
ONNX_PROTO = pathlib.Path("/usr/include/onnx/onnx.proto")


def model_seeds(out):
    n = 0
    if TESTDATA.is_dir():
        for m in sorted(TESTDATA.glob("*/model.onnx")):
            shutil.copy(m, out / (m.parent.name + ".onnx"))
            n += 1
    else:
        print(f"skipped: {TESTDATA} is absent (apt-get install libonnx-testdata)")
    models = SHARED / "models"
    if models.is_dir():
        for m in sorted(models.glob("*/*.onnx")):
            if m.stat().st_size < 1 << 20:
                shutil.copy(m, out / ("shared_" + m.name))
                n += 1
    else:
        print(f"skipped: {models} is absent")
    for t in sorted((ROOT / "fuzz" / "seeds" / "model").glob("*.txtpb")):
        with open(t, "rb") as f:
            data = subprocess.run(["protoc", "--encode=onnx.ModelProto", f"-I{ONNX_PROTO.parent}", str(ONNX_PROTO)],
                                  stdin=f, capture_output=True, check=True).stdout
        (out / (t.stem + ".onnx")).write_bytes(data)
        n += 1
    return n


def png(w, h, color_type, depth, rows, palette=None):
    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    raw = b"".join(b"\0" + r for r in rows)
    body = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
    if palette:
        body += chunk(b"PLTE", palette)
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def bmp(w, h, bits):
    row = ((w * bits // 8) + 3) & ~3
    pal = b"".join(bytes([i, i, i, 0]) for i in range(256)) if bits == 8 else b""
    pixels = bytes((x * 37 + y * 11) & 255 for y in range(h) for x in range(row))
    off = 14 + 40 + len(pal)
    return (b"BM" + struct.pack("<IHHI", off + len(pixels), 0, 0, off)
            + struct.pack("<IiiHHIIiiII", 40, w, h, 1, bits, 0, len(pixels), 2835, 2835, 256 if bits == 8 else 0, 0)
            + pal + pixels)


def image_seeds(out):
    w, h = 5, 3
    g = [bytes((x * 50 + y * 20) & 255 for x in range(w)) for y in range(h)]
    rgb = [bytes((x * 50 + y * 20 + c * 70) & 255 for x in range(w) for c in range(3)) for y in range(h)]
    rgba = [bytes((x * 50 + c * 60) & 255 for x in range(w) for c in range(4)) for y in range(h)]
    g16 = [b"".join(struct.pack(">H", x * 9000 + y) for x in range(w)) for y in range(h)]
    pal = [bytes(x % 4 for x in range(w)) for y in range(h)]
    seeds = {
        "gray.png": png(w, h, 0, 8, g), "rgb.png": png(w, h, 2, 8, rgb), "rgba.png": png(w, h, 6, 8, rgba),
        "gray16.png": png(w, h, 0, 16, g16),
        "palette.png": png(w, h, 3, 8, pal, bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])),
        "rgb24.bmp": bmp(w, h, 24), "gray8.bmp": bmp(w, h, 8),
        "gray.pgm": b"P5 5 3 255\n" + b"".join(g), "rgb.ppm": b"P6\n5 3\n255\n" + b"".join(rgb),
        "rgb.tga": struct.pack("<BBBHHBHHHHBB", 0, 0, 2, 0, 0, 0, 0, 0, w, h, 24, 0) + b"".join(rgb),
        "one.gif": bytes.fromhex("474946383961010001008000" "00ffffff000000" "21f90401000000002c00000000010001000002024401003b"),
        "flat.hdr": b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 3 +X 5\n" + bytes([128, 64, 32, 129]) * (w * h),
    }
    for name, data in seeds.items():
        (out / name).write_bytes(data)
    n = len(seeds)
    photos = SHARED / "data" / "imagenet-samples-200"
    if photos.is_dir():
        for p in sorted(photos.iterdir(), key=lambda p: p.stat().st_size)[:4]:
            if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.stat().st_size < 16384:
                shutil.copy(p, out / p.name)
                n += 1
    return n


def sample_seeds(out):
    seeds = [b"\x00" + b'{"x": [-1.0, 2.5], "y": [0, 0]}', b"\x01" + b'{"w": [[-1, 0], [1, 2]], "b": [[0], [1]]}',
             b"\x00" + b'{"x": [1e40, NaN]}', b"\x02\x00\x00\x00\x01\x00" + bytes(range(64)),
             b"\x03\x01\x01\x02\x00\x01\x02\x00" + b"\x00\x00\xc0\x7f" * 8]
    for i, s in enumerate(seeds):
        (out / f"seed{i}").write_bytes(s)
    return len(seeds)


def quant_seeds(out):
    rng = random.Random(17)
    for i in range(32):
        (out / f"seed{i}").write_bytes(bytes(rng.randrange(256) for _ in range(64 + 16 * i)))
    return 32


def config_seeds(out):
    seeds = [
        "op_types:\n  Gemm: {w_bits: 8, a_bits: 8}\n  Conv: {per_channel: false}\n",
        "patterns:\n  \"dw/*\": {a_bits: 6, symmetric: false}\n  \"*/gemm\": {skip: true}\n  \"[cf]*\": {w_bits: 3}\n",
        "nodes:\n  conv1: {w_bits: 2, a_bits: 4}\n  head/matmul: {symmetric: false, per_channel: true}\n",
        "tensors:\n  x: {range: [0, 1], bits: 8}\n  r1: {bits: 5, symmetric: false}\n  conv1.weight: {bits: 4}\n",
        '{"op_types": {"MatMul": {"w_bits": 4}}, "nodes": {"add/out": {"skip": true}},'
        ' "tensors": {"g": {"range": [-2.5, 0.5]}}}',
        "tensors:\n  f: {range: [1, 1]}\n  p: {range: [-1e-30, 1e-30]}\n",
        "op_types:\n  NoSuchOp: {w_bits: 9}\n",
        "nodes: [1, 2]\n",
        "{unclosed: [\n",
    ]
    for i, s in enumerate(seeds):
        (out / f"seed{i}.yaml").write_text(s)
    return len(seeds)


def main():
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "build-fuzz" / "corpus")
    for name, make in (("model", model_seeds), ("image", image_seeds), ("samples", sample_seeds), ("quant", quant_seeds),
                       ("config", config_seeds)):
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        print(f"{d}: {make(d)} seeds")


if __name__ == "__main__":
    main()
