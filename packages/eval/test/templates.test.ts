import * as fs from 'fs';
import * as path from 'path';
import { REPO_ROOT, tmpDir } from '@altclip/test-utils';
import { loadTemplates, TEMPLATE_SETS } from '../src';

// What `altclip demo` trains and evaluates with, read straight from its caption spec.
const spec = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'datasets', 'demo-captions', 'captions.json'), 'utf8'));
const heldOut = (lang: 'en' | 'zh'): string[] => spec.heldOut.map((i: number) => spec.templates[lang][i]);
const trained = (lang: 'en' | 'zh'): string[] => spec.templates[lang].filter((_: string, i: number) => !spec.heldOut.includes(i));

test.each(['en', 'zh'] as const)("demo-heldout-%s is the demo's held-out template set, disjoint from its training templates", (lang) => {
  expect(loadTemplates(`demo-heldout-${lang}`)).toEqual(heldOut(lang));
  expect(loadTemplates(`demo-heldout-${lang}`).filter((t) => trained(lang).includes(t))).toEqual([]);
  // the reason the set exists: the general Fashion-MNIST set overlaps what the demo trained on
  expect(TEMPLATE_SETS[`fashion-mnist-${lang}`].filter((t) => trained(lang).includes(t)).length).toBeGreaterThan(0);
});

test('an unknown set name lists the built-in sets; a JSON file is still read', () => {
  expect(() => loadTemplates('nope')).toThrow(/templates 'nope': not a built-in template set \(cifar10-en, .*demo-heldout-en, demo-heldout-zh.*\) nor a JSON file/);
  expect(() => loadTemplates('toString')).toThrow(/not a built-in template set/);
  const dir = tmpDir('templates-');
  try {
    const file = path.join(dir, 't.json');
    fs.writeFileSync(file, JSON.stringify({ templates: ['a {c}.'] }));
    expect(loadTemplates(file)).toEqual(['a {c}.']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
