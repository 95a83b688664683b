"""The model an exported graph runs: BatchNorm folded, optionally bfloat16.

  float32         the Keras model's numerics (logits within 1e-5 relative
                  of the unfolded model once BatchNorm is folded);
  mixed_bfloat16  the same model rebuilt under Keras' `mixed_bfloat16`
                  policy (bf16 activations and matmuls, float32 weights,
                  normalisation and logits): for CPUs with AVX512-BF16 /
                  AMX; on others TF emulates bf16 and it is slower. Labels
                  agree with float32 on >= 99% of real-image pixels (checked
                  in the export report).
"""

import keras

from deeplab_tf.config import ModelOptions
from deeplab_tf.export.fold_batch_norm import fold_batch_norm
from deeplab_tf.model import build_model, transfer_weights

PRECISIONS = ("float32", "mixed_bfloat16")


def serving_model(opts: ModelOptions, native_model: keras.Model, *,
                  fold: bool = True,
                  precision: str = "float32") -> keras.Model:
  """The native-stride model to export.

  Args:
    opts: the model's options (to rebuild it under another precision).
    native_model: the restored model, `upsample_logits=False`.
    fold: fold BatchNorm into the preceding convolutions.
    precision: one of PRECISIONS.
  Returns:
    `native_model` itself when nothing changes, else a new model.
  """
  if precision not in PRECISIONS:
    raise ValueError("precision %r: choose one of %s"
                     % (precision, ", ".join(PRECISIONS)))
  model = native_model
  if precision != "float32":
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
      model = build_model(opts, upsample_logits=False)
    finally:
      keras.config.set_dtype_policy(previous)
    transfer_weights(native_model, model)
  return fold_batch_norm(model) if fold else model
