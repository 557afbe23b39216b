/** A decoded image as raw interleaved pixels (HWC, u8): the same shape as @altclip/image's loadImage result. */
export interface RawImage {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/**
 * A single-label classification dataset. Labels are small and held in memory; images are read on demand so a
 * caller never holds more than the batch it is working on.
 */
export interface ClassificationDataset {
  readonly name: string;
  readonly size: number;
  /** Class names in label order. */
  readonly classNames: string[];
  /** labels[i] in [0, classNames.length). */
  readonly labels: Int32Array;
  /** Image i, decoded (HWC u8). */
  getImage(i: number): Promise<RawImage>;
  /** The file holding image i, where items are files (lets a worker pool decode them off the main thread). */
  imagePath?(i: number): string;
  /** Releases open file handles. */
  close?(): void;
}

/** A bad input row that was skipped (never fatal), for the end-of-run report. */
export interface SkippedRow {
  file: string;
  line: number;
  reason: string;
}

/** Streams a dataset's items in order: [start, start + limit). */
export async function* iterateDataset(
  ds: ClassificationDataset,
  opts: { start?: number; limit?: number } = {},
): AsyncGenerator<{ index: number; label: number; image: RawImage }> {
  const start = opts.start ?? 0;
  const end = Math.min(ds.size, opts.limit === undefined ? ds.size : start + opts.limit);
  for (let i = start; i < end; i++) yield { index: i, label: ds.labels[i], image: await ds.getImage(i) };
}
