import * as crypto from 'crypto';
import { hashInts, Mulberry32 } from '@altclip/backend';
import { shuffledIndices } from './batching';

/**
 * Streams with exact resume. A RecordSource is a list of units (WebDataset shards, corpus blocks) of known sizes that
 * can be opened at any record offset; a pass visits every record of every unit once. A RankStream is one rank's
 * share of that: a contiguous range of each pass (units in a seeded order when shuffled), mixed by a shuffle buffer
 * that drains at the end of the pass, so every record is emitted exactly once per pass across ranks. Its state (pass,
 * cursor, generator state and the positions of the records in the buffer) is small JSON.
 */

export interface StreamUnit {
  name: string;
  /** Records in the unit (a reader gives exactly this many; unusable ones as records saying so). */
  size: number;
}

export interface RecordReader<R> {
  /** The next record of the unit, or null after its last. */
  next(): Promise<R | null>;
  close(): Promise<void>;
}

export interface RecordSource<R> {
  units: StreamUnit[];
  /** Reads records [offset, size) of `units[unit]`. */
  open(unit: number, offset: number): Promise<RecordReader<R>>;
}

/** A record with where it came from (unit index, record offset in the unit). */
export interface Positioned<R> {
  record: R;
  unit: number;
  offset: number;
}

export interface RankStreamOptions {
  seed: number;
  /** Visit units in a seeded order, new each pass (default true). */
  shuffleUnits?: boolean;
  /** Records held for mixing (0 or 1: file order). */
  shuffleBuffer?: number;
  /** Draw units with replacement, endlessly (open_clip's --dataset-resampled); `range` is then not used. */
  resampled?: boolean;
  /** Salt of the generators: the rank (each rank draws and mixes on its own). */
  rank?: number;
  /** This rank's share of each pass: records [start, start + length) of the pass's units laid end to end. */
  range?: { start: number; length: number };
}

export interface RankStreamState {
  /** Fingerprint of the unit list (names and sizes): resuming on other data is refused. */
  units: string;
  /** Passes begun (resampled: unit draws begun). */
  pass: number;
  /** Records of this pass's range read (resampled: records of the current draw read). */
  cursor: number;
  /** The shuffle generator's state. */
  rng: number;
  /** Positions [unit, offset] of the records in the shuffle buffer, in slot order. */
  buffer: [number, number][];
}

export function unitsFingerprint(units: StreamUnit[]): string {
  const h = crypto.createHash('sha256');
  for (const u of units) h.update(`${u.name.replace(/^.*[\\/]/, '')}\0${u.size}\n`);
  return h.digest('hex').slice(0, 16);
}

export class RankStream<R> {
  private pass = 0;
  private cursor = 0;
  private rng: Mulberry32;
  private buffer: Positioned<R>[] = [];
  private reader: { r: RecordReader<R>; unit: number; offset: number } | undefined;
  private order: { units: Int32Array; ends: number[] } | undefined;
  private readonly fp: string;
  private readonly cap: number;

  constructor(private src: RecordSource<R>, private o: RankStreamOptions) {
    this.fp = unitsFingerprint(src.units);
    this.cap = Math.max(1, Math.floor(o.shuffleBuffer ?? 0));
    this.rng = new Mulberry32(this.seedFor(0));
    const total = src.units.reduce((a, u) => a + u.size, 0);
    if (total === 0) throw new Error(`the data holds no records (${src.units.length} unit(s), all empty)`);
    if (!o.resampled) {
      const r = o.range ?? { start: 0, length: total };
      if (r.length <= 0 || r.start < 0 || r.start + r.length > total) throw new Error(`rank ${o.rank ?? 0}: share [${r.start}, ${r.start + r.length}) of a pass of ${total} records is empty or out of range`);
    }
  }

  private seedFor(pass: number): number {
    return hashInts(this.o.seed, this.o.rank ?? 0, this.o.resampled ? 0x5e5a : pass);
  }

  /** Unit order of the current pass and the running end of each unit in it. */
  private passOrder(): { units: Int32Array; ends: number[] } {
    if (!this.order) {
      const n = this.src.units.length;
      const units = this.o.shuffleUnits === false ? Int32Array.from({ length: n }, (_, i) => i) : shuffledIndices(n, this.o.seed, this.pass);
      const ends: number[] = [];
      let acc = 0;
      for (const u of units) ends.push((acc += this.src.units[u].size));
      this.order = { units, ends };
    }
    return this.order;
  }

