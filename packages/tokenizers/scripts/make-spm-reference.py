#!/usr/bin/env python3
"""Regenerates test/data/spm-ref/: small SentencePiece models trained by the real sentencepiece (Debian's
python3-sentencepiece 0.1.97, the fixtures' version) and its own encodings of mixed texts, so the BPE,
byte-fallback, user-defined-symbol and non-default normaliser paths are checked against the reference.

    /usr/bin/python3 packages/tokenizers/scripts/make-spm-reference.py /work/shared/fixtures/xlmr/cases.json
"""
import glob, json, os, random, sys, tempfile
import sentencepiece as spm

out = os.path.join(os.path.dirname(__file__), '..', 'test', 'data', 'spm-ref')
os.makedirs(out, exist_ok=True)
base = [c['text'] for c in json.load(open(sys.argv[1]))['cases']]
random.seed(7)
lines = []
for f in sorted(glob.glob('/usr/share/doc/*/copyright'))[:150]:
    lines += [l.strip() for l in open(f, errors='ignore') if l.strip()]
lines += base * 5
corpus = tempfile.NamedTemporaryFile('w', suffix='.txt', delete=False)
corpus.write('\n'.join(lines)); corpus.close()

pool = ''.join(base)
odd = ' \t\n\u3000\u00a0\u200b\u2581！？ＡＢ①ﬁ½™é\u0301😀🇨🇳\x07<>&x'
texts = [''.join(random.choice(pool) if random.random() < 0.8 else random.choice(odd) for _ in range(random.randint(0, 40)))
         for _ in range(120)]
texts += ['a<x>b foo<x>', 'foofoo', '<x><x>', 'ab ab', '猫猫狗', '1,000,000  and 2024', 'lll ...']

common = dict(input=corpus.name, character_coverage=0.9995, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
              input_sentence_size=100000, minloglevel=2, vocab_size=1200, normalization_rule_name='identity')
models = {
    'bpe_bytefallback': dict(model_type='bpe', byte_fallback=True, user_defined_symbols=['<x>', 'foo']),
    'unigram_bytefallback': dict(model_type='unigram', byte_fallback=True, user_defined_symbols=['<x>', 'foo', 'ab']),
    'unigram_keep_spaces': dict(model_type='unigram', remove_extra_whitespaces=False, add_dummy_prefix=False),
}
expected = {'texts': texts, 'models': {}}
for name, opts in models.items():
    spm.SentencePieceTrainer.train(model_prefix=os.path.join(out, name), **common, **opts)
    os.remove(os.path.join(out, name + '.vocab'))
    sp = spm.SentencePieceProcessor(model_file=os.path.join(out, name + '.model'))
    expected['models'][name] = {'pieces': [sp.encode(t, out_type=str) for t in texts], 'ids': [sp.encode(t) for t in texts]}
json.dump(expected, open(os.path.join(out, 'cases.json'), 'w'), ensure_ascii=False)
os.remove(corpus.name)
