import * as fs from 'fs';
import { readExactly } from './atomic';
import { CheckpointError } from './errors';

/** One member of a zip archive; `dataOffset` is resolved lazily from the local header. */
export interface ZipEntry {
  name: string;
  method: number; // 0 = STORED
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CDIR_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

function u64(b: Buffer, off: number, file: string): number {
  const v = b.readBigUInt64LE(off);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(file, `zip: 64-bit field ${v} is too large`);
  return Number(v);
}

/**
 * Reads the central directory of a zip file (torch.save writes STORED members, zip64 when the archive is over
 * 4 GB). Only the tail of the file and the directory itself are read.
 */
export async function readZipDirectory(file: string, fh: fs.promises.FileHandle): Promise<Map<string, ZipEntry>> {
  const size = (await fh.stat()).size;
  const tailLen = Math.min(size, 22 + 65535);
  const { buf: tail } = await readExactly(fh, tailLen, size - tailLen);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new CheckpointError(file, 'truncated or not a zip file: end of central directory record not found');
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const locPos = size - tailLen + eocd - 20;
    if (locPos < 0) throw new CheckpointError(file, 'zip64: locator missing before end of central directory');
    const { buf: loc } = await readExactly(fh, 20, locPos);
    if (loc.readUInt32LE(0) !== ZIP64_LOCATOR_SIG) throw new CheckpointError(file, 'zip64: end of central directory locator not found');
    const recPos = u64(loc, 8, file);
    const { buf: rec, got } = await readExactly(fh, 56, recPos);
    if (got < 56 || rec.readUInt32LE(0) !== ZIP64_EOCD_SIG) throw new CheckpointError(file, `zip64: end of central directory record not found at ${recPos}`);
    count = u64(rec, 32, file);
    cdSize = u64(rec, 40, file);
    cdOffset = u64(rec, 48, file);
  }
  if (cdOffset + cdSize > size) throw new CheckpointError(file, `truncated zip: central directory [${cdOffset}, ${cdOffset + cdSize}) lies beyond the end of the file (${size} bytes)`);
  const { buf: cd } = await readExactly(fh, cdSize, cdOffset);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== CDIR_SIG) throw new CheckpointError(file, `zip: corrupt central directory at entry ${i}`);
    const method = cd.readUInt16LE(p + 10);
    let compressedSize = cd.readUInt32LE(p + 20);
    let usize = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let localHeaderOffset = cd.readUInt32LE(p + 42);
    const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
    // zip64 extended information: only the fields that are 0xffffffff in the fixed part, in this order
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = cd.readUInt16LE(x);
      const len = cd.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let q = x + 4;
        if (usize === 0xffffffff) {
          usize = u64(cd, q, file);
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = u64(cd, q, file);
          q += 8;
        }
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(cd, q, file);
      }
      x += 4 + len;
    }
    entries.set(name, { name, method, compressedSize, size: usize, localHeaderOffset });
    p = xEnd + commentLen;
  }
  return entries;
}

/** Absolute file offset of a STORED member's bytes (after its local header, whose extra field may differ). */
export async function zipDataOffset(file: string, fh: fs.promises.FileHandle, e: ZipEntry): Promise<number> {
  if (e.method !== 0) throw new CheckpointError(file, `zip member '${e.name}' is compressed (method ${e.method}); torch.save writes uncompressed (STORED) members`);
  const { buf: h, got } = await readExactly(fh, 30, e.localHeaderOffset);
  if (got < 30 || h.readUInt32LE(0) !== LOCAL_SIG) throw new CheckpointError(file, `zip: local header of '${e.name}' not found at ${e.localHeaderOffset}`);
  return e.localHeaderOffset + 30 + h.readUInt16LE(26) + h.readUInt16LE(28);
}
