import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { decodeProto, ProtoField, ProtoWriter, readTfRecords, tfRecord } from './tfrecord';

/**
 * TensorBoard event files (tensorflow/core/util/event.proto, tensorboard/compat/proto/summary.proto), encoded by
 * hand. Field numbers: Event {wall_time 1, step 2, file_version 3, summary 5, session_log 7};
 * Summary {value 1}; Summary.Value {tag 1, simple_value 2, tensor 8, metadata 9};
 * SummaryMetadata {plugin_data 1}; PluginData {plugin_name 1}; TensorProto {dtype 1, tensor_shape 2, string_val 8};
 * SessionLog {status 1}. Fields are written in field-number order, as protobuf's own serializers do.
 */
export interface TbEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  scalars?: Array<{ tag: string; value: number }>;
  texts?: Array<{ tag: string; text: string }>;
  /** SessionLog.START: readers drop earlier events with step >= this event's step (a resumed run redoes them). */
  sessionStart?: boolean;
}

const DT_STRING = 7;
const SESSION_START = 1;

export function encodeEvent(e: TbEvent): Buffer {
  const w = new ProtoWriter();
  // proto3 leaves zero-valued scalars out.
  if (e.wallTime) w.double(1, e.wallTime);
  if (e.step) w.uint(2, e.step);
  if (e.fileVersion) w.bytes(3, e.fileVersion);
  const values: ProtoWriter[] = [];
  for (const s of e.scalars ?? []) values.push(new ProtoWriter().bytes(1, s.tag).float(2, s.value));
  for (const t of e.texts ?? []) {
    // A scalar string tensor tagged for the text plugin (what tensorboard.summary.text writes).
    const tensor = new ProtoWriter().uint(1, DT_STRING).message(2, new ProtoWriter()).bytes(8, t.text);
    const meta = new ProtoWriter().message(1, new ProtoWriter().bytes(1, 'text'));
    values.push(new ProtoWriter().bytes(1, t.tag).message(8, tensor).message(9, meta));
  }
  if (values.length) {
    const summary = new ProtoWriter();
    for (const v of values) summary.message(1, v);
    w.message(5, summary);
  }
  if (e.sessionStart) w.message(7, new ProtoWriter().uint(1, SESSION_START));
  return w.finish();
}

const bytesOf = (f: ProtoField): Buffer => {
  if (!Buffer.isBuffer(f.value) || f.wire !== 2) throw new Error(`protobuf: field ${f.field} is not length-delimited`);
  return f.value;
};

/** The inverse of encodeEvent (for tests and tools); unknown fields are ignored. */
export function decodeEvent(buf: Buffer): TbEvent {
  const e: TbEvent = { wallTime: 0, step: 0 };
  for (const f of decodeProto(buf)) {
    if (f.field === 1 && f.wire === 1) e.wallTime = (f.value as Buffer).readDoubleLE(0);
    else if (f.field === 2 && f.wire === 0) e.step = f.value as number;
    else if (f.field === 3) e.fileVersion = bytesOf(f).toString('utf8');
    else if (f.field === 7) e.sessionStart = decodeProto(bytesOf(f)).some((g) => g.field === 1 && g.value === SESSION_START);
    else if (f.field === 5) {
      for (const v of decodeProto(bytesOf(f)).filter((g) => g.field === 1)) {
        let tag = '';
        let simple: number | undefined;
        let text: string | undefined;
        for (const g of decodeProto(bytesOf(v))) {
          if (g.field === 1) tag = bytesOf(g).toString('utf8');
          else if (g.field === 2 && g.wire === 5) simple = (g.value as Buffer).readFloatLE(0);
          else if (g.field === 8) {
            const sv = decodeProto(bytesOf(g)).find((h) => h.field === 8);
            if (sv) text = bytesOf(sv).toString('utf8');
          }
        }
        if (simple !== undefined) (e.scalars ??= []).push({ tag, value: simple });
        if (text !== undefined) (e.texts ??= []).push({ tag, text });
      }
    }
  }
  return e;
}

/** Every event of an event file, checksums verified. */
export function readEventFile(file: string): TbEvent[] {
  return readTfRecords(fs.readFileSync(file), file).map(decodeEvent);
}

/** Numeric leaves of a metrics.jsonl record as scalar tags (nested objects joined with '/'), `step` left out. */
export function scalarsOf(rec: Record<string, unknown>, prefix = ''): Array<{ tag: string; value: number }> {
  const out: Array<{ tag: string; value: number }> = [];
  for (const [k, v] of Object.entries(rec)) {
    if (!prefix && k === 'step') continue;
    if (typeof v === 'number' && Number.isFinite(v)) out.push({ tag: prefix + k, value: v });
    else if (v && typeof v === 'object' && !Array.isArray(v)) out.push(...scalarsOf(v as Record<string, unknown>, `${prefix}${k}/`));
  }
  return out;
}

/**
 * Writes <dir>/events.out.tfevents.<unix time>.<host>, one event per metrics record, appended (and so readable) as
 * it goes. A resumed run opens a new file that starts with SessionLog.START at the first step it will redo.
 */
export class TensorBoardLog {
  readonly file: string;

  constructor(dir: string, opts: { resumedAtStep?: number } = {}) {
    fs.mkdirSync(dir, { recursive: true });
    const base = `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${os.hostname()}`;
    let name = base;
    for (let i = 1; fs.existsSync(path.join(dir, name)); i++) name = `${base}.${i}`;
    this.file = path.join(dir, name);
    this.append({ wallTime: Date.now() / 1000, step: 0, fileVersion: 'brain.Event:2' });
    if (opts.resumedAtStep !== undefined) this.append({ wallTime: Date.now() / 1000, step: opts.resumedAtStep + 1, sessionStart: true });
  }

  /** True when `dir` already holds an event file (a resumed run does not repeat the config summary). */
  static exists(dir: string): boolean {
    return fs.existsSync(dir) && fs.readdirSync(dir).some((f) => f.includes('tfevents'));
  }

  write(rec: Record<string, unknown>): void {
    const scalars = scalarsOf(rec);
    if (scalars.length) this.append({ wallTime: Date.now() / 1000, step: Number(rec.step) || 0, scalars });
  }

  text(tag: string, text: string, step = 0): void {
    this.append({ wallTime: Date.now() / 1000, step, texts: [{ tag, text }] });
  }

  private append(e: TbEvent): void {
    fs.appendFileSync(this.file, tfRecord(encodeEvent(e)));
  }
}