  /** Unit and offset of the next record to read, or null when this rank's share of the pass is read. */
  private where(): { unit: number; offset: number } | null {
    if (this.o.resampled) {
      const units = this.src.units;
      let u = hashInts(this.o.seed, this.o.rank ?? 0, this.pass, 0xd2a3) % units.length;
      if (this.pass === 0 || this.cursor >= units[u].size) {
        // A new draw (empty units are drawn again).
        for (let guard = 0; ; guard++) {
          this.pass++;
          this.cursor = 0;
          u = hashInts(this.o.seed, this.o.rank ?? 0, this.pass, 0xd2a3) % units.length;
          if (units[u].size > 0) break;
          if (guard > 1000 * units.length) throw new Error('resampling: every unit is empty');
        }
      }
      return { unit: u, offset: this.cursor };
    }
    const r = this.o.range ?? { start: 0, length: this.src.units.reduce((a, u) => a + u.size, 0) };
    if (this.cursor >= r.length) return null;
    const p = r.start + this.cursor;
    const { units, ends } = this.passOrder();
    let lo = 0;
    let hi = ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ends[mid] > p) hi = mid;
      else lo = mid + 1;
    }
    const unit = units[lo];
    return { unit, offset: p - (ends[lo] - this.src.units[unit].size) };
  }

  private async readAt(unit: number, offset: number): Promise<R> {
    if (!this.reader || this.reader.unit !== unit || this.reader.offset !== offset) {
      await this.reader?.r.close();
      this.reader = { r: await this.src.open(unit, offset), unit, offset };
    }
    const rec = await this.reader.r.next();
    if (rec === null) throw new Error(`${this.src.units[unit].name}: ended at record ${offset}, but its size is ${this.src.units[unit].size}`);
    this.reader.offset++;
    if (this.reader.offset >= this.src.units[unit].size) {
      await this.reader.r.close();
      this.reader = undefined;
    }
    return rec;
  }

  /** The next record: file order with a buffer of 0 or 1, else a uniform pick from the buffer. */
  async next(): Promise<Positioned<R>> {
    for (;;) {
      while (this.buffer.length < this.cap) {
        const at = this.where();
        if (!at) break;
        const record = await this.readAt(at.unit, at.offset);
        this.cursor++;
        this.buffer.push({ record, ...at });
      }
      if (this.buffer.length === 0) {
        // This rank's share of the pass is out: the next pass, in a new unit order and mix.
        this.pass++;
        this.cursor = 0;
        this.order = undefined;
        this.rng = new Mulberry32(this.seedFor(this.pass));
        continue;
      }
      const j = this.cap === 1 ? 0 : Math.floor(this.rng.next() * this.buffer.length);
      const out = this.buffer[j];
      this.buffer[j] = this.buffer[this.buffer.length - 1];
      this.buffer.pop();
      return out;
    }
  }

  state(): RankStreamState {
    return { units: this.fp, pass: this.pass, cursor: this.cursor, rng: this.rng.state, buffer: this.buffer.map((b) => [b.unit, b.offset]) };
  }

  /** Continues from a saved state: the buffer's records are read again from their units (each unit once, in order). */
  async restore(s: RankStreamState): Promise<void> {
    if (s.units !== this.fp) throw new Error(`cannot resume the data stream: the shards/files differ from the ones the checkpoint was written with (fingerprint ${s.units}, now ${this.fp})`);
    await this.close();
    this.pass = s.pass;
    this.cursor = s.cursor;
    this.order = undefined;
    this.rng = new Mulberry32(s.rng);
    const byUnit = new Map<number, number[]>();
    for (const [u, off] of s.buffer) (byUnit.get(u) ?? byUnit.set(u, []).get(u)!).push(off);
    const got = new Map<string, R>();
    for (const [u, offs] of byUnit) {
      offs.sort((a, b) => a - b);
      const r = await this.src.open(u, offs[0]);
      try {
        for (let off = offs[0], k = 0; k < offs.length; off++) {
          const rec = await r.next();
          if (rec === null) throw new Error(`${this.src.units[u].name}: record ${off} not found while restoring the shuffle buffer`);
          if (off === offs[k]) {
            got.set(`${u}:${off}`, rec);
            k++;
          }
        }
      } finally {
        await r.close();
      }
    }
    this.buffer = s.buffer.map(([u, off]) => ({ record: got.get(`${u}:${off}`)!, unit: u, offset: off }));
  }

  async close(): Promise<void> {
    await this.reader?.r.close();
    this.reader = undefined;
  }
}

/** Size of rank r's slice of a batch of b samples on n ranks (the batch cut into n contiguous slices). */
export function sliceSize(b: number, r: number, n: number): number {
  return Math.floor(b / n) + (r < b % n ? 1 : 0);
}

/** Start of rank r's slice of a batch of b samples on n ranks. */
export function sliceStart(b: number, r: number, n: number): number {
  return r * Math.floor(b / n) + Math.min(r, b % n);
}

/** Steps of an epoch of `samples` with global batch `batch` and the size of step k's batch. */
export function epochBatches(samples: number, batch: number, dropLast = false): { steps: number; size: (k: number) => number } {
  const steps = dropLast ? Math.floor(samples / batch) : Math.ceil(samples / batch);
  if (steps === 0) throw new Error(`batch size ${batch} exceeds the ${samples} samples of an epoch${dropLast ? ' with dropLast on' : ''}`);
  return { steps, size: (k) => (k < steps - 1 || dropLast ? batch : samples - (steps - 1) * batch) };
}

/** Records rank r takes from an epoch of `samples`: its slice of every batch. */
export function rankEpochShare(samples: number, batch: number, rank: number, world: number, dropLast = false): number {
  const { steps, size } = epochBatches(samples, batch, dropLast);
  return (steps - 1) * sliceSize(batch, rank, world) + sliceSize(size(steps - 1), rank, world);
}

/** Rank r's contiguous range of a pass of `samples` records: the ranks' shares laid end to end. */
export function rankRange(samples: number, batch: number, rank: number, world: number, dropLast = false): { start: number; length: number } {
  let start = 0;
  for (let q = 0; q < rank; q++) start += rankEpochShare(samples, batch, q, world, dropLast);
  return { start, length: rankEpochShare(samples, batch, rank, world, dropLast) };
}
