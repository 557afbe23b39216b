/**
 * Named architectures: configs/models/<name>.json (HF config.json layout, model_type altclip or clip).
 * The folder is found relative to this file, so it works from src/ (jest) and dist/ (built CLI) alike;
 * ALTCLIP_CONFIGS overrides it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { altclipConfig, AltCLIPConfig, clipConfig, CLIPConfig } from './config';
import { altclipSpecs, clipSpecs, countParams } from './specs';
import { readConfigJson } from './weights';

export function configsDir(): string {
  if (process.env.ALTCLIP_CONFIGS) return process.env.ALTCLIP_CONFIGS;
  const candidates = [path.resolve(__dirname, '..', '..', '..', 'configs', 'models'), path.resolve(__dirname, '..', 'configs', 'models')];
  const found = candidates.find((d) => fs.existsSync(d));
  if (!found) throw new Error(`model configs folder not found (looked in ${candidates.join(', ')}; set ALTCLIP_CONFIGS)`);
  return found;
}

export interface ModelInfo {
  name: string;
  modelType: 'altclip' | 'clip';
  parameters: number;
}

export function getModelConfig(name: string): AltCLIPConfig | CLIPConfig {
  const dir = configsDir();
  const file = path.join(dir, `${name}.json`);
  if (!fs.existsSync(file)) {
    const known = listModels().map((m) => m.name);
    throw new Error(`unknown model config '${name}' (available: ${known.join(', ')})`);
  }
  const raw = readConfigJson(file); // checked there, errors naming the file
  if (raw.model_type === 'altclip') return altclipConfig(raw, file);
  if (raw.model_type === 'clip') return clipConfig(raw, file);
  throw new Error(`${file}: model_type must be 'altclip' or 'clip', got '${raw.model_type}'`);
}

export function paramCount(config: AltCLIPConfig | CLIPConfig): number {
  return config.model_type === 'altclip' ? countParams(altclipSpecs(config as AltCLIPConfig)) : countParams(clipSpecs(config as CLIPConfig));
}

export function listModels(): ModelInfo[] {
  const dir = configsDir();
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -5);
      const cfg = getModelConfig(name);
      return { name, modelType: cfg.model_type, parameters: paramCount(cfg) };
    });
}
