/**
 * torch .pt: checkpoints built byte by byte here (a pickle writer and a zip writer, no Python)
 * exercise views (offsets, transposed strides, shared storages), storage dtypes, protocol 2 and
 * protocol 4 opcodes, nested state dicts and deflated entries; malicious and malformed files
 * must fail naming the file and what is wrong.
 */
import { describe, expect, it } from 'vitest';
import { deflateRawSync } from 'node:zlib';
import { parseTorchPt, isAllowedGlobal } from '../../src/model/loaders/torch-pt.js';

// ---------------------------------------------------------------------------------------------
// A minimal pickle writer

class Pickle {
  private b: number[] = [];
  constructor(private readonly proto4 = false) {}
  op(...xs: number[]) { this.b.push(...xs); return this; }
  proto(v = this.proto4 ? 4 : 2) { return this.op(0x80, v); }
  private u32(n: number) { return this.op(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff); }
  str(s: string) {
    const u = [...new TextEncoder().encode(s)];
    if (this.proto4 && u.length < 256) { this.op(0x8c, u.length, ...u); return this.op(0x94); } // SHORT_BINUNICODE, MEMOIZE
    this.op(0x58); this.u32(u.length); return this.op(...u); // BINUNICODE
  }
  int(n: number) {
    if (n >= 0 && n < 256) return this.op(0x4b, n); // BININT1
    if (n >= 0 && n < 65536) return this.op(0x4d, n & 0xff, n >> 8); // BININT2
    this.op(0x4a); return this.u32(n); // BININT
  }
  global(module: string, name: string) {
    if (this.proto4) { this.str(module); this.str(name); return this.op(0x93); } // STACK_GLOBAL
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`)); // GLOBAL
  }
  mark() { return this.op(0x28); }
  tuple() { return this.op(0x74); }
  ints(xs: number[]) { this.mark(); xs.forEach((x) => this.int(x)); return this.tuple(); }
  reduce() { return this.op(0x52); }
  stop() { return this.op(0x2e); }
  bytes() { return Uint8Array.from(this.b); }
}

interface TensorSpec {
  name: string;
  storage: string; // FloatStorage, HalfStorage, ...
  key: string;
  numel: number;
  offset?: number;
  size: number[];
  stride?: number[];
  parameter?: boolean;
}

function contiguous(size: number[]): number[] {
  const s = new Array<number>(size.length);
  for (let d = size.length - 1, acc = 1; d >= 0; d--) { s[d] = acc; acc *= size[d]; }
  return s;
}

/** The pickle torch.save writes for an OrderedDict of tensors (optionally nested under a key). */
function statePickle(tensors: TensorSpec[], opts: { proto4?: boolean; nestUnder?: string } = {}): Uint8Array {
  const p = new Pickle(opts.proto4).proto();
  if (opts.proto4) p.op(0x95, 0, 0, 0, 0, 0, 0, 0, 0); // FRAME (length ignored)
  if (opts.nestUnder) { p.op(0x7d); p.str(opts.nestUnder); } // EMPTY_DICT, key
  p.global('collections', 'OrderedDict').op(0x29).reduce(); // OrderedDict()
  p.op(0x71, 250); // BINPUT 250 (clear of the MEMOIZE indices of protocol 4)
  p.mark();
  for (const t of tensors) {
    p.str(t.name);
    if (t.parameter) p.global('torch._utils', '_rebuild_parameter').mark();
    p.global('torch._utils', '_rebuild_tensor_v2');
    p.mark();
    p.mark().str('storage').global('torch', t.storage).str(t.key).str('cpu').int(t.numel).tuple();
    p.op(0x51); // BINPERSID
    p.int(t.offset ?? 0).ints(t.size).ints(t.stride ?? contiguous(t.size));
    p.op(0x89); // NEWFALSE
    p.op(0x68, 250); // BINGET 250: an OrderedDict for backward hooks (reused object, fine here)
    p.tuple().reduce();
    if (t.parameter) p.op(0x88).op(0x68, 250).tuple().reduce(); // (tensor, True, hooks) -> _rebuild_parameter
  }
  p.op(0x75); // SETITEMS
  // the _metadata attribute torch attaches: BUILD with a dict state
  p.op(0x7d).str('_metadata').global('collections', 'OrderedDict').op(0x29).reduce().op(0x73).op(0x62);
  if (opts.nestUnder) p.op(0x73); // SETITEM into the outer dict
  return p.stop().bytes();
}

// ---------------------------------------------------------------------------------------------
// A minimal zip writer (stored or deflated entries)

function crc32(b: Uint8Array): number {
  let c = ~0;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function zip(entries: [string, Uint8Array][], deflate: ReadonlySet<string> = new Set()): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let off = 0;
  for (const [name, data] of entries) {
    const nm = new TextEncoder().encode(name);
    const method = deflate.has(name) ? 8 : 0;
    const body = method === 8 ? new Uint8Array(deflateRawSync(data)) : data;
    const crc = crc32(data);
    const lh = new DataView(new ArrayBuffer(30));
    lh.setUint32(0, 0x04034b50, true); lh.setUint16(4, 20, true); lh.setUint16(8, method, true);
    lh.setUint32(14, crc, true); lh.setUint32(18, body.length, true); lh.setUint32(22, data.length, true);
    lh.setUint16(26, nm.length, true);
    const cd = new DataView(new ArrayBuffer(46));
    cd.setUint32(0, 0x02014b50, true); cd.setUint16(4, 20, true); cd.setUint16(6, 20, true); cd.setUint16(10, method, true);
    cd.setUint32(16, crc, true); cd.setUint32(20, body.length, true); cd.setUint32(24, data.length, true);
    cd.setUint16(28, nm.length, true); cd.setUint32(42, off, true);
    chunks.push(new Uint8Array(lh.buffer), nm, body);
    central.push(new Uint8Array(cd.buffer), nm);
    off += 30 + nm.length + body.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = new DataView(new ArrayBuffer(22));
  eocd.setUint32(0, 0x06054b50, true); eocd.setUint16(8, entries.length, true); eocd.setUint16(10, entries.length, true);
  eocd.setUint32(12, cdSize, true); eocd.setUint32(16, off, true);
  const all = [...chunks, ...central, new Uint8Array(eocd.buffer)];
  const out = new Uint8Array(all.reduce((a, c) => a + c.length, 0));
  let p = 0;
  for (const c of all) { out.set(c, p); p += c.length; }
  return out;
}

function checkpoint(pkl: Uint8Array, storages: Record<string, Uint8Array>, opts: { drop?: string; deflate?: boolean } = {}): Uint8Array {
  const entries: [string, Uint8Array][] = [['ckpt/data.pkl', pkl]];
  for (const [k, v] of Object.entries(storages)) if (k !== opts.drop) entries.push([`ckpt/data/${k}`, v]);
  entries.push(['ckpt/version', new TextEncoder().encode('3\n')], ['ckpt/byteorder', new TextEncoder().encode('little')]);
  return zip(entries, opts.deflate ? new Set(entries.map(([n]) => n)) : new Set());
}

const f32 = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);
const u16 = (xs: number[]) => new Uint8Array(Uint16Array.from(xs).buffer);

const TENSORS: TensorSpec[] = [
  { name: 'a', storage: 'FloatStorage', key: '0', numel: 6, size: [2, 3] },
  { name: 'a.T', storage: 'FloatStorage', key: '0', numel: 6, size: [3, 2], stride: [1, 3] },
  { name: 'a.col2', storage: 'FloatStorage', key: '0', numel: 6, offset: 2, size: [2], stride: [3] },
  { name: 'a.bcast', storage: 'FloatStorage', key: '0', numel: 6, offset: 1, size: [2, 2], stride: [0, 3] },
  { name: 'half', storage: 'HalfStorage', key: '1', numel: 3, size: [3] },
  { name: 'bf', storage: 'BFloat16Storage', key: '2', numel: 2, size: [1, 2] },
  { name: 'dbl', storage: 'DoubleStorage', key: '3', numel: 1, size: [1] },
  { name: 'blocks.0.attn.IGNORE', storage: 'FloatStorage', key: '4', numel: 1, size: [] },
  { name: 'blocks.0.attn.mask', storage: 'BoolStorage', key: '5', numel: 4, size: [2, 2] },
  { name: 'steps', storage: 'LongStorage', key: '6', numel: 2, size: [2] },
  { name: 'param', storage: 'FloatStorage', key: '7', numel: 2, size: [2], parameter: true },
];
const STORAGES: Record<string, Uint8Array> = {
  0: f32([0, 1, 2, 3, 4, 5]),
  1: u16([0x3c00, 0xc000, 0x3555]),
  2: u16([0x3f80, 0x4049]),
  3: new Uint8Array(Float64Array.from([0.1]).buffer),
  4: f32([-1e5]),
  5: Uint8Array.from([1, 0, 1, 1]),
  6: new Uint8Array(BigInt64Array.from([-1n, 1n << 40n]).buffer),
  7: f32([0.25, -0.75]),
};

function expectContents(bytes: Uint8Array) {
  const r = parseTorchPt(bytes, 'hand.pt');
  const t = (n: string) => { const x = r.tensors.get(n)!; return { shape: x.shape, data: Array.from(x.data) }; };
  expect(t('a')).toEqual({ shape: [2, 3], data: [0, 1, 2, 3, 4, 5] });
  expect(t('a.T')).toEqual({ shape: [3, 2], data: [0, 3, 1, 4, 2, 5] });
  expect(t('a.col2')).toEqual({ shape: [2], data: [2, 5] });
  expect(t('a.bcast')).toEqual({ shape: [2, 2], data: [1, 4, 1, 4] });
  expect(t('half')).toEqual({ shape: [3], data: [1, -2, 0.333251953125] });
  expect(t('bf')).toEqual({ shape: [1, 2], data: [1, 3.140625] });
  expect(t('dbl')).toEqual({ shape: [1], data: [Math.fround(0.1)] });
  expect(t('blocks.0.attn.IGNORE')).toEqual({ shape: [], data: [-1e5] });
  expect(t('param')).toEqual({ shape: [2], data: [0.25, -0.75] });
  expect(r.tensors.get('a')!.data).toBeInstanceOf(Float32Array);
  const mask = r.nonFloat.get('blocks.0.attn.mask')!;
  expect(mask.dtype).toBe('bool');
  expect(Array.from(mask.data as Int32Array)).toEqual([1, 0, 1, 1]);
  expect(Array.from(r.nonFloat.get('steps')!.data as BigInt64Array)).toEqual([-1n, 1n << 40n]);
  expect(r.tensors.has('blocks.0.attn.mask')).toBe(false);
  expect(r.dtypes.get('half')).toBe('float16');
  // views own their data: mutating one leaves the others alone
  r.tensors.get('a.T')!.data[0] = 99;
  expect(r.tensors.get('a')!.data[0]).toBe(0);
}

describe('torch .pt reader', () => {
  it('rebuilds tensors from storages: offsets, strides, shared storages, dtypes, 0-dim, parameters', () => {
    expectContents(checkpoint(statePickle(TENSORS), STORAGES));
  });

  it('reads protocol 4 pickles (FRAME, STACK_GLOBAL, SHORT_BINUNICODE, MEMOIZE)', () => {
    expectContents(checkpoint(statePickle(TENSORS, { proto4: true }), STORAGES));
  });

  it('reads deflated zip entries', () => {
    expectContents(checkpoint(statePickle(TENSORS), STORAGES, { deflate: true }));
  });

  it('finds a state dict nested under state_dict', () => {
    const r = parseTorchPt(checkpoint(statePickle(TENSORS.slice(0, 1), { nestUnder: 'state_dict' }), STORAGES), 'nested.pt');
    expect([...r.tensors.keys()]).toEqual(['a']);
  });

  it('allows only the state-dict globals', () => {
    expect(isAllowedGlobal('collections', 'OrderedDict')).toBe(true);
    expect(isAllowedGlobal('torch._utils', '_rebuild_tensor_v2')).toBe(true);
    expect(isAllowedGlobal('torch', 'HalfStorage')).toBe(true);
    expect(isAllowedGlobal('torch', 'load')).toBe(false);
    expect(isAllowedGlobal('os', 'system')).toBe(false);
    expect(isAllowedGlobal('builtins', 'eval')).toBe(false);
  });
});

describe('torch .pt: refused and malformed files', () => {
  it('refuses a pickle that asks for os.system, before calling anything', () => {
    const evil = new Pickle().proto().global('os', 'system').str('echo pwned').op(0x85).reduce().stop().bytes();
    expect(() => parseTorchPt(checkpoint(evil, {}), './evil.pt')).toThrow("torch-pt: ./evil.pt: refusing global 'os.system'");
  });

  it('refuses arbitrary globals reached through STACK_GLOBAL too', () => {
    const evil = new Pickle(true).proto().global('builtins', 'eval').str('1+1').op(0x85).reduce().stop().bytes();
    expect(() => parseTorchPt(checkpoint(evil, {}), 'evil4.pt')).toThrow("torch-pt: evil4.pt: refusing global 'builtins.eval'");
    const torchLoad = new Pickle().proto().global('torch', 'load').stop().bytes();
    expect(() => parseTorchPt(checkpoint(torchLoad, {}), 'tl.pt')).toThrow("refusing global 'torch.load'");
  });

  it('refuses to call an allowed non-function global and unsupported opcodes', () => {
    const call = new Pickle().proto().global('torch', 'FloatStorage').op(0x29).reduce().stop().bytes();
    expect(() => parseTorchPt(checkpoint(call, {}), 'call.pt')).toThrow("torch-pt: call.pt: refusing to call global 'torch.FloatStorage'");
    const newobj = new Pickle().proto().global('collections', 'OrderedDict').op(0x29).op(0x81).stop().bytes();
    expect(() => parseTorchPt(checkpoint(newobj, {}), 'newobj.pt')).toThrow('torch-pt: newobj.pt: unsupported pickle opcode 0x81');
  });

  it('a truncated zip', () => {
    const good = checkpoint(statePickle(TENSORS), STORAGES);
    expect(() => parseTorchPt(good.subarray(0, good.length - 30), 'cut.pt')).toThrow('torch-pt: cut.pt: zip archive is truncated (no end-of-central-directory record)');
    expect(() => parseTorchPt(good.subarray(0, 10), 'tiny.pt')).toThrow('torch-pt: tiny.pt: file is 10 bytes long, too short for a zip archive');
  });

  it('not a zip, and the legacy pickle format', () => {
    expect(() => parseTorchPt(new TextEncoder().encode('hello, this is not a checkpoint at all'), 'text.pt'))
      .toThrow('torch-pt: text.pt: not a zip archive');
    expect(() => parseTorchPt(Uint8Array.from([0x80, 0x02, 0x8a, 0x0a]), 'old.pt'))
      .toThrow('torch-pt: old.pt: legacy (pre-1.6, non-zip) torch.save format is not supported');
  });

  it('missing data.pkl and missing storage entries', () => {
    expect(() => parseTorchPt(zip([['ckpt/version', Uint8Array.from([0x33])]]), 'nopkl.pt')).toThrow('torch-pt: nopkl.pt: missing data.pkl');
    expect(() => parseTorchPt(checkpoint(statePickle(TENSORS), STORAGES, { drop: '1' }), 'nostorage.pt'))
      .toThrow("torch-pt: nostorage.pt: missing storage entry 'ckpt/data/1' for tensor 'half'");
  });

  it('a storage shorter than declared, and a view past its storage', () => {
    expect(() => parseTorchPt(checkpoint(statePickle(TENSORS.slice(0, 1)), { 0: f32([0, 1]) }), 'short.pt'))
      .toThrow("torch-pt: short.pt: storage entry 'ckpt/data/0' for tensor 'a' holds 8 bytes but 6 float32 elements need 24");
    const past: TensorSpec = { name: 'blocks.0.attn.W_Q', storage: 'FloatStorage', key: '0', numel: 6, offset: 4, size: [4], stride: [1] };
    expect(() => parseTorchPt(checkpoint(statePickle([past]), STORAGES), 'past.pt'))
      .toThrow("torch-pt: past.pt: tensor 'blocks.0.attn.W_Q' (size [4], stride [1], offset 4) reads element 7 of storage '0', which has 6");
  });

  it('a truncated pickle', () => {
    const pkl = statePickle(TENSORS);
    expect(() => parseTorchPt(checkpoint(pkl.subarray(0, 60), STORAGES), 'cutpkl.pt')).toThrow(/^torch-pt: cutpkl\.pt: data\.pkl is truncated/);
  });
});
