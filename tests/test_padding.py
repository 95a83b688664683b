"""deeplab_tf.padding: every path pads bottom/right with the mean pixel."""

import numpy as np
import tensorflow as tf

from deeplab_tf import padding
from deeplab_tf.export import parity

IMAGENET_MEAN = (123.15, 115.90, 103.06)


def _expected(image, height, width, mean):
  """NumPy reference: a canvas of the mean with the image top-left."""
  out = np.empty(image.shape[:-3] + (height, width, 3), image.dtype)
  out[...] = np.asarray(mean, np.float64).astype(image.dtype)
  out[..., :image.shape[-3], :image.shape[-2], :] = image
  return out


def test_mean_pixel_value_broadcasts_one_way():
  assert padding.mean_pixel_value(127.5) == (127.5,) * 3
  assert padding.mean_pixel_value([127]) == (127.0,) * 3
  assert padding.mean_pixel_value(IMAGENET_MEAN) == IMAGENET_MEAN


def test_pad_image_is_exact_for_any_values_and_dtype():
  rng = np.random.default_rng(0)
  # Non-integer pixels (a resized training image): x - mean + mean would
  # round; the padding must leave every pixel bit-exact.
  image = rng.uniform(0, 255, (2, 5, 7, 3)).astype(np.float32)
  got = padding.pad_image(image, 9, 8, IMAGENET_MEAN).numpy()
  np.testing.assert_array_equal(got, _expected(image, 9, 8, IMAGENET_MEAN))
  got = padding.pad_image(image[0], 6, 7, 127.5).numpy()
  np.testing.assert_array_equal(got, _expected(image[0], 6, 7, (127.5,) * 3))
  uint8 = rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)
  got = padding.pad_image(uint8, 5, 5, IMAGENET_MEAN).numpy()
  assert got.dtype == np.uint8
  np.testing.assert_array_equal(got, _expected(uint8, 5, 5, (123, 115, 103)))


def test_pad_to_crop_never_shrinks():
  image = np.full((1, 10, 4, 3), 7.0, np.float32)
  got = padding.pad_to_crop(image, (6, 6), 127.5).numpy()
  np.testing.assert_array_equal(got, _expected(image, 10, 6, (127.5,) * 3))


def test_evaluation_padding_equals_inference_padding():
  """pad_for_eval + batching + fill_image_padding == pad_to_crop per image
  (the labels get the ignore label)."""
  rng = np.random.default_rng(1)
  images = [rng.integers(0, 256, s + (3,), dtype=np.uint8)
            for s in ((5, 9), (8, 3))]
  labels = [rng.integers(0, 21, s, dtype=np.uint8)
            for s in ((5, 9), (8, 3))]
  padded = [padding.pad_for_eval(i, l, (6, 6), 255)
            for i, l in zip(images, labels)]
  batch_h = max(p[0].shape[0] for p in padded)
  batch_w = max(p[0].shape[1] for p in padded)
  batch = tf.stack([tf.pad(p[0], [[0, batch_h - p[0].shape[0]],
                                  [0, batch_w - p[0].shape[1]], [0, 0]])
                    for p in padded])
  filled = padding.fill_image_padding(batch, tf.constant([5, 8]),
                                      tf.constant([9, 3]),
                                      IMAGENET_MEAN).numpy()
  for k, image in enumerate(images):
    want = padding.pad_image(image.astype(np.float32), batch_h, batch_w,
                             IMAGENET_MEAN).numpy()
    np.testing.assert_array_equal(filled[k], want)
    label = padded[k][1].numpy()
    np.testing.assert_array_equal(label[:labels[k].shape[0],
                                        :labels[k].shape[1]], labels[k])
    assert (label[labels[k].shape[0]:] == 255).all()
    assert (label[:, labels[k].shape[1]:] == 255).all()


def test_tflite_input_is_padded_then_cropped():
  image = np.arange(4 * 9 * 3, dtype=np.uint8).reshape(4, 9, 3)
  got = parity.to_input_size(image, (6, 5), IMAGENET_MEAN)
  want = _expected(image.astype(np.float32), 6, 9, IMAGENET_MEAN)[:, :5]
  np.testing.assert_array_equal(got, want)
  label = np.ones((4, 9), np.int32)
  got = parity.to_input_size(label, (6, 5), 255)
  assert got.shape == (6, 5) and (got[4:] == 255).all()
  assert (got[:4] == 1).all()
