/**
 * A small read-only zip reader for PyTorch checkpoints: central directory (with ZIP64), STORED
 * entries (what torch.save writes, 64-byte aligned) and DEFLATE entries (fflate's inflate, which
 * runs in Node and in browsers alike). Reads through a byte source so that large files need not
 * sit in one buffer (Node: a file descriptor, ../node-files.ts; a browser: an ArrayBuffer or a
 * File read with FileReaderSync in a worker). Errors are prefixed by the caller's module name
 * and name the file and the entry.
 */
import { inflateSync } from 'fflate';

/** Random access to the bytes of a file or buffer. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate */
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
}

export class ZipReader {
  readonly entries: ReadonlyMap<string, ZipEntry>;

  constructor(private readonly src: ByteSource, private readonly source: string, private readonly prefix = 'zip') {
    this.entries = this.readDirectory();
  }

  private fail(msg: string): never {
    throw new Error(`${this.prefix}: ${this.source}: ${msg}`);
  }

  private readDirectory(): Map<string, ZipEntry> {
    const { size } = this.src;
    if (size < 22) this.fail(`file is ${size} bytes long, too short for a zip archive (truncated?)`);
    const tailLen = Math.min(size, 22 + 65535);
    const tail = this.src.read(size - tailLen, tailLen);
    const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
    }
    if (eocd < 0) {
      const head = this.src.read(0, 4);
      const isZip = head.length === 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
      this.fail(isZip
        ? 'zip archive is truncated (no end-of-central-directory record)'
        : 'not a zip archive (no end-of-central-directory record)');
    }
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    const eocdAbs = size - tailLen + eocd;
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // ZIP64: a locator (20 bytes) sits right before the EOCD record
      if (eocdAbs < 20) this.fail('ZIP64 end-of-central-directory locator missing (truncated?)');
      const loc = this.view(eocdAbs - 20, 20);
      if (loc.getUint32(0, true) !== 0x07064b50) this.fail('ZIP64 end-of-central-directory locator missing (truncated?)');
      const recOff = this.u64(loc, 8);
      if (recOff + 56 > size) this.fail('ZIP64 end-of-central-directory record lies past the end of the file (truncated?)');
      const rec = this.view(recOff, 56);
      if (rec.getUint32(0, true) !== 0x06064b50) this.fail('bad ZIP64 end-of-central-directory record');
      count = this.u64(rec, 32);
      cdSize = this.u64(rec, 40);
      cdOffset = this.u64(rec, 48);
    }
    if (cdOffset + cdSize > size) this.fail(`central directory (${cdSize} bytes at ${cdOffset}) lies past the end of the ${size}-byte file (truncated?)`);
    const cd = this.src.read(cdOffset, cdSize);
    const dv = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
    const entries = new Map<string, ZipEntry>();
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.length || dv.getUint32(p, true) !== 0x02014b50) this.fail(`corrupt central directory at entry ${i}`);
      const method = dv.getUint16(p + 10, true);
      let compressedSize = dv.getUint32(p + 20, true);
      let usize = dv.getUint32(p + 24, true);
      const nameLen = dv.getUint16(p + 28, true);
      const extraLen = dv.getUint16(p + 30, true);
      const commentLen = dv.getUint16(p + 32, true);
      let localHeaderOffset = dv.getUint32(p + 42, true);
      if (p + 46 + nameLen + extraLen > cd.length) this.fail(`corrupt central directory at entry ${i}`);
      const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
      // ZIP64 extended information: the 64-bit values of the fields that hold 0xffffffff
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = dv.getUint16(e, true), len = dv.getUint16(e + 2, true);
        if (id === 0x0001) {
          let q = e + 4;
          if (usize === 0xffffffff) { usize = this.u64(dv, q); q += 8; }
          if (compressedSize === 0xffffffff) { compressedSize = this.u64(dv, q); q += 8; }
          if (localHeaderOffset === 0xffffffff) { localHeaderOffset = this.u64(dv, q); q += 8; }
        }
        e += 4 + len;
      }
      entries.set(name, { name, method, compressedSize, size: usize, localHeaderOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  }

  private view(offset: number, length: number): DataView {
    const b = this.src.read(offset, length);
    if (b.length < length) this.fail(`unexpected end of file at byte ${offset + b.length} (truncated?)`);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  private u64(dv: DataView, at: number): number {
    const v = dv.getBigUint64(at, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('64-bit zip field out of range');
    return Number(v);
  }

  /** The uncompressed bytes of an entry. */
  read(name: string): Uint8Array {
    const ent = this.entries.get(name);
    if (!ent) this.fail(`missing entry '${name}'`);
    const { size } = this.src;
    if (ent.localHeaderOffset + 30 > size) this.fail(`entry '${name}' starts past the end of the file (truncated?)`);
    const lh = this.view(ent.localHeaderOffset, 30);
    if (lh.getUint32(0, true) !== 0x04034b50) this.fail(`entry '${name}' has a corrupt local header`);
    const start = ent.localHeaderOffset + 30 + lh.getUint16(26, true) + lh.getUint16(28, true);
    if (start + ent.compressedSize > size) {
      this.fail(`entry '${name}' (${ent.compressedSize} bytes at ${start}) extends past the end of the ${size}-byte file (truncated?)`);
    }
    const raw = this.src.read(start, ent.compressedSize);
    if (ent.method === 0) {
      if (ent.compressedSize !== ent.size) this.fail(`stored entry '${name}' has compressed size ${ent.compressedSize} but size ${ent.size}`);
      return raw;
    }
    if (ent.method === 8) {
      let out: Uint8Array;
      try {
        out = inflateSync(raw);
      } catch (e) {
        this.fail(`entry '${name}' does not inflate: ${(e as Error).message}`);
      }
      if (out.length !== ent.size) this.fail(`entry '${name}' inflates to ${out.length} bytes, expected ${ent.size}`);
      return out;
    }
    this.fail(`entry '${name}' uses unsupported compression method ${ent.method} (stored and deflate only)`);
  }
}
