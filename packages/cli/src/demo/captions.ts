import * as fs from 'fs';
import * as path from 'path';
import { mulberry32 } from '@altclip/backend';
import { FASHION_MNIST_CLASSNAMES_EN, FASHION_MNIST_CLASSNAMES_ZH } from '@altclip/eval';

/**
 * datasets/demo-captions/captions.json (tone words and templates) plus the class names, EN and ZH by the same index.
 * The class names are @altclip/eval's Fashion-MNIST arrays themselves, so that `altclip eval zeroshot --dataset
 * fashion-mnist` prompts a demo model with the words the demo trained and evaluated it on.
 */
export interface CaptionSpec {
  classes: { en: string[]; zh: string[] };
  tones: { en: string[]; zh: string[]; thresholds: [number, number] };
  templates: { en: string[]; zh: string[] };
  heldOut: number[];
}

export type Lang = 'en' | 'zh';
export const LANGS: Lang[] = ['en', 'zh'];

/** The repository's datasets/ folder (the CLI runs from packages/cli/dist or, in tests, packages/cli/src). */
export function datasetsDir(): string {
  return path.resolve(__dirname, '..', '..', '..', '..', 'datasets');
}

export function loadCaptionSpec(file = path.join(datasetsDir(), 'demo-captions', 'captions.json')): CaptionSpec {
  const raw = JSON.parse(fs.readFileSync(file, 'utf8')) as Omit<CaptionSpec, 'classes'> & { classes?: unknown };
  const bad = (what: string) => new Error(`${file}: ${what}`);
  if (raw.classes !== undefined) throw bad('has "classes": the demo takes its class names from @altclip/eval (FASHION_MNIST_CLASSNAMES_EN/ZH), remove them here');
  const spec: CaptionSpec = { ...raw, classes: { en: FASHION_MNIST_CLASSNAMES_EN, zh: FASHION_MNIST_CLASSNAMES_ZH } };
  for (const key of ['classes', 'tones', 'templates'] as const) {
    if (!spec[key] || spec[key].en.length !== spec[key].zh.length) throw bad(`${key}.en and ${key}.zh must have the same length`);
  }
  for (const [i, t] of [...spec.templates.en, ...spec.templates.zh].entries()) {
    if (!t.includes('{c}')) throw bad(`template ${i} has no {c}: ${JSON.stringify(t)}`);
  }
  if (spec.tones.en.length !== 3 || spec.tones.thresholds.length !== 2) throw bad('tones need 3 words and 2 thresholds');
  if (!spec.heldOut.length || spec.heldOut.some((i) => i < 0 || i >= spec.templates.en.length)) throw bad('heldOut indices out of range');
  if (spec.heldOut.length >= spec.templates.en.length) throw bad('every template is held out');
  return spec;
}

export function trainTemplateIds(spec: CaptionSpec): number[] {
  return spec.templates.en.map((_, i) => i).filter((i) => !spec.heldOut.includes(i));
}

/** Templates of one language, training or held-out ones. */
export function templates(spec: CaptionSpec, lang: Lang, heldOut: boolean): string[] {
  const ids = heldOut ? spec.heldOut : trainTemplateIds(spec);
  return ids.map((i) => spec.templates[lang][i]);
}

/** The noun phrase: class name, optionally with its tone word ("dark coat", "暗色外套"). */
export function phrase(spec: CaptionSpec, lang: Lang, label: number, tone: number | null): string {
  const name = spec.classes[lang][label];
  if (tone === null) return name;
  return lang === 'en' ? `${spec.tones.en[tone]} ${name}` : `${spec.tones.zh[tone]}${name}`;
}

export function caption(spec: CaptionSpec, lang: Lang, template: number, label: number, tone: number | null): string {
  const t = spec.templates[lang][template];
  let text = t.replace('{c}', phrase(spec, lang, label, tone));
  // "a ankle boot" -> "an ankle boot"; "a {c}" templates are written for consonant-initial words.
  if (lang === 'en') text = text.replace(/\ba ([aeiou])/g, 'an $1');
  return text;
}

/**
 * Tone of a grayscale image (0 dark, 1 grey, 2 bright): the mean of the item's pixels (those above 16, i.e. not
 * the black background) against the spec's thresholds.
 */
export function toneOf(spec: CaptionSpec, pixels: Uint8Array): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < pixels.length; i++) {
    if (pixels[i] > 16) {
      sum += pixels[i];
      n++;
    }
  }
  const mean = n ? sum / n : 0;
  const [lo, hi] = spec.tones.thresholds;
  return mean < lo ? 0 : mean < hi ? 1 : 2;
}

/** Every training sentence pair (EN, ZH): training templates x (class, tone + class), plus the bare noun phrases. */
export function parallelCorpus(spec: CaptionSpec): Array<{ en: string; zh: string }> {
  const out: Array<{ en: string; zh: string }> = [];
  const tones: Array<number | null> = [null, 0, 1, 2];
  for (let c = 0; c < spec.classes.en.length; c++) {
    for (const tone of tones) {
      out.push({ en: phrase(spec, 'en', c, tone), zh: phrase(spec, 'zh', c, tone) });
      for (const t of trainTemplateIds(spec)) out.push({ en: caption(spec, 'en', t, c, tone), zh: caption(spec, 'zh', t, c, tone) });
    }
  }
  return out;
}

/** Every caption the demo can produce (training and held-out templates, both languages), e.g. for tokenizer coverage. */
export function allCaptions(spec: CaptionSpec): string[] {
  const out: string[] = [];
  for (const lang of LANGS) {
    for (let c = 0; c < spec.classes[lang].length; c++) {
      for (const tone of [null, 0, 1, 2]) {
        out.push(phrase(spec, lang, c, tone));
        for (let t = 0; t < spec.templates[lang].length; t++) out.push(caption(spec, lang, t, c, tone));
      }
    }
  }
  return out;
}

/** A seeded PRNG (@altclip/backend's mulberry32) so the demo's captions are the same on every run. */
export const rng = mulberry32;

/**
 * A training caption for one image: a random training template; half the time the noun phrase carries the image's
 * tone, so the model learns both plain class prompts and tone + class descriptions.
 */
export function trainingCaption(spec: CaptionSpec, lang: Lang, label: number, tone: number, rand: () => number): string {
  const ids = trainTemplateIds(spec);
  const t = ids[Math.floor(rand() * ids.length)];
  return caption(spec, lang, t, label, rand() < 0.5 ? tone : null);
}
