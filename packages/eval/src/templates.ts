/**
 * Built-in zero-shot template and class-name sets. The English CIFAR-10 templates and class names and the 80
 * Chinese imagenet1k templates are CLIP_benchmark's (@48de38c; the English templates are also FlagAI's AltCLIP
 * evaluation set); the Chinese class names and the short Chinese CIFAR-10 template set are ours (the references
 * ship none). Templates use `{c}` for the class name (python str.format(c=...)).
 */

/** torchvision CIFAR10.classes (batches.meta label_names). */
export const CIFAR10_CLASSNAMES_EN = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

export const CIFAR10_CLASSNAMES_ZH = ['飞机', '汽车', '鸟', '猫', '鹿', '狗', '青蛙', '马', '船', '卡车'];

/** The 18 CIFAR-10 templates of CLIP_benchmark / FlagAI AltCLIP_evaluation.py, in order. */
export const CIFAR10_TEMPLATES_EN = [
  "a photo of a {c}.",
  "a blurry photo of a {c}.",
  "a black and white photo of a {c}.",
  "a low contrast photo of a {c}.",
  "a high contrast photo of a {c}.",
  "a bad photo of a {c}.",
  "a good photo of a {c}.",
  "a photo of a small {c}.",
  "a photo of a big {c}.",
  "a photo of the {c}.",
  "a blurry photo of the {c}.",
  "a black and white photo of the {c}.",
  "a low contrast photo of the {c}.",
  "a high contrast photo of the {c}.",
  "a bad photo of the {c}.",
  "a good photo of the {c}.",
  "a photo of the small {c}.",
  "a photo of the big {c}.",
];

/**
 * CLIP_benchmark's 80 Chinese imagenet1k templates: what `--language cn` uses for CIFAR-10 (no cifar10 key in the
 * cn file, so builder.py falls back to imagenet1k).
 */
export const IMAGENET_TEMPLATES_ZH = [
  "{c}的照片。",
  "质量差的{c}的照片。",
  "许多{c}的照片。",
  "{c}的雕塑。",
  "难以看到{c}的照片。",
  "{c}的低分辨率照片。",
  "{c}的渲染。",
  "涂鸦{c}。",
  "{c}的糟糕照片。",
  "{c}的裁剪照片。",
  "{c}的纹身。",
  "{c}的刺绣照片。",
  "很难看到{c}的照片。",
  "{c}的明亮照片。",
  "一张干净的{c}的照片。",
  "一张包含{c}的照片。",
  "{c}的深色照片。",
  "{c}的手绘画。",
  "我的{c}的照片。",
  "不自然的{c}的照片。",
  "一张酷的{c}的照片。",
  "{c}的特写照片。",
  "{c}的黑白照片。",
  "一幅{c}的画。",
  "一幅{c}的绘画。",
  "一张{c}的像素照片。",
  "{c}的雕像。",
  "一张{c}的明亮照片。",
  "{c}的裁剪照片。",
  "人造的{c}的照片。",
  "一张关于{c}的照片。",
  "损坏的{c}的jpeg照片。",
  "{c}的模糊照片。",
  "{c}的相片。",
  "一张{c}的好照片。",
  "{c}的渲染照。",
  "视频游戏中的{c}。",
  "一张{c}的照片。",
  "{c}的涂鸦。",
  "{c}的近距离照片。",
  "{c}的折纸。",
  "{c}在视频游戏中。",
  "{c}的草图。",
  "{c}的涂鸦照。",
  "{c}的折纸形状。",
  "低分辨率的{c}的照片。",
  "玩具{c}。",
  "{c}的副本。",
  "{c}的干净的照片。",
  "一张大{c}的照片。",
  "{c}的重现。",
  "一张漂亮的{c}的照片。",
  "一张奇怪的{c}的照片。",
  "模糊的{c}的照片。",
  "卡通{c}。",
  "{c}的艺术作品。",
  "{c}的素描。",
  "刺绣{c}。",
  "{c}的像素照。",
  "{c}的拍照。",
  "{c}的损坏的照片。",
  "高质量的{c}的照片。",
  "毛绒玩具{c}。",
  "漂亮的{c}的照片。",
  "小{c}的照片。",
  "照片是奇怪的{c}。",
  "漫画{c}。",
  "{c}的艺术照。",
  "{c}的图形。",
  "大{c}的照片。",
  "黑白的{c}的照片。",
  "{c}毛绒玩具。",
  "一张{c}的深色照片。",
  "{c}的摄影图。",
  "{c}的涂鸦照。",
  "玩具形状的{c}。",
  "拍了{c}的照片。",
  "酷酷的{c}的照片。",
  "照片里的小{c}。",
  "{c}的刺青。",
];

/** A short Chinese CIFAR-10 set (ours): plain photo wording, mirroring the English set's variations. */
export const CIFAR10_TEMPLATES_ZH = [
  '一张{c}的照片。',
  '{c}的照片。',
  '一张模糊的{c}的照片。',
  '一张{c}的黑白照片。',
  '一张低对比度的{c}的照片。',
  '一张高对比度的{c}的照片。',
  '一张质量差的{c}的照片。',
  '一张好看的{c}的照片。',
  '一张小{c}的照片。',
  '一张大{c}的照片。',
  '这是一张{c}的图片。',
  '图片里的{c}。',
];

