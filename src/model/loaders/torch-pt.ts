/**
 * PyTorch checkpoints written by `torch.save(state_dict, path)` (the zip format of torch >= 1.6):
 * `<archive>/data.pkl` is a pickle (protocol 2) whose tensors point, through persistent ids,
 * at raw little-endian storages `<archive>/data/<key>`.
 *
 * The unpickler is restricted: it implements the opcodes a state dict needs and resolves only
 * an allow-list of globals (collections.OrderedDict, torch._utils._rebuild_tensor_v2 /
 * _rebuild_parameter / _rebuild_parameter_with_state, the torch.*Storage classes). Any other
 * global is refused before anything is called, so a checkpoint cannot run code. Tensors are
 * rebuilt from storage, storage offset, size and stride (any strides, views and shared
 * storages included). Float tensors come back as float32; bool and integer tensors separately.
 * Errors start with `torch-pt:` and name the file (and the tensor or entry).
 */
import type { HostTensor, StateDict } from '../weights.js';
import { halfBitsToFloatBits } from '../safetensors.js';
import { bufferSource, type ModelFiles } from './files.js';
import { ZipReader, type ByteSource } from './zip.js';

export type TorchDtype = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

const STORAGES: Readonly<Record<string, { dtype: TorchDtype; itemsize: number }>> = {
  FloatStorage: { dtype: 'float32', itemsize: 4 },
  HalfStorage: { dtype: 'float16', itemsize: 2 },
  BFloat16Storage: { dtype: 'bfloat16', itemsize: 2 },
  DoubleStorage: { dtype: 'float64', itemsize: 8 },
  LongStorage: { dtype: 'int64', itemsize: 8 },
  IntStorage: { dtype: 'int32', itemsize: 4 },
  ShortStorage: { dtype: 'int16', itemsize: 2 },
  CharStorage: { dtype: 'int8', itemsize: 1 },
  ByteStorage: { dtype: 'uint8', itemsize: 1 },
  BoolStorage: { dtype: 'bool', itemsize: 1 },
};
const FLOAT_DTYPES: ReadonlySet<TorchDtype> = new Set(['float32', 'float16', 'bfloat16', 'float64']);

const REBUILD_TENSOR = 'torch._utils._rebuild_tensor_v2';
const REBUILD_PARAMETER = 'torch._utils._rebuild_parameter';
const REBUILD_PARAMETER_STATE = 'torch._utils._rebuild_parameter_with_state';
const ORDERED_DICT = 'collections.OrderedDict';
const CALLABLE_GLOBALS: ReadonlySet<string> = new Set([ORDERED_DICT, REBUILD_TENSOR, REBUILD_PARAMETER, REBUILD_PARAMETER_STATE]);

/** The globals the unpickler accepts. */
export function isAllowedGlobal(module: string, name: string): boolean {
  const full = `${module}.${name}`;
  return CALLABLE_GLOBALS.has(full) || (module === 'torch' && name in STORAGES);
}

/** A non-float tensor (bool masks, integer buffers). */
export interface IntTensor {
  readonly dtype: TorchDtype;
  readonly shape: readonly number[];
  /** int64 tensors as BigInt64Array; bool / int8 / uint8 / int16 / int32 as Int32Array */
  readonly data: Int32Array | BigInt64Array;
}

export interface TorchPtContents {
  /** float tensors (float32/16, bfloat16, float64), as float32 */
  readonly tensors: StateDict;
  /** bool and integer tensors */
  readonly nonFloat: ReadonlyMap<string, IntTensor>;
  /** dtype of every tensor, by name, as stored */
  readonly dtypes: ReadonlyMap<string, TorchDtype>;
}

// ---------------------------------------------------------------------------------------------
// Pickle values

