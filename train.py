"""Trains DeepLabv3+ (flags -> one RunConfig -> deeplab_tf.training).

Flag names are the authors' (research/deeplab/train.py), so their command
lines carry over. With no flags at all it writes the synthetic dataset to
runs/synthetic_data (first time only) and trains a small MobileNetV2
DeepLabv3+ on the CPU for a few minutes into runs/default; then
`python eval.py` evaluates it.

  python train.py --dataset=pascal_voc_seg --dataset_dir=/data/voc_tfrecord \
    --model_variant=xception_65 --atrous_rates=6 --atrous_rates=12 \
    --atrous_rates=18 --output_stride=16 --decoder_output_stride=4 \
    --train_crop_size=513,513 --train_batch_size=16 \
    --tf_initial_checkpoint=/ckpt/model.ckpt --train_logdir=runs/voc \
    --strategy=mirrored
"""

import logging

from absl import app
from absl import flags

from deeplab_tf import cli
from deeplab_tf import cli_flags
from deeplab_tf.training.config import (LEARNING_POLICIES, MIXED_PRECISION,
                                        STRATEGIES)

FLAGS = flags.FLAGS
_P = "(default: the paper's, or the embedded run's for --dataset=synthetic)"

# Model (ModelOptions) and data: the flags every CLI shares (cli_flags).
cli_flags.define(*cli_flags.MODEL_FLAGS)
cli_flags.define(*cli_flags.DATASET_FLAGS)
# TensorFlow Datasets (--dataset=tfds:<name>[/<config>][:<version>]).
cli_flags.define(*cli_flags.TFDS_FLAGS)
flags.DEFINE_string("train_split", "train", "Split to train on.")
flags.DEFINE_list("train_crop_size", None, "Crop 'height,width' " + _P)
flags.DEFINE_integer("train_batch_size", None, "Global batch " + _P)
flags.DEFINE_float("min_scale_factor", None, "Min random scale " + _P)
flags.DEFINE_float("max_scale_factor", None, "Max random scale " + _P)
flags.DEFINE_float("scale_factor_step_size", 0.25, "Random scale step.")
flags.DEFINE_integer("min_resize_value", None, "Resize short side first.")
flags.DEFINE_integer("max_resize_value", None, "Cap on the long side.")
# Optimisation.
flags.DEFINE_float("base_learning_rate", None, "Base LR " + _P)
flags.DEFINE_enum("learning_policy", "poly", list(LEARNING_POLICIES),
                  "Learning-rate policy.")
flags.DEFINE_float("learning_power", 0.9, "Poly power.")
flags.DEFINE_float("end_learning_rate", 0.0, "Poly end learning rate.")
flags.DEFINE_integer("learning_rate_decay_step", 2000, "Step policy period.")
flags.DEFINE_float("learning_rate_decay_factor", 0.1, "Step policy factor.")
flags.DEFINE_integer("training_number_of_steps", None, "Steps " + _P)
flags.DEFINE_float("momentum", 0.9, "Momentum.")
flags.DEFINE_float("weight_decay", None, "L2 on conv kernels " + _P)
flags.DEFINE_integer("slow_start_step", 0, "Steps at the slow-start LR.")
flags.DEFINE_float("slow_start_learning_rate", 1e-4, "Slow-start LR.")
flags.DEFINE_enum("slow_start_burnin_type", "none", ["none", "linear"],
                  "Slow-start ramp.")
flags.DEFINE_boolean("fine_tune_batch_norm", None,
                     "Train BN statistics (needs a large batch); false "
                     "freezes them, the choice for small batches.")
flags.DEFINE_float("batch_norm_decay", None,
                   "BN moving-average decay for this run (default: the "
                   "reference's per layer; 0.99 for the embedded run).")
flags.DEFINE_boolean("upsample_logits", True,
                     "Upsample logits to the labels (else downsample labels).")
flags.DEFINE_float("top_k_percent_pixels", 1.0, "Hard-pixel fraction.")
flags.DEFINE_integer("hard_example_mining_step", 0, "Top-k ramp steps.")
flags.DEFINE_multi_float("label_weights", None,
                         "Per-class loss weights, one per class, repeated.")
# Initialisation and output.
cli_flags.define("tf_initial_checkpoint")  # unset model flags: the zoo's
flags.DEFINE_boolean("initialize_last_layer", True,
                     "Also restore the last layers.")
flags.DEFINE_boolean("last_layers_contain_logits_only", False,
                     "Last layers = logits only (else the whole head).")
flags.DEFINE_string("train_logdir", None, "Checkpoints, config and "
                    "summaries (default runs/default).")
flags.DEFINE_float("save_interval_secs", None, "Checkpoint period " + _P)
flags.DEFINE_float("save_summaries_secs", None, "Image summary period.")
flags.DEFINE_integer("log_steps", None, "Console/scalar period in steps.")
flags.DEFINE_integer("max_to_keep", 5, "Checkpoints kept.")
flags.DEFINE_integer("seed", None, "Seed for initialisation, data order and "
                     "augmentation (default: 0 for the embedded run, else "
                     "unseeded). Same seed, same CPU machine: the same run.")
# Distribution.
flags.DEFINE_enum("strategy", "one_device", list(STRATEGIES),
                  "tf.distribute strategy (multi_worker reads TF_CONFIG).")
flags.DEFINE_string("tpu", None, "TPU name or grpc:// address.")
flags.DEFINE_enum("mixed_precision", "none", list(MIXED_PRECISION),
                  "Mixed precision (auto: float16 on GPUs, else bfloat16).")
flags.DEFINE_integer("num_cpu_devices", None,
                     "Split the CPU into this many logical devices (for "
                     "--strategy=mirrored without GPUs).")


def config_from_flags():
  """Flags -> a validated RunConfig (model, data and train sections)."""
  from deeplab_tf.training import resolve
  values = {name: FLAGS[name].value for name in resolve.TRAIN_FLAG_NAMES
            if name in FLAGS}
  from deeplab_tf.zoo.flags import train_values, zoo_name
  init = values.get("tf_initial_checkpoint")
  if zoo_name(init):  # a model-zoo name
    values = train_values(values, [n for n in values if FLAGS[n].present])
  elif init and _is_tf1_checkpoint(init):
    # What the TF1 checkpoint records is read from it, as in every tool.
    from deeplab_tf.tf1_inspect import train_flag_values
    values = train_flag_values(init, values, restore_head=(
        FLAGS.initialize_last_layer or FLAGS.last_layers_contain_logits_only))
  return resolve.run_config_from_values(values)


def _is_tf1_checkpoint(checkpoint):
  """A readable TF1 checkpoint (anything else: the loader names the problem
  when training starts)."""
  import tensorflow as tf
  from deeplab_tf.checkpoint_files import is_tf1_checkpoint
  try:
    return is_tf1_checkpoint(checkpoint)
  except (OSError, ValueError, tf.errors.OpError):
    return False


def main(argv):
  if len(argv) > 1:
    raise app.UsageError("unexpected arguments: %s" % " ".join(argv[1:]))
  import tensorflow as tf
  if FLAGS.num_cpu_devices:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * FLAGS.num_cpu_devices)
  from deeplab_tf.training import loop
  # A bad flag, path or input: one line, no traceback (cli.run).
  result = loop.train(config_from_flags())
  if result.already_complete:
    return  # the loop said so, with the step and the checkpoint
  logging.info("done: step %d, loss %.4f, %.2f steps/s, %.1f images/s, "
               "checkpoint %s", result.step, result.loss, result.steps_per_sec,
               result.images_per_sec, result.checkpoint)


if __name__ == "__main__":
  cli.run(main)
