"""Generates small images in the modes the shared fixtures do not cover and their reference tensors.

Run with Debian's python3 (Pillow 9.4.0, torchvision 0.14.1, the versions of the shared references):
    /usr/bin/python3 packages/image/test/pillow-extra/gen.py
openai pipeline = torchvision clip._transform (Resize(n, BICUBIC), CenterCrop(c), convert("RGB"), ToTensor, Normalize).
hf pipeline = CLIPImageProcessor's slow path: convert("RGB") first, PIL resize BICUBIC, crop offset floor((H-c)/2)
(only for crops that fit, so no padding convention is assumed), float32 rescale and normalise.
"""
import hashlib, io, json, os
import numpy as np
import torch
from PIL import Image
from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

HERE = os.path.dirname(os.path.abspath(__file__))
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
rng = np.random.default_rng(20261127)


def smooth(h, w, c, lo=0, hi=255):
    small = rng.uniform(lo, hi, size=(max(2, h // 6), max(2, w // 6), c))
    ys = np.linspace(0, small.shape[0] - 1, h)
    xs = np.linspace(0, small.shape[1] - 1, w)
    y0 = np.floor(ys).astype(int); x0 = np.floor(xs).astype(int)
    y1 = np.minimum(y0 + 1, small.shape[0] - 1); x1 = np.minimum(x0 + 1, small.shape[1] - 1)
    fy = (ys - y0)[:, None, None]; fx = (xs - x0)[None, :, None]
    a = small[y0][:, x0] * (1 - fx) + small[y0][:, x1] * fx
    b = small[y1][:, x0] * (1 - fx) + small[y1][:, x1] * fx
    return a * (1 - fy) + b * fy + rng.normal(0, (hi - lo) / 40, size=(h, w, c))


def u8(a):
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def make_images():
    out = {}
    def save(name, im, **kw):
        p = os.path.join(HERE, name)
        im.save(p, **kw)
        out[name] = p
    g16 = np.clip(np.rint(smooth(40, 60, 1, 0, 700)[:, :, 0]), 0, 65535).astype('>u2')
    # PIL cannot write I;16B PNGs from numpy directly in every version; build through mode I.
    save('gray16_60x40.png', Image.fromarray(g16.astype(np.int32), 'I'))
    rgb16 = np.clip(np.rint(smooth(70, 50, 3, 0, 65535)), 0, 65535).astype('>u2')
    import zlib, struct
    def png16(arr, color_type):  # minimal 16-bit PNG writer (Pillow cannot write RGB;16)
        h, w = arr.shape[:2]
        raw = b''.join(b'\x00' + arr[y].astype('>u2').tobytes() for y in range(h))
        chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
        return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 16, color_type, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b'')
    for name, arr, ct in [('rgb16_50x70.png', rgb16, 2),
                          ('la16_40x30.png', np.concatenate([np.clip(np.rint(smooth(30, 40, 1, 0, 65535)), 0, 65535), np.where(rng.uniform(size=(30, 40, 1)) < 0.3, 0, 40000)], 2).astype('>u2'), 4)]:
        with open(os.path.join(HERE, name), 'wb') as f:
            f.write(png16(arr, ct))
        out[name] = os.path.join(HERE, name)
    la = np.concatenate([u8(smooth(48, 64, 1)), u8(np.where(np.arange(64)[None, :, None] < 20, 0, smooth(48, 64, 1, 60, 255)))], 2)
    save('la_64x48.png', Image.fromarray(la, 'LA'))
    save('bilevel_70x50.png', Image.fromarray(u8(smooth(50, 70, 1))[:, :, 0]).convert('1'))
    save('gray4_50x40.png', Image.fromarray(u8(smooth(40, 50, 1))[:, :, 0]), bits=4)
    pal = Image.fromarray(u8(smooth(20, 30, 3))).quantize(4)
    pal.info['transparency'] = 1
    save('palette4_30x20.png', pal, transparency=1, bits=2)
    save('gray_trns_40x40.png', Image.fromarray(u8(smooth(40, 40, 1))[:, :, 0]), transparency=128)
    frames = [Image.fromarray(u8(smooth(36, 52, 3))).quantize(16) for _ in range(2)]
    save('anim_52x36.gif', frames[0], save_all=True, append_images=frames[1:], transparency=2, duration=100)
    save('greyramp_40x30.gif', Image.fromarray(u8(smooth(30, 40, 1))[:, :, 0]).convert('P'))
    # A full identity grey palette: Pillow opens this GIF as mode L, not P.
    save('ramp_40x30.gif', Image.fromarray((np.arange(1200) % 256).astype(np.uint8).reshape(30, 40)), optimize=False)
    save('lossy_64x40.webp', Image.fromarray(u8(smooth(40, 64, 3))), quality=80)
    rgba = np.concatenate([u8(smooth(30, 44, 3)), u8(np.where(np.arange(44)[None, :, None] > 30, 0, 255) * np.ones((30, 1, 1)))], 2)
    save('lossless_44x30.webp', Image.fromarray(rgba, 'RGBA'), lossless=True)
    save('gray_45x60.jpg', Image.fromarray(u8(smooth(60, 45, 1))[:, :, 0]), quality=90)
    save('cmyk_40x30.jpg', Image.fromarray(u8(smooth(30, 40, 4)), 'CMYK'), quality=90)
    # The same CMYK JPEG without its Adobe APP14 segment: Pillow inverts CMYK JPEGs regardless.
    raw = open(out['cmyk_40x30.jpg'], 'rb').read()
    p = raw.find(b'\xff\xee')
    seg = 2 + int.from_bytes(raw[p + 2:p + 4], 'big')
    with open(os.path.join(HERE, 'cmyk_noadobe_40x30.jpg'), 'wb') as f:
        f.write(raw[:p] + raw[p + seg:])
    out['cmyk_noadobe_40x30.jpg'] = os.path.join(HERE, 'cmyk_noadobe_40x30.jpg')
    save('rgb444_33x61.jpg', Image.fromarray(u8(smooth(61, 33, 3))), quality=95, subsampling=0)
    # Kept as committed (made with sharp's withIccProfile('p3')): Pillow ignores embedded ICC profiles on open.
    for name in ['icc_p3_40x30.jpg']:
        out[name] = os.path.join(HERE, name)
    rgb = u8(smooth(26, 37, 3))
    save('rgb24_37x26.bmp', Image.fromarray(rgb))
    save('rgba32_37x26.bmp', Image.fromarray(np.dstack([rgb, u8(smooth(26, 37, 1))]), 'RGBA'))
    save('pal8_37x26.bmp', Image.fromarray(rgb).quantize(20))
    save('grey8_37x26.bmp', Image.fromarray(rgb[:, :, 0]))
    save('bilevel_37x26.bmp', Image.fromarray(rgb[:, :, 0]).convert('1'))
    save('rgb_37x26.ppm', Image.fromarray(rgb))
    save('rgb_37x26.tif', Image.fromarray(rgb))
    save('pal_37x26.tif', Image.fromarray(rgb).quantize(12))
    save('grey_37x26.tif', Image.fromarray(rgb[:, :, 2]))
    save('grey_37x26.pgm', Image.fromarray(rgb[:, :, 1]))
    save('bilevel_37x26.pbm', Image.fromarray(rgb[:, :, 2]).convert('1'))
    for name, magic, arr in [('ascii_9x7.ppm', 'P3', rgb[:7, :9]), ('ascii_9x7.pgm', 'P2', rgb[:7, :9, 0])]:
        with open(os.path.join(HERE, name), 'w') as f:
            f.write(f'{magic}\n# written by gen.py\n9 7\n255\n' + ' '.join(str(v) for v in arr.reshape(-1)) + '\n')
        out[name] = os.path.join(HERE, name)
    return out


def sha(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def openai(im, n, crop):
    t = Compose([Resize(n, interpolation=InterpolationMode.BICUBIC), CenterCrop(crop), lambda x: x.convert('RGB')])(im)
    u = np.asarray(t).transpose(2, 0, 1)
    f = Normalize(MEAN, STD)(ToTensor()(t)).numpy()
    return u, f


def hf(im, n):
    im = im.convert('RGB') if im.mode != 'RGB' else im
    w, h = im.size
    short, long = (w, h) if w <= h else (h, w)
    nl = int(n * long / short)
    size = (n, nl) if w <= h else (nl, n)
    r = np.asarray(im.resize(size, resample=Image.BICUBIC, reducing_gap=None))
    top, left = (r.shape[0] - n) // 2, (r.shape[1] - n) // 2
    u = r[top:top + n, left:left + n].transpose(2, 0, 1)
    x = (u.astype(np.float64) * (1 / 255)).astype(np.float32)
    f = ((x - np.array(MEAN, np.float32)[:, None, None]) / np.array(STD, np.float32)[:, None, None]).astype(np.float32)
    return u, f


def main():
    files = make_images()
    cases = []
    for name in sorted(files):
        im = Image.open(files[name])
        im.load()
        # Mode 1 is stored as 0/255 by Pillow (numpy would show booleans); mode I as int32.
        dec = np.asarray(im.convert('L')) if im.mode == '1' else np.asarray(im).astype('<i4') if im.mode == 'I' else np.asarray(im)
        case = {'file': name, 'pil_mode': im.mode, 'size_wh': list(im.size), 'decoded_sha256': sha(dec), 'tensors': []}
        for n, crop in [(32, 32), (48, 48), (24, 40)]:
            u, f = openai(im, n, crop)
            case['tensors'].append({'pipeline': 'openai', 'size': n, 'crop': crop, 'u8_sha256': sha(u), 'f32_sha256': sha(f.astype('<f4'))})
        for n in (32, 48):
            u, f = hf(im, n)
            case['tensors'].append({'pipeline': 'hf', 'size': n, 'crop': n, 'u8_sha256': sha(u), 'f32_sha256': sha(f.astype('<f4'))})
        cases.append(case)
    import PIL, torchvision
    meta = {'generator': f'gen.py with Pillow {PIL.__version__}, torchvision {torchvision.__version__}, numpy {np.__version__}',
            'decoded': 'sha256 of np.asarray(Image.open(f)) (uint8; mode I as int32 little-endian; mode 1 as 0/255 via convert(L))', 'cases': cases}
    with open(os.path.join(HERE, 'expected.json'), 'w') as f:
        json.dump(meta, f, indent=1)
    print(json.dumps([(c['file'], c['pil_mode']) for c in cases]))


main()
