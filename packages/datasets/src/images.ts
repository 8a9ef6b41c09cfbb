/**
 * Image files to pixels, in Node and the browser alike: JPEG (jpeg-js) and PNG (fast-png), converted to the
 * channel count a dataset wants; and the image-folder form `<class>/<image>` (class names sorted, as
 * torchvision's ImageFolder does).
 */
import { decode as decodePng, convertIndexedToRgb } from 'fast-png';
import jpeg from 'jpeg-js';
import { ImageDataset } from './dataset.js';
import { DatasetError } from './errors.js';
import { resizeImage } from './resample.js';

export interface DecodedImage {
  width: number;
  height: number;
  channels: 1 | 3;
  /** [H, W, C] uint8. */
  data: Uint8Array;
}

const IMAGE_EXTENSION = /\.(jpe?g|png)$/i;

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSION.test(name);
}

function isJpeg(b: Uint8Array) {
  return b[0] === 0xff && b[1] === 0xd8;
}
function isPng(b: Uint8Array) {
  return b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47;
}

/** Any-channel 8-bit pixels to 1 (luma, as PIL's 'L') or 3 channels; alpha is dropped. */
function toChannels(src: ArrayLike<number>, pixels: number, from: number, to: 1 | 3): Uint8Array {
  const out = new Uint8Array(pixels * to);
  const colour = from >= 3;
  for (let p = 0; p < pixels; p++) {
    const s = p * from;
    const r = src[s]!;
    const g = colour ? src[s + 1]! : r;
    const b = colour ? src[s + 2]! : r;
    if (to === 1) out[p] = colour ? Math.round((r * 299 + g * 587 + b * 114) / 1000) : r;
    else {
      out[p * 3] = r;
      out[p * 3 + 1] = g;
      out[p * 3 + 2] = b;
    }
  }
  return out;
}

function decodePngPixels(bytes: Uint8Array) {
  const png = decodePng(bytes);
  let data: ArrayLike<number> = png.data;
  let channels = png.channels;
  if (png.palette) {
    data = convertIndexedToRgb(png);
    channels = png.palette[0]!.length;
  } else if (png.depth === 16) {
    data = Uint8Array.from(png.data as Uint16Array, (v) => v >> 8);
  } else if (png.depth !== 8) {
    // 1/2/4-bit grey: scale to 0..255.
    const max = 2 ** png.depth - 1;
    data = Uint8Array.from(png.data, (v) => Math.round((v * 255) / max));
  }
  return { width: png.width, height: png.height, data, channels };
}

/** Decodes a JPEG or PNG file to `channels` channels; `name` is used in errors. */
export function decodeImage(bytes: Uint8Array, name: string, channels: 1 | 3 = 3): DecodedImage {
  let decoded: { width: number; height: number; data: ArrayLike<number>; channels: number };
  try {
    if (isJpeg(bytes)) {
      const image = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: false,
        maxResolutionInMP: 50,
        maxMemoryUsageInMB: 256,
      });
      decoded = { width: image.width, height: image.height, data: image.data, channels: 3 };
    } else if (isPng(bytes)) {
      decoded = decodePngPixels(bytes);
    } else {
      throw new Error('not a JPEG or PNG file (unknown signature)');
    }
  } catch (err) {
    throw new DatasetError(name, `cannot be decoded as an image: ${err instanceof Error ? err.message : String(err)}`);
  }
  const pixels = decoded.width * decoded.height;
  if (pixels === 0 || decoded.data.length < pixels * decoded.channels)
    throw new DatasetError(name, `decoded to ${decoded.width}x${decoded.height} with too few pixels: corrupt image`);
  if (decoded.channels === channels && decoded.data instanceof Uint8Array)
    return { width: decoded.width, height: decoded.height, channels, data: decoded.data };
  return {
    width: decoded.width,
    height: decoded.height,
    channels,
    data: toChannels(decoded.data, pixels, decoded.channels, channels),
  };
}

export interface ImageFile {
  /** `<class>/<file name>`, `/`-separated. */
  path: string;
  bytes: Uint8Array;
}

export interface ImageFolderOptions {
  /** 3 (RGB, default) or 1 (grey). */
  channels?: 1 | 3;
  /**
   * Resize every image to size x size as it loads (antialiased, as PIL), so a folder may hold images of any size.
   * Without it every image must have the first one's size.
   */
  size?: number;
  /** Use these class names (and their order) instead of the sorted folder names. */
  classes?: readonly string[];
}

/**
 * An ImageDataset from image files named `<class>/<file>`. Files are taken in sorted path order. Without `size`
 * every image must have the first one's size (silently resizing would hide mistakes); with it, each is resized.
 */
export function imageFolder(
  files: ImageFile[],
  source: string,
  { channels = 3, classes, size }: ImageFolderOptions = {},
): ImageDataset {
  const images = files
    .filter((f) => isImageFile(f.path))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (images.length === 0)
    throw new DatasetError(source, 'has no .jpg/.jpeg/.png images: expected <class>/<image> files');
  const classOf = (f: ImageFile) => {
    const parts = f.path.split('/');
    if (parts.length !== 2)
      throw new DatasetError(`${source}/${f.path}`, 'is not directly inside a class folder: expected <class>/<image>');
    return parts[0]!;
  };
  const names = classes ?? [...new Set(images.map(classOf))].sort();
  const index = new Map(names.map((c, i) => [c, i]));
  let shape: [number, number, number] | undefined;
  let pixels = new Uint8Array(0);
  const labels = new Uint8Array(images.length);
  if (names.length > 256) throw new DatasetError(source, `has ${names.length} classes: at most 256 are supported`);
  images.forEach((file, i) => {
    const where = `${source}/${file.path}`;
    const label = index.get(classOf(file));
    if (label === undefined)
      throw new DatasetError(
        where,
        `is in folder '${classOf(file)}', which is not one of the classes ${names.join(', ')}`,
      );
    const decoded = decodeImage(file.bytes, where, channels);
    const image =
      size === undefined || (decoded.height === size && decoded.width === size)
        ? decoded
        : {
            ...decoded,
            height: size,
            width: size,
            data: resizeImage(decoded.data, [decoded.height, decoded.width, channels], [size, size]),
          };
    if (!shape) {
      shape = [image.height, image.width, channels];
      pixels = new Uint8Array(images.length * image.data.length);
    } else if (image.height !== shape[0] || image.width !== shape[1]) {
      throw new DatasetError(
        where,
        `is ${image.width}x${image.height} but the folder's first image is ${shape[1]}x${shape[0]}: all images must have one size`,
      );
    }
    pixels.set(image.data, i * image.data.length);
    labels[i] = label;
  });
  return new ImageDataset(pixels, labels, shape!, names, source);
}
