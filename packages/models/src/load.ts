import { AltCLIPModel, LoadOptions } from './altclip';
import { CLIPModel } from './clip';
import { ClipLikeModel } from './clip-like';
import { readConfigJson, resolveModelDir } from './weights';

/** Loads AltCLIPModel or CLIPModel from a folder or hub id, chosen by config.json model_type. */
export async function loadClipLikeModel(spec: string, opts: LoadOptions = {}): Promise<AltCLIPModel | CLIPModel> {
  const dir = await resolveModelDir(spec, opts.hub);
  const t = readConfigJson(dir).model_type;
  if (t === 'altclip') return AltCLIPModel.fromPretrained(dir, opts);
  if (t === 'clip') return CLIPModel.fromPretrained(dir, { trainable: opts.trainable, onProgress: opts.onProgress });
  throw new Error(`${dir}/config.json: model_type '${t}' is neither 'altclip' nor 'clip'`);
}

export type { ClipLikeModel };