/**
 * Fashion-MNIST class names as caption words (Zalando's label names, 'T-shirt/top', 'Trouser', ..., are
 * FASHION_MNIST_CLASSES in @altclip/data). `altclip demo` builds its captions, its student's vocabulary and its
 * zero-shot prompts from these same arrays, so `altclip eval zeroshot --dataset fashion-mnist` scores a demo model
 * with the words it was trained on.
 */
export const FASHION_MNIST_CLASSNAMES_EN = ['t-shirt', 'trousers', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot'];

export const FASHION_MNIST_CLASSNAMES_ZH = ['T恤', '裤子', '套头衫', '连衣裙', '外套', '凉鞋', '衬衫', '运动鞋', '包', '短靴'];

/** Generic photo templates for datasets without their own set (image folders, Fashion-MNIST). */
export const GENERIC_TEMPLATES_EN = ['a photo of a {c}.', 'a photo of the {c}.', 'a blurry photo of a {c}.', 'a good photo of a {c}.', 'a close-up photo of a {c}.'];
export const GENERIC_TEMPLATES_ZH = ['一张{c}的照片。', '{c}的照片。', '一张模糊的{c}的照片。', '一张清晰的{c}的照片。', '{c}的特写照片。'];

/** Fashion-MNIST: product-photo wording works better than "a photo of a". */
export const FASHION_MNIST_TEMPLATES_EN = ['a photo of a {c}.', 'a product photo of a {c}.', 'a black and white photo of a {c}.', 'a low resolution photo of a {c}.', 'a photo of the {c}, a type of clothing.'];
export const FASHION_MNIST_TEMPLATES_ZH = ['一张{c}的照片。', '一张{c}的商品照片。', '一张{c}的黑白照片。', '一张低分辨率的{c}的照片。', '{c}的照片，一种服饰。'];

/**
 * The templates `altclip demo` holds out of training and evaluates with (datasets/demo-captions/captions.json,
 * templates at the heldOut indices; a test keeps them equal). The Fashion-MNIST sets above share 4 English and
 * 3 Chinese templates with the demo's training captions, so only these reproduce the demo's table:
 * `altclip eval zeroshot --dataset fashion-mnist --templates demo-heldout-en`.
 */
export const DEMO_HELDOUT_TEMPLATES_EN = ['an image of a {c}.', 'a close-up photo of a {c}.', 'a blurry photo of a {c}.', 'a {c} on a plain background.'];
export const DEMO_HELDOUT_TEMPLATES_ZH = ['一张{c}的图像。', '一张{c}的特写照片。', '一张模糊的{c}照片。', '纯色背景上的{c}。'];

export const LANGS = ['en', 'zh'] as const;
export type Lang = (typeof LANGS)[number];

/** The built-in (classnames, templates) of a dataset in a language. */
export function builtinZeroShotSet(dataset: string, lang: Lang = 'en'): { classnames: string[] | null; templates: string[] } {
  const d = dataset.toLowerCase().replace(/[-_]/g, '');
  if (d.startsWith('cifar10')) {
    return lang === 'zh' ? { classnames: CIFAR10_CLASSNAMES_ZH, templates: CIFAR10_TEMPLATES_ZH } : { classnames: CIFAR10_CLASSNAMES_EN, templates: CIFAR10_TEMPLATES_EN };
  }
  if (d.startsWith('fashionmnist')) {
    return lang === 'zh' ? { classnames: FASHION_MNIST_CLASSNAMES_ZH, templates: FASHION_MNIST_TEMPLATES_ZH } : { classnames: FASHION_MNIST_CLASSNAMES_EN, templates: FASHION_MNIST_TEMPLATES_EN };
  }
  return { classnames: null, templates: lang === 'zh' ? GENERIC_TEMPLATES_ZH : GENERIC_TEMPLATES_EN };
}

/** Named template sets for --templates NAME (a file path is read as JSON instead). */
export const TEMPLATE_SETS: Record<string, string[]> = {
  'cifar10-en': CIFAR10_TEMPLATES_EN,
  'cifar10-zh': CIFAR10_TEMPLATES_ZH,
  'imagenet-zh': IMAGENET_TEMPLATES_ZH,
  'fashion-mnist-en': FASHION_MNIST_TEMPLATES_EN,
  'fashion-mnist-zh': FASHION_MNIST_TEMPLATES_ZH,
  'demo-heldout-en': DEMO_HELDOUT_TEMPLATES_EN,
  'demo-heldout-zh': DEMO_HELDOUT_TEMPLATES_ZH,
  'generic-en': GENERIC_TEMPLATES_EN,
  'generic-zh': GENERIC_TEMPLATES_ZH,
};

/** Fills a template: every `{c}` (and a bare `{}`) becomes the class name. */
export function fillTemplate(template: string, classname: string): string {
  return template.split('{c}').join(classname).split('{}').join(classname);
}