class Tuple {
  constructor(readonly items: readonly unknown[]) {}
}
class Global {
  constructor(readonly module: string, readonly name: string) {}
  get full(): string { return `${this.module}.${this.name}`; }
}
class StorageRef {
  constructor(readonly dtype: TorchDtype, readonly itemsize: number, readonly key: string, readonly numel: number) {}
}
class TensorVal {
  constructor(readonly storage: StorageRef, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}
const MARK = Symbol('mark');

/** A dict whose keys are pickled strings or numbers. */
type PyDict = Map<unknown, unknown>;

function describe(v: unknown): string {
  if (v instanceof Global) return `global ${v.full}`;
  if (v instanceof Tuple) return 'tuple';
  if (v instanceof Map) return 'dict';
  if (Array.isArray(v)) return 'list';
  if (v instanceof TensorVal) return 'tensor';
  if (v instanceof StorageRef) return 'storage';
  return v === null ? 'None' : typeof v;
}

/**
 * Run the restricted unpickler over `bytes`. Returns the unpickled object, with tuples as
 * `Tuple`, dicts as `Map`, lists as arrays and tensors as `TensorVal` (storage not yet read).
 */
function unpickle(bytes: Uint8Array, source: string): unknown {
  const fail: (msg: string) => never = (msg) => { throw new Error(`torch-pt: ${source}: ${msg}`); };
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const latin1 = new TextDecoder('latin1');
  let pos = 0;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const need = (n: number) => { if (pos + n > bytes.length) fail(`data.pkl is truncated (needs ${n} more bytes at byte ${pos} of ${bytes.length})`); };
  const u8 = () => { need(1); return bytes[pos++]; };
  const u16 = () => { need(2); const v = dv.getUint16(pos, true); pos += 2; return v; };
  const i32 = () => { need(4); const v = dv.getInt32(pos, true); pos += 4; return v; };
  const u32 = () => { need(4); const v = dv.getUint32(pos, true); pos += 4; return v; };
  const u64 = () => {
    need(8); const v = dv.getBigUint64(pos, true); pos += 8;
    if (v > BigInt(bytes.length)) fail(`length ${v} at byte ${pos - 8} exceeds the pickle`);
    return Number(v);
  };
  const take = (n: number) => { need(n); const b = bytes.subarray(pos, pos + n); pos += n; return b; };
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail(`data.pkl is truncated (unterminated line at byte ${pos})`);
    const s = latin1.decode(bytes.subarray(pos, end)); pos = end + 1; return s;
  };
  const str = (b: Uint8Array) => { try { return utf8.decode(b); } catch { return fail(`invalid UTF-8 string at byte ${pos}`); } };
  const pop = () => { if (stack.length === 0) fail(`pickle stack underflow at byte ${pos}`); return stack.pop(); };
  const top = () => { if (stack.length === 0) fail(`pickle stack underflow at byte ${pos}`); return stack[stack.length - 1]; };
  const popMark = () => {
    const items = stack;
    const prev = metastack.pop();
    if (prev === undefined) fail(`pickle MARK missing at byte ${pos}`);
    stack = prev;
    return items;
  };
  const global = (module: string, name: string) => {
    if (!isAllowedGlobal(module, name)) fail(`refusing global '${module}.${name}' (only state dicts of tensors can be loaded)`);
    return new Global(module, name);
  };
  const setItems = (d: unknown, kv: unknown[]) => {
    if (!(d instanceof Map)) fail(`SETITEM on a ${describe(d)} at byte ${pos}`);
    for (let i = 0; i + 1 < kv.length; i += 2) d.set(kv[i], kv[i + 1]);
  };
  const toInt = (v: bigint) => (v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
  const long = (b: Uint8Array) => {
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b.length > 0 && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return toInt(v);
  };

  for (;;) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: { const v = u8(); if (v > 5) fail(`unsupported pickle protocol ${v}`); break; } // PROTO
      case 0x95: u64(); break; // FRAME: framing is transparent here
      case 0x2e: { // STOP
        if (metastack.length) fail('pickle ended inside a MARK');
        return pop();
      }
      case 0x28: metastack.push(stack); stack = []; break; // MARK
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(new Tuple([])); break; // EMPTY_TUPLE
      case 0x74: { const items = popMark(); stack.push(new Tuple(items)); break; } // TUPLE
      case 0x85: { const a = pop(); stack.push(new Tuple([a])); break; } // TUPLE1
      case 0x86: { const b = pop(), a = pop(); stack.push(new Tuple([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(), b = pop(), a = pop(); stack.push(new Tuple([a, b, c])); break; } // TUPLE3
      case 0x6c: { const items = popMark(); stack.push(items); break; } // LIST
      case 0x64: { const kv = popMark(); const d = new Map(); setItems(d, kv); stack.push(d); break; } // DICT
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x8a: { const n = u8(); stack.push(long(take(n))); break; } // LONG1
      case 0x8b: { const n = u32(); if (n > 1 << 16) fail(`LONG4 of ${n} bytes`); stack.push(long(take(n))); break; } // LONG4
      case 0x47: { need(8); stack.push(dv.getFloat64(pos, false)); pos += 8; break; } // BINFLOAT (big-endian)
      case 0x58: { const n = u32(); stack.push(str(take(n))); break; } // BINUNICODE
      case 0x8c: { const n = u8(); stack.push(str(take(n))); break; } // SHORT_BINUNICODE
      case 0x8d: { const n = u64(); stack.push(str(take(n))); break; } // BINUNICODE8
      case 0x54: { const n = i32(); if (n < 0) fail('negative BINSTRING length'); stack.push(latin1.decode(take(n))); break; } // BINSTRING
      case 0x55: { const n = u8(); stack.push(latin1.decode(take(n))); break; } // SHORT_BINSTRING
      case 0x42: { const n = u32(); stack.push(take(n).slice()); break; } // BINBYTES
      case 0x43: { const n = u8(); stack.push(take(n).slice()); break; } // SHORT_BINBYTES
      case 0x8e: { const n = u64(); stack.push(take(n).slice()); break; } // BINBYTES8
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`pickle memo key ${k} missing at byte ${at}`);
        stack.push(memo.get(k));
        break;
      }
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x63: { const module = line(); const name = line(); stack.push(global(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop(), module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail(`STACK_GLOBAL needs two strings at byte ${at}`);
        stack.push(global(module, name));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop(), fn = pop();
        if (!(fn instanceof Global)) fail(`REDUCE calls a ${describe(fn)} at byte ${at}`);
        if (!(args instanceof Tuple)) fail(`REDUCE of ${fn.full} without an argument tuple at byte ${at}`);
        stack.push(call(fn, args.items, fail));
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        stack.push(persistentLoad(pid, fail));
        break;
      }
      case 0x73: { const v = pop(), k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const kv = popMark(); setItems(top(), kv); break; } // SETITEMS
      case 0x61: { const v = pop(); const l = top(); if (!Array.isArray(l)) fail(`APPEND to a ${describe(l)}`); l.push(v); break; } // APPEND
      case 0x65: { const vs = popMark(); const l = top(); if (!Array.isArray(l)) fail(`APPENDS to a ${describe(l)}`); l.push(...vs); break; } // APPENDS
      case 0x62: { // BUILD: state of an OrderedDict (its _metadata attribute) or of a tensor; ignored
        pop();
        const obj = top();
        if (!(obj instanceof Map) && !(obj instanceof TensorVal)) fail(`BUILD on a ${describe(obj)} at byte ${at}`);
        break;
      }
      default: {
        const ch = op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : '';
        fail(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}${ch} at byte ${at} (only state dicts of tensors can be loaded)`);
      }
    }
  }
}

function asInts(v: unknown, what: string, fail: (m: string) => never): number[] {
  const items = v instanceof Tuple ? v.items : Array.isArray(v) ? v : fail(`${what} is a ${describe(v)}, expected a tuple of ints`);
  return items.map((x) => (typeof x === 'number' && Number.isSafeInteger(x) ? x : fail(`${what} holds ${String(x)}, expected an int`)));
}

function call(fn: Global, args: readonly unknown[], fail: (m: string) => never): unknown {
  switch (fn.full) {
    case ORDERED_DICT: {
      const d: PyDict = new Map();
      if (args.length > 0) {
        const items = args[0] instanceof Tuple ? args[0].items : Array.isArray(args[0]) ? args[0] : fail('OrderedDict(...) with an unsupported argument');
        for (const kv of items) {
          const pair = kv instanceof Tuple ? kv.items : Array.isArray(kv) ? kv : fail('OrderedDict(...) item is not a pair');
          d.set(pair[0], pair[1]);
        }
      }
      return d;
    }
    case REBUILD_TENSOR: {
      const [storage, offset, size, stride] = args;
      if (!(storage instanceof StorageRef)) fail(`_rebuild_tensor_v2 expects a storage, got a ${describe(storage)}`);
      if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) fail(`_rebuild_tensor_v2: bad storage offset ${String(offset)}`);
      const shape = asInts(size, 'tensor size', fail);
      const strides = asInts(stride, 'tensor stride', fail);
      if (shape.length !== strides.length) fail(`tensor size [${shape.join(', ')}] and stride [${strides.join(', ')}] differ in rank`);
      if (shape.some((s) => s < 0) || strides.some((s) => s < 0)) fail(`negative size or stride [${shape.join(', ')}] / [${strides.join(', ')}]`);
      return new TensorVal(storage, offset, shape, strides);
    }
    case REBUILD_PARAMETER:
    case REBUILD_PARAMETER_STATE: {
      if (!(args[0] instanceof TensorVal)) fail(`${fn.name} expects a tensor, got a ${describe(args[0])}`);
      return args[0];
    }
    default:
      return fail(`refusing to call global '${fn.full}'`);
  }
}

function persistentLoad(pid: unknown, fail: (m: string) => never): StorageRef {
  if (!(pid instanceof Tuple)) fail(`persistent id is a ${describe(pid)}, expected a ('storage', ...) tuple`);
  const [tag, type, key, , numel] = pid.items;
  if (tag !== 'storage') fail(`unsupported persistent id '${String(tag)}'`);
  if (!(type instanceof Global) || type.module !== 'torch' || !(type.name in STORAGES)) fail(`unsupported storage type ${describe(type)}`);
  if (typeof key !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(key)) fail(`bad storage key ${JSON.stringify(key)}`);
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) fail(`bad storage size ${String(numel)} for storage '${key}'`);
  const { dtype, itemsize } = STORAGES[type.name];
  return new StorageRef(dtype, itemsize, key, numel);
}

// ---------------------------------------------------------------------------------------------
// Storages and tensors

type Decoded = Float32Array | Int32Array | BigInt64Array;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function decodeStorage(s: StorageRef, b: Uint8Array): Decoded {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = s.numel;
  switch (s.dtype) {
    case 'float32': {
      const o = new Float32Array(n);
      if (LITTLE_ENDIAN) new Uint8Array(o.buffer).set(b.subarray(0, 4 * n));
      else for (let i = 0; i < n; i++) o[i] = dv.getFloat32(4 * i, true);
      return o;
    }
    case 'float64': { const o = new Float32Array(n); for (let i = 0; i < n; i++) o[i] = dv.getFloat64(8 * i, true); return o; }
    case 'float16': {
      const o = new Float32Array(n); const bits = new Uint32Array(o.buffer);
      for (let i = 0; i < n; i++) bits[i] = halfBitsToFloatBits(dv.getUint16(2 * i, true));
      return o;
    }
    case 'bfloat16': {
      const o = new Float32Array(n); const bits = new Uint32Array(o.buffer);
      for (let i = 0; i < n; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
      return o;
    }
    case 'int64': { const o = new BigInt64Array(n); for (let i = 0; i < n; i++) o[i] = dv.getBigInt64(8 * i, true); return o; }
    case 'int32': { const o = new Int32Array(n); for (let i = 0; i < n; i++) o[i] = dv.getInt32(4 * i, true); return o; }
    case 'int16': { const o = new Int32Array(n); for (let i = 0; i < n; i++) o[i] = dv.getInt16(2 * i, true); return o; }
    case 'int8': { const o = new Int32Array(n); for (let i = 0; i < n; i++) o[i] = dv.getInt8(i); return o; }
    case 'uint8': case 'bool': { const o = new Int32Array(n); for (let i = 0; i < n; i++) o[i] = b[i]; return o; }
  }
}

/** Gather a strided view of `src` into a new contiguous array of the same kind. */
function gather<T extends Decoded>(src: T, offset: number, shape: readonly number[], stride: readonly number[]): T {
  const numel = shape.reduce((a, b) => a * b, 1);
  const Ctor = src.constructor as new (n: number) => T;
  let contiguous = true;
  for (let d = shape.length - 1, want = 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== want) { contiguous = false; break; }
    want *= shape[d];
  }
  if (contiguous) return src.slice(offset, offset + numel) as T;
  const out = new Ctor(numel);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let p = offset;
  for (let i = 0; i < numel; i++) {
    (out as Decoded)[i] = (src as Decoded)[p] as never;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      p += stride[d];
      if (idx[d] < shape[d]) break;
      p -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** Find the state dict inside the unpickled object: the top-level dict or a conventional nested one. */
function stateDictOf(obj: unknown, fail: (m: string) => never): PyDict {
  if (!(obj instanceof Map)) fail(`the pickle holds a ${describe(obj)}, not a state dict`);
  const hasTensors = (m: PyDict) => [...m.values()].some((v) => v instanceof TensorVal);
  if (hasTensors(obj)) return obj;
  for (const k of ['state_dict', 'model_state_dict', 'model']) {
    const v = obj.get(k);
    if (v instanceof Map && hasTensors(v)) return v;
  }
  return fail('no tensors at the top level of the pickle (nor under state_dict / model_state_dict / model)');
}

/** Parse a torch.save zip from bytes or a byte source. `source` names it in errors. */
export function parseTorchPt(input: Uint8Array | ByteSource, source = '<buffer>'): TorchPtContents {
  const src = input instanceof Uint8Array ? bufferSource(input) : input;
  const fail: (msg: string) => never = (msg) => { throw new Error(`torch-pt: ${source}: ${msg}`); };
  if (src.size >= 2) {
    const head = src.read(0, 2);
    if (head[0] === 0x80 && head[1] <= 5) {
      fail('legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a recent torch (torch.save(sd, path)) or convert it to safetensors');
    }
  }
  const zip = new ZipReader(src, source, 'torch-pt');
  const pkls = [...zip.entries.keys()].filter((n) => n === 'data.pkl' || n.endsWith('/data.pkl')).sort((a, b) => a.length - b.length);
  if (pkls.length === 0) fail('missing data.pkl (not a torch.save checkpoint?)');
  const prefix = pkls[0].slice(0, pkls[0].length - 'data.pkl'.length);
  const bo = zip.entries.has(`${prefix}byteorder`) ? new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim() : 'little';
  if (bo !== 'little') fail(`byte order '${bo}' is not supported (little-endian only)`);

  const sd = stateDictOf(unpickle(zip.read(pkls[0]), source), fail);
  const storages = new Map<string, Decoded>();
  const tensors: StateDict = new Map();
  const nonFloat = new Map<string, IntTensor>();
  const dtypes = new Map<string, TorchDtype>();
  for (const [name, v] of sd) {
    if (typeof name !== 'string' || !(v instanceof TensorVal)) continue;
    const s = v.storage;
    let data = storages.get(s.key);
    if (!data) {
      const entry = `${prefix}data/${s.key}`;
      if (!zip.entries.has(entry)) fail(`missing storage entry '${entry}' for tensor '${name}'`);
      const bytes = zip.read(entry);
      if (bytes.length < s.numel * s.itemsize) {
        fail(`storage entry '${entry}' for tensor '${name}' holds ${bytes.length} bytes but ${s.numel} ${s.dtype} elements need ${s.numel * s.itemsize}`);
      }
      data = decodeStorage(s, bytes);
      storages.set(s.key, data);
    }
    const numel = v.shape.reduce((a, b) => a * b, 1);
    if (numel > 0) {
      const last = v.offset + v.shape.reduce((acc, n, d) => acc + (n - 1) * v.stride[d], 0);
      if (last >= s.numel) {
        fail(`tensor '${name}' (size [${v.shape.join(', ')}], stride [${v.stride.join(', ')}], offset ${v.offset}) reads element ${last} of storage '${s.key}', which has ${s.numel}`);
      }
    }
    const out = numel === 0 ? new (data.constructor as new (n: number) => Decoded)(0) : gather(data, v.offset, v.shape, v.stride);
    dtypes.set(name, s.dtype);
    if (FLOAT_DTYPES.has(s.dtype)) tensors.set(name, { shape: [...v.shape], data: out as Float32Array } satisfies HostTensor);
    else nonFloat.set(name, { dtype: s.dtype, shape: [...v.shape], data: out as Int32Array | BigInt64Array });
  }
  return { tensors, nonFloat, dtypes };
}

/** Read a torch.save checkpoint: float tensors, integer/bool tensors and dtypes. */
export function loadTorchPt(files: ModelFiles, path: string): TorchPtContents {
  const src = files.open(path);
  try {
    return parseTorchPt(src, path);
  } finally {
    src.close();
  }
}

/** Read the float tensors of a torch.save checkpoint (bool / integer buffers are left out). */
export function readTorchPt(files: ModelFiles, path: string): StateDict {
  return loadTorchPt(files, path).tensors;
}
