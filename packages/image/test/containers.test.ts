/** Header sniffing that picks the decode path (a wrong answer would only cost speed or the Pillow mode). */
import * as fs from 'fs';
import * as path from 'path';
import { fixture } from '@altclip/test-utils';
import { jpegComponents, parseGif, parsePng } from '../src/containers';

const extra = (f: string) => fs.readFileSync(path.join(__dirname, 'pillow-extra', f));

test('JPEG component count from the frame header', () => {
  expect(jpegComponents(fs.readFileSync(fixture('preprocess', 'images', 'rgb_640x480.jpg')))).toBe(3);
  expect(jpegComponents(fs.readFileSync(fixture('preprocess', 'images', 'exif6_stored_500x300.jpg')))).toBe(3);
  expect(jpegComponents(fs.readFileSync(fixture('preprocess', 'images', 'cmyk_320x240.jpg')))).toBe(4);
  expect(jpegComponents(extra('gray_45x60.jpg'))).toBe(1);
  expect(jpegComponents(extra('la_64x48.png'))).toBe(0);
  expect(jpegComponents(Buffer.from([0xff, 0xd8, 0xff]))).toBe(0);
});

test('PNG header, palette and tRNS; GIF colour table and transparency', () => {
  const p = parsePng(fs.readFileSync(fixture('preprocess', 'images', 'palette_120x90.png')))!;
  expect([p.colorType, p.palette!.length % 3]).toEqual([3, 0]);
  expect(p.paletteAlpha![0]).toBe(0); // tRNS index 0 (README)
  expect(parsePng(extra('gray16_60x40.png'))).toMatchObject({ bitDepth: 16, colorType: 0 });
  const g = parseGif(extra('anim_52x36.gif'))!;
  expect(g.transparentIndex).toBe(2);
  expect(g.palette!.length % 3).toBe(0);
});
